"""The report's sections, one per metric: which metrics (--metric; by default all, score first), each
one's tables (evalsweep.report.compare) and, with --group-by, its tables per value of a metadata field
(evalsweep.report.groups).

Every check of the options against the data happens here, before any table: a --metric, a
--group-by or a per-metric difference the jobs cannot answer is one ReportError line, and nothing is
written. The baseline is resolved once, for every section.
"""

from __future__ import annotations

from evalsweep.report.baseline import resolve as resolve_baseline
from evalsweep.report.compare import Comparison, compare_metric
from evalsweep.report.groups import Grouping, add_groups
from evalsweep.report.load import LoadedRuns
from evalsweep.report.metrics import METADATA_PREFIX, all_metrics, group_column, metric_frame, select_metrics
from evalsweep.report.options import ReportOptions
from evalsweep.report.stats.base import ALPHA


def grouping_of(loaded: LoadedRuns, options: ReportOptions, where: str) -> Grouping | None:
    if options.group_by is None:
        return None
    column = group_column(loaded.df, options.group_by, where)
    return Grouping(column[len(METADATA_PREFIX):], column)


def compare_metrics(loaded: LoadedRuns, options: ReportOptions, alpha: float = ALPHA) -> dict[str, Comparison]:
    """One Comparison per metric section, in the report's order (the first is the headline)."""
    where = ", ".join(map(str, loaded.roots))
    metrics = select_metrics(loaded.df, options.metrics, where)
    options.check_metrics(all_metrics(loaded.df), where)
    grouping = grouping_of(loaded, options, where)
    base = None if options.all_pairs else resolve_baseline(loaded, options.baseline)
    out: dict[str, Comparison] = {}
    for metric in metrics:
        comp = compare_metric(loaded, metric, base, options, alpha)
        if grouping is not None:
            add_groups(comp, metric_frame(loaded.df, metric), grouping)
        out[metric.name] = comp
    return out
