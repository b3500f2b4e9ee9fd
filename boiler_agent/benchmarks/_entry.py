"""What every benchmark module shares: its command-line entry and its plain metrics table."""

from __future__ import annotations

import argparse
import json
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


def emit(title: str, result: Mapping[str, Any], as_json: bool) -> None:
    """The benchmark's result: one JSON line (`--json`) or the metrics table."""
    if as_json:
        print(json.dumps(result), flush=True)
    else:
        print_metrics(title, result)


def print_metrics(title: str, result: Mapping[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, str(value))
    Console().print(table)


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1, with the value named when it is not."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number above 0, with the value named when it is not."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value
