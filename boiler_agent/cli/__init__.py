"""The `boiler-agent` command line: one entry point, one small module per command group."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from rich.logging import RichHandler

from boiler_agent import __version__
from boiler_agent.terminal import console

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# Each command's module, in the order `--help` lists them. Only the module of the command given
# is imported: `boiler-agent status` need not load the benchmarks, the kernels and the
# simulator. With no known command (`--help`, a typo), all of them, for the full list.
COMMAND_MODULES = {
    "run": "run_cmd",
    "simulate": "simulate",
    "serial": "serial_cmd",
    "job": "job",
    "warm-cache": "job",
    "bench": "bench",
    "schema": "schema_cmd",
    "config": "config_cmd",
    "status": "status_cmd",
    "safety": "safety_cmd",
    "fleet": "fleet_cmd",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of `argv`'s command (every command's when `argv` names none)."""
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
    given = next((a for a in (argv or []) if not a.startswith("-")), None)
    wanted = [COMMAND_MODULES[given]] if given in COMMAND_MODULES else COMMAND_MODULES.values()
    for name in dict.fromkeys(wanted):
        importlib.import_module(f"{__name__}.{name}").add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(arguments)
    args = parser.parse_args(arguments)
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
