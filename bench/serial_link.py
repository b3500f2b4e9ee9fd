"""Serial link benchmark from a checkout: `python bench/serial_link.py [--json]`."""

import sys

from _checkout import run_benchmark

if __name__ == "__main__":
    sys.exit(run_benchmark("serial_link"))
