"""`python scripts/report.py <multirun dir> [more dirs] [--out DIR] [--correction holm|fdr_bh]
[--mde-delta 0.05] [--baseline VARIANT | --all-pairs] [--equivalence-margin D]`: one line per problem, non-zero exit on a ReportError."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from evalsweep.report.build import CORRECTIONS, write_report
from evalsweep.report.errors import ReportError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="report.py",
        description="Tables, plots and paired tests for evalsweep job dirs and multirun dirs.",
    )
    p.add_argument("dirs", nargs="+", type=Path, help="multirun dirs (multirun/<date>/<time>) or job dirs")
    p.add_argument("--out", type=Path, default=None, help="output dir (default: the first dir given)")
    p.add_argument("--correction", choices=CORRECTIONS, default="holm",
                   help="multiple-comparison adjustment across pairs (default: holm)")
    p.add_argument("--mde-delta", type=float, default=0.05,
                   help="difference to size the sample for (items needed, power); default 0.05")
    p.add_argument("--score-column", default=None, metavar="COLUMN",
                   help="score by another column, e.g. classify.score (scripts/classify.py), judge.score "
                        "or parsed.<field>; default: the jobs' own score")
    p.add_argument("--baseline", default=None, metavar="VARIANT",
                   help="compare each variant with this one (k-1 contrasts), e.g. 'model=sim_weak prompt=direct' "
                        "or a variant label; default: the jobs' spec.baseline, else every pair")
    p.add_argument("--all-pairs", action="store_true",
                   help="compare every pair of variants even when a baseline is named")
    p.add_argument("--equivalence-margin", type=float, default=None, metavar="D",
                   help="also test each contrast for equivalence within +-D (TOST), e.g. 0.05")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    try:
        result = write_report(args.dirs, args.out, correction=args.correction, mde_delta=args.mde_delta,
                              score_column=args.score_column, baseline=args.baseline,
                              all_pairs=args.all_pairs, equivalence_margin=args.equivalence_margin)
    except ReportError as e:
        print(f"report: error: {e}", file=sys.stderr)
        return e.exit_code
    comp = result.comparison
    print(f"report: {len(comp.variants)} variant(s), {len(result.loaded.jobs)} job(s) -> {result.markdown}")
    print(f"report: {result.html}")
    for r in comp.variants.head(10).itertuples(index=False):
        print(f"  {r.rank}. {r.variant}: {r.mean:.3f} (SE {r.se:.3f}, n={r.n_items})")
    return 0
