"""Which metrics the tidy frame carries, on what scale, and the metadata fields it can be grouped by.

Columns (one row per sample x job, evalsweep.report.load):
- `score`: the row's primary metric, as it always was; the metric named `score`.
- `scores.<name>`: one column per name in a row's `scores: {name: number}` (the row's field and key,
  like parsed.<field> and judge.<key>); NaN where a row has no such value (null, absent, an old row).
- `metadata.<field>`: one column per field of a row's `metadata` (lists and dicts as compact JSON).

A metric is bounded when every value it has lies in [0, 1]: only then are its intervals Wilson's, its
paired deltas clipped to [-1, 1] and a difference of 0.05 five points. Any other metric (a length, a
count) gets t intervals in its own units, unclipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from evalsweep.report.errors import ReportError

PRIMARY = "score"
SCORES_PREFIX = "scores."
METADATA_PREFIX = "metadata."


@dataclass(frozen=True)
class Metric:
    name: str  # "score", or a name from the rows' scores
    column: str  # its column in the tidy frame: score or scores.<name>
    bounded: bool  # every value in [0, 1] (true too when it has no values)
    binary: bool  # every value 0 or 1 (and at least one value)
    low: float = math.nan  # the smallest and largest value seen
    high: float = math.nan
    same_as: tuple[str, ...] = ()  # other metrics with this one's value on every row (no section of their own)

    @property
    def primary(self) -> bool:
        """The row's own score: higher is better, so an errored row can be counted as its worst value."""
        return self.name == PRIMARY

    @property
    def scale(self) -> str:
        """How the report states the metric's range: '0/1', 'in [0, 1]', 'from 3 to 212'."""
        if self.binary:
            return "0/1"
        if math.isnan(self.low):
            return "no values"
        return "in [0, 1]" if self.bounded else f"from {self.low:g} to {self.high:g}, not in [0, 1]"


def metric_column(name: str) -> str:
    return PRIMARY if name == PRIMARY else f"{SCORES_PREFIX}{name}"


def metric_names(df: pd.DataFrame) -> list[str]:
    """score first, then every name the rows' scores have, in the order the rows first give them."""
    names = [c[len(SCORES_PREFIX):] for c in df.columns if c.startswith(SCORES_PREFIX)]
    return [PRIMARY] + [n for n in names if n != PRIMARY]


def metadata_fields(df: pd.DataFrame) -> list[str]:
    return [c[len(METADATA_PREFIX):] for c in df.columns if c.startswith(METADATA_PREFIX)]


def values(df: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(df[column], errors="coerce").astype(float)


def describe(df: pd.DataFrame, name: str) -> Metric:
    column = metric_column(name)
    seen = values(df, column).dropna()
    if seen.empty:
        return Metric(name, column, bounded=True, binary=False)
    bounded = bool(((seen >= 0) & (seen <= 1)).all())
    binary = bool(seen.isin((0.0, 1.0)).all())
    return Metric(name, column, bounded, binary, float(seen.min()), float(seen.max()))


def _same_values(a: pd.Series, b: pd.Series) -> bool:
    both_missing = a.isna() & b.isna()
    return bool((both_missing | (a == b)).all())


def all_metrics(df: pd.DataFrame) -> list[Metric]:
    return [describe(df, n) for n in metric_names(df)]


def select_metrics(df: pd.DataFrame, requested: tuple[str, ...], where: str) -> list[Metric]:
    """The metrics to report, each once, in the order asked; by default all of them, score first.

    By default a metric whose values are the score's on every row (a scorer's own name for its
    primary metric) gets no section of its own: the score's section says so. Named, it gets one."""
    available = metric_names(df)
    unknown = [n for n in requested if n not in available]
    if unknown:
        raise ReportError(
            f"no metric {unknown[0]!r} in the results", where,
            f"choose one of: {', '.join(available)} (--metric NAME, repeatable; a metric is a row's score or a "
            f"name in its scores)")
    if requested:
        return [describe(df, n) for n in dict.fromkeys(requested)]
    score = values(df, PRIMARY)
    twins = tuple(n for n in available[1:] if _same_values(values(df, metric_column(n)), score))
    out = [describe(df, n) for n in available if n not in twins]
    first = out[0]
    out[0] = Metric(first.name, first.column, first.bounded, first.binary, first.low, first.high, twins)
    return out


def group_column(df: pd.DataFrame, field: str, where: str) -> str:
    """The column of the metadata field to group by: 'category' or 'metadata.category'."""
    fields = metadata_fields(df)
    bare = field[len(METADATA_PREFIX):] if field.startswith(METADATA_PREFIX) else field
    if bare in fields:
        return METADATA_PREFIX + bare
    if not fields:
        raise ReportError(f"cannot group by {field!r}: the rows carry no metadata", where,
                          "--group-by needs a dataset whose samples have metadata fields (each row's metadata)")
    raise ReportError(f"no metadata field {field!r} in the results", where,
                      f"group by one of: {', '.join(fields)} (--group-by FIELD, a field of each row's metadata)")


def metric_frame(df: pd.DataFrame, metric: Metric) -> pd.DataFrame:
    """The frame with the metric's values in the score column, which every table reads."""
    if metric.column == PRIMARY:
        return df
    return df.assign(score=values(df, metric.column))
