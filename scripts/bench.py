"""Benchmark suite: uncached throughput, cached re-run, per-job fixed cost, memory; each figure a
ratio against a baseline from the same run (docs/benchmarks.md).

    make bench                      # full sizes, ~7 min; updates docs/benchmarks.{json,md}
    make bench ARGS=--quick         # a smaller run, ~1 min
    python scripts/bench.py --only throughput cached
"""

import sys

from benchlib.cli import main

if __name__ == "__main__":
    sys.exit(main())
