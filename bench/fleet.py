"""Fleet benchmark from a checkout: `python bench/fleet.py [--json]`."""

import sys

from _checkout import run_benchmark

if __name__ == "__main__":
    sys.exit(run_benchmark("fleet"))
