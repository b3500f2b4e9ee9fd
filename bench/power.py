"""Power tracking benchmark from a checkout: `python bench/power.py [--json]`."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    if str(ROOT) not in sys.path:  # run as a script: make the checkout importable
        sys.path.insert(0, str(ROOT))
    from boiler_agent.benchmarks import power

    return power.main()


if __name__ == "__main__":
    sys.exit(main())
