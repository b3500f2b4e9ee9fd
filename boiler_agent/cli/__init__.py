"""The `boiler-agent` command line: one entry point, one small module per command group."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from rich.logging import RichHandler

from boiler_agent import __version__
from boiler_agent.cli import (
    bench,
    config_cmd,
    fleet_cmd,
    job,
    run_cmd,
    safety_cmd,
    schema_cmd,
    serial_cmd,
    simulate,
    status_cmd,
)
from boiler_agent.terminal import console

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="boiler-agent",
        description=(
            "Node agent of a digital heater: reads the thermostat and sensors from the heater's "
            "microcontroller over a serial line and makes heat by running computation."
        ),
        epilog="Run 'boiler-agent COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run_cmd.add_parser(commands)
    simulate.add_parser(commands)
    serial_cmd.add_parser(commands)
    job.add_parser(commands)
    bench.add_parser(commands)
    schema_cmd.add_parser(commands)
    config_cmd.add_parser(commands)
    status_cmd.add_parser(commands)
    safety_cmd.add_parser(commands)
    fleet_cmd.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    if sys.stderr.isatty():
        # Rich draws log lines above a live table instead of through it.
        handler: logging.Handler = RichHandler(
            console=console, show_path=False, log_time_format="%H:%M:%S"
        )
        logging.basicConfig(level=level, format="%(name)s: %(message)s", handlers=[handler])
    else:
        logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
    try:
        result: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    return result
