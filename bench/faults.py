"""The fault campaign from a checkout: `python bench/faults.py --seed N [--faults K] --json`."""

import sys

from _checkout import run_benchmark

if __name__ == "__main__":
    sys.exit(run_benchmark("faults"))
