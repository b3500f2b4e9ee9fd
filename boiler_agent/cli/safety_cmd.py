"""`boiler-agent safety reset`: clear latched safety trips, through the control socket."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from boiler_agent.control.safety import LATCHED
from boiler_agent.runtime.control_socket import (
    DEFAULT_CONTROL_SOCKET_PATH,
    ControlUnavailableError,
    send_control_request,
)

EXIT_REFUSED = 1
EXIT_NOT_RUNNING = 3  # as `boiler-agent status`: no agent answered
LATCHED_NAMES = sorted(kind.value for kind in LATCHED)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "safety",
        help="clear latched safety trips (root or the agent's group)",
        description=(
            "Latched safety trips (frozen_sensor, runaway, mcu_fault, trip_record) stop the "
            "heat until an operator resets them: a reconnect, an MCU reboot or an agent restart "
            "does not. `safety reset` asks the running agent, on its control socket, to clear "
            "them; the reset is recorded as an event with your user name and reason. Over "
            "temperature and stale or invalid readings clear by themselves when the condition "
            "does. See docs/safety.md."
        ),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    reset = actions.add_parser(
        "reset",
        help="clear latched trips",
        description="Clear latched safety trips of the running agent, with a reason.",
    )
    reset.add_argument(
        "--reason", required=True, help="why it is safe to heat again (recorded with your name)"
    )
    reset.add_argument(
        "--kind",
        action="append",
        choices=LATCHED_NAMES,
        help="clear only this trip (repeatable; default: every latched trip)",
    )
    reset.add_argument(
        "--socket",
        type=Path,
        default=DEFAULT_CONTROL_SOCKET_PATH,
        metavar="PATH",
        help="the agent's control socket (default %(default)s; status.control_socket)",
    )
    reset.add_argument("--json", action="store_true", help="the agent's answer as one JSON line")
    reset.set_defaults(handler=_reset)


def _reset(args: argparse.Namespace) -> int:
    request = {"action": "safety_reset", "reason": args.reason, "kinds": args.kind}
    try:
        answer = send_control_request(args.socket, request)
    except ControlUnavailableError as error:
        print(f"boiler-agent safety reset: no running agent: {error}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    if args.json:
        print(json.dumps(answer))
    if not answer.get("ok"):
        print(f"boiler-agent safety reset: refused: {answer.get('error')}", file=sys.stderr)
        return EXIT_REFUSED
    if not args.json:
        cleared = answer.get("cleared") or []
        print(f"cleared: {', '.join(cleared) if cleared else 'nothing was latched'}")
        remaining = answer.get("trips") or []
        if remaining:
            print(f"still active (they clear by themselves): {', '.join(remaining)}")
    return 0
