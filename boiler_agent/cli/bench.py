"""`boiler-agent bench ...`: the reproducible benchmarks of bench/, from the installed package."""

from __future__ import annotations

import argparse
from typing import Any

from boiler_agent.benchmarks import (
    control,
    faults,
    fleet,
    kernels,
    overhead,
    power,
    preempt,
    serial_link,
    telemetry,
)

# name -> (module with DESCRIPTION/__doc__, add_arguments and report; one-line help)
BENCHMARKS = {
    "serial": (serial_link, "frame decoding rate against a plain read of the same bytes"),
    "kernels": (kernels, "every kernel against NumPy and plain Python, and against BLAS dgemm"),
    "preempt": (preempt, "stop, pause and start latency of workers, and determinism"),
    "control": (control, "the controllers side by side in a simulated closed loop"),
    "power": (power, "real workers tracking a stepped watt target, against lock-step duty"),
    "telemetry": (telemetry, "outbox publish rate against raw paho; a day's backlog replayed"),
    "overhead": (overhead, "the supervisor's own CPU and memory, idle and controlling"),
    "faults": (faults, "the whole agent under a seed's faults, checked by its invariants"),
    "fleet": (fleet, "a fleet of agents: jobs that stay where taken against jobs that follow heat"),
}


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "bench",
        help="run a benchmark (a table, or one JSON line with --json)",
        description="Run a benchmark. Each prints a table and, with --json, one JSON line.",
    )
    which = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, (module, summary) in BENCHMARKS.items():
        bench = which.add_parser(
            name,
            help=summary,
            description=getattr(module, "DESCRIPTION", module.__doc__),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(bench)
        bench.set_defaults(handler=module.report)
