"""What every benchmark module shares: its command-line entry and its plain metrics table."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def run_main(
    description: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    report: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None,
) -> int:
    """Parse the benchmark's own options and run it (what `bench/*.py` and `main()` do)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    return report(parser.parse_args(argv))


def print_metrics(title: str, result: Mapping[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, str(value))
    Console().print(table)
