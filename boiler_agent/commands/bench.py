"""`boiler-agent bench ...`: the reproducible benchmarks of bench/, from the installed package."""

from __future__ import annotations

import argparse
from typing import Any

from boiler_agent.benchmarks import kernels, preempt, serial_link


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "bench",
        help="run a benchmark (a table, or one JSON line with --json)",
        description="Run a benchmark. Each prints a table and, with --json, one JSON line.",
    )
    which = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    serial = which.add_parser(
        "serial",
        help="frame decoding rate against a plain read of the same bytes",
        description=serial_link.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serial_link.add_arguments(serial)
    serial.set_defaults(handler=serial_link.report)
    preemption = which.add_parser(
        "preempt",
        help="stop, pause and start latency of workers, and determinism",
        description=preempt.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    preempt.add_arguments(preemption)
    preemption.set_defaults(handler=preempt.report)
    kernel_bench = which.add_parser(
        "kernels",
        help="every kernel against NumPy and plain Python, and against BLAS dgemm",
        description=kernels.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kernels.add_arguments(kernel_bench)
    kernel_bench.set_defaults(handler=kernels.report)
