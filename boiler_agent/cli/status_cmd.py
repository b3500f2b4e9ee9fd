"""`boiler-agent status`: the running agent's state, from its socket or else its state file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from boiler_agent.paths import default_state_dir
from boiler_agent.runtime.status import (
    DEFAULT_SOCKET_PATH,
    STATUS_FILE_NAME,
    AgentStatus,
    StatusError,
    StatusFile,
    StatusUnavailableError,
    age_s,
    fetch_status,
    format_age,
    render_status,
)

# As `systemctl status` for a unit that is not running (LSB: "program is not running"), so
# scripts can tell "no agent" from "the agent answered with something wrong" (1).
EXIT_NOT_RUNNING = 3
EXIT_BAD_STATUS = 1


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "status",
        help="show the running agent's state",
        description=(
            "Ask the running agent for its state (temperatures, setpoint, heat demand, power, "
            "workers, jobs, link and broker health, safety trips) on its status socket; when "
            "that does not answer, show the last state it wrote to its state file, with its "
            "age. Exit 3 when neither is there, like `systemctl status` for a stopped unit."
        ),
    )
    parser.add_argument(
        "--socket",
        type=Path,
        default=DEFAULT_SOCKET_PATH,
        metavar="PATH",
        help="the agent's status socket (default %(default)s)",
    )
    parser.add_argument(
        "--state-file",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"the agent's state file (default $BOILER_AGENT_STATE_DIR/{STATUS_FILE_NAME})",
    )
    parser.add_argument("--json", action="store_true", help="the status as one JSON line")
    parser.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    state_file: Path = args.state_file or default_state_dir() / STATUS_FILE_NAME
    try:
        status = fetch_status(args.socket)
    except StatusUnavailableError as unanswered:
        try:
            status = StatusFile(state_file).read()
        except StatusError as missing:
            print(f"no running agent: {unanswered} and {missing}", file=sys.stderr)
            return EXIT_NOT_RUNNING
        # On stderr, so that --json output stays one JSON line for scripts.
        print(
            f"{unanswered}; showing {state_file}, written {format_age(age_s(status))} ago "
            "(stale if the agent has stopped)",
            file=sys.stderr,
        )
    except StatusError as exc:
        # Something answered, but not with a status: an agent of another version, or a bug.
        print(f"boiler-agent status: {exc}", file=sys.stderr)
        return EXIT_BAD_STATUS
    _show(status, as_json=args.json)
    return 0


def _show(status: AgentStatus, *, as_json: bool) -> None:
    if as_json:
        print(status.model_dump_json())
        return
    # A console of its own on stdout (the shared one is stderr, for logs and live tables).
    Console().print(render_status(status))
