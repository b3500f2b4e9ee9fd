"""Run a benchmark of boiler_agent.benchmarks from a checkout, installed or not."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(name: str) -> int:
    if str(ROOT) not in sys.path:  # run as a script: make the checkout importable
        sys.path.insert(0, str(ROOT))
    module = importlib.import_module(f"boiler_agent.benchmarks.{name}")
    result: int = module.main()
    return result
