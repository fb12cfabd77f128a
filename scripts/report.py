"""Report for a sweep: python scripts/report.py multirun/<date>/<time> [more dirs] [--out DIR]
[--correction holm|fdr_bh] [--mde-delta [METRIC=]0.05] [--baseline VARIANT | --all-pairs]
[--equivalence-margin [METRIC=]D] [--metric NAME ...] [--group-by FIELD]. All logic lives in
evalsweep.report."""

import sys

from evalsweep.report.cli import main

if __name__ == "__main__":
    sys.exit(main())
