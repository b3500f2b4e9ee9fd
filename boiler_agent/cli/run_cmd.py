"""`boiler-agent run`: the daemon, as systemd starts it."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from boiler_agent.config import DEFAULT_CONFIG_PATH, ConfigError, load_config
from boiler_agent.daemon.lock import AgentStartError
from boiler_agent.daemon.supervisor import Supervisor
from boiler_agent.runtime.sd_notify import Notifier


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="run the agent (what the systemd unit starts)",
        description=(
            "Run the heater agent: read the heater's microcontroller over the serial port, "
            "control the heat with compute workers, publish telemetry over MQTT. Stops cleanly "
            "on SIGTERM (workers checkpointed, outbox flushed). SIGHUP applies log.level, "
            "mqtt.telemetry_period_s and the setpoint range live, and names the changed keys "
            "that need a restart."
        ),
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"TOML config file (default {DEFAULT_CONFIG_PATH} if it exists, else defaults); "
        "every key can be overridden by BOILER_AGENT_<SECTION>__<KEY>",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as error:
        for line in error.lines():
            print(line, file=sys.stderr)
        return 2
    if not args.verbose:
        logging.getLogger().setLevel(config.log.level.upper())
    agent = Supervisor(config, notifier=Notifier.from_env(), config_path=args.config)

    def stop(signum: int, frame: FrameType | None) -> None:
        agent.request_stop(signal.Signals(signum).name)

    def reload(signum: int, frame: FrameType | None) -> None:
        agent.request_reload()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
    try:
        agent.start()
    except AgentStartError as error:
        print(f"boiler-agent run: {error}", file=sys.stderr)
        return 1
    return agent.run()
