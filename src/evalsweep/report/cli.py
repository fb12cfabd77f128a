"""`python scripts/report.py <multirun dir> [more dirs] [--out DIR] [--correction holm|fdr_bh]
[--mde-delta [METRIC=]D] [--baseline VARIANT | --all-pairs] [--equivalence-margin [METRIC=]D]
[--metric NAME ...] [--group-by FIELD]`: one line per problem, non-zero exit on a ReportError."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from evalsweep.report.build import write_report
from evalsweep.report.errors import ReportError
from evalsweep.report.metrics import PRIMARY
from evalsweep.report.options import CORRECTIONS, ReportOptions


def _difference(text: str) -> tuple[str | None, float]:
    """'0.05' (points of a metric in [0, 1]) or 'length=20' (in that metric's units)."""
    name, sep, value = text.rpartition("=")
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not D or METRIC=D (e.g. 0.05 or length=20)") from None
    if sep and not name:
        raise argparse.ArgumentTypeError(f"{text!r} names no metric before '='")
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return (name if sep else None), number


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="report.py",
        description="Tables, plots and paired tests for evalsweep job dirs and multirun dirs.",
    )
    p.add_argument("dirs", nargs="+", type=Path, help="multirun dirs (multirun/<date>/<time>) or job dirs")
    p.add_argument("--out", type=Path, default=None, help="output dir (default: the first dir given)")
    p.add_argument("--correction", choices=CORRECTIONS, default="holm",
                   help="multiple-comparison adjustment across pairs (default: holm)")
    p.add_argument("--mde-delta", type=_difference, action="append", default=[], metavar="[METRIC=]D",
                   help="difference to size the sample for (items needed, power); D alone is in points of the "
                        "metrics in [0, 1] (default 0.05); METRIC=D sets one metric's, in its units, e.g. length=20")
    p.add_argument("--score-column", default=None, metavar="COLUMN",
                   help="score by another column, e.g. classify.score (scripts/classify.py), judge.score "
                        "or parsed.<field>; default: the jobs' own score")
    p.add_argument("--baseline", default=None, metavar="VARIANT",
                   help="compare each variant with this one (k-1 contrasts), e.g. 'model=sim_weak prompt=direct' "
                        "or a variant label; default: the jobs' spec.baseline, else every pair")
    p.add_argument("--all-pairs", action="store_true",
                   help="compare every pair of variants even when a baseline is named")
    p.add_argument("--equivalence-margin", type=_difference, action="append", default=[], metavar="[METRIC=]D",
                   help="also test each contrast for equivalence within +-D (TOST), e.g. 0.05 for the metrics in "
                        "[0, 1]; METRIC=D for one metric, in its units")
    p.add_argument("--metric", action="append", default=[], metavar="NAME",
                   help="report this metric (repeatable, in this order): score or a name in the rows' scores; "
                        "default: every metric the jobs have, score first")
    p.add_argument("--group-by", default=None, metavar="FIELD",
                   help="also give each variant's mean and the contrasts per value of this metadata field")
    return p


def options(args: argparse.Namespace) -> ReportOptions:
    deltas = {name: d for name, d in args.mde_delta if name is not None}
    margins = {name: d for name, d in args.equivalence_margin if name is not None}
    bare_delta = [d for name, d in args.mde_delta if name is None]
    bare_margin = [d for name, d in args.equivalence_margin if name is None]
    return ReportOptions(correction=args.correction, mde_delta=bare_delta[-1] if bare_delta else 0.05,
                         score_column=args.score_column, baseline=args.baseline, all_pairs=args.all_pairs,
                         equivalence_margin=bare_margin[-1] if bare_margin else None, metrics=tuple(args.metric),
                         group_by=args.group_by, mde_delta_by_metric=deltas, margin_by_metric=margins)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    try:
        result = write_report(args.dirs, args.out, options(args))
    except ReportError as e:
        print(f"report: error: {e}", file=sys.stderr)
        return e.exit_code
    comp = result.comparison
    print(f"report: {len(comp.variants)} variant(s), {len(result.loaded.jobs)} job(s) -> {result.markdown}")
    print(f"report: {result.html}")
    for name, c in result.comparisons.items():
        if list(result.comparisons) != [PRIMARY]:
            print(f"report: metric {name}")
        for r in c.variants.head(10).itertuples(index=False):
            print(f"  {r.rank}. {r.variant}: {r.mean:.3f} (SE {r.se:.3f}, n={r.n_items})")
    return 0
