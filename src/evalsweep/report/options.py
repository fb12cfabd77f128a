"""What a report is asked for (ReportOptions): the correction, the differences to size for and to call
equivalent, the baseline, the metrics and the metadata field to group by; and the checks of them, each
failing with one ReportError line before anything is written.

A difference given as a bare number (--mde-delta 0.05, --equivalence-margin 0.05) is in points of a
metric in [0, 1], and holds only for such metrics. A metric on another scale has a difference only when
one is given for it by name, in its own units (--mde-delta length=20).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from evalsweep.report.errors import ReportError
from evalsweep.report.metrics import Metric

CORRECTIONS = ("holm", "fdr_bh", "bonferroni")


@dataclass
class ReportOptions:
    correction: str = "holm"
    mde_delta: float = 0.05  # the difference to size for, for metrics in [0, 1]
    score_column: str | None = None  # score by this column instead of the jobs' scorer
    baseline: str | None = None  # else the jobs' spec.baseline, else every pair
    all_pairs: bool = False  # every pair even with a baseline
    equivalence_margin: float | None = None  # TOST within +-D, for metrics in [0, 1]
    metrics: tuple[str, ...] = ()  # the metrics to report, in order; () = every metric, score first
    group_by: str | None = None  # a metadata field: variant tables and contrasts per value of it
    mde_delta_by_metric: Mapping[str, float] = field(default_factory=dict)  # in each metric's units
    margin_by_metric: Mapping[str, float] = field(default_factory=dict)  # in each metric's units

    @classmethod
    def of(cls, options: ReportOptions | None, changes: Mapping[str, Any]) -> ReportOptions:
        """options (default: the defaults) with changes applied (a TypeError names an unknown one), checked."""
        out = dataclasses.replace(options or cls(), **changes)
        out.metrics = tuple(out.metrics)
        out.check()
        return out

    def check(self) -> None:
        """What can be checked before reading any job dir."""
        if self.correction not in CORRECTIONS:
            raise ReportError(f"unknown correction {self.correction!r}", None, f"use one of {', '.join(CORRECTIONS)}")
        if not (_number(self.mde_delta) and 0 < self.mde_delta <= 1):
            raise ReportError(f"mde_delta {self.mde_delta!r} is not in (0, 1]", None, "pass e.g. 0.05 (five points)")
        if self.equivalence_margin is not None and not (_number(self.equivalence_margin)
                                                        and 0 < self.equivalence_margin <= 1):
            raise ReportError(f"equivalence margin {self.equivalence_margin!r} is not in (0, 1]", None,
                              "pass e.g. 0.05: differences within five points count as none")
        for what, by_metric in (("mde_delta", self.mde_delta_by_metric),
                                ("equivalence margin", self.margin_by_metric)):
            for name, value in by_metric.items():
                if not (_number(value) and 0 < value < math.inf):
                    raise ReportError(f"{what} for {name} {value!r} is not a positive number", None,
                                      f"pass e.g. {name}=10, in {name}'s own units")

    def check_metrics(self, available: list[Metric], where: str) -> None:
        """The differences given by metric name: a metric the jobs have; at most 1 for one in [0, 1]."""
        by_name = {m.name: m for m in available}
        for what, by_metric in (("mde_delta", self.mde_delta_by_metric),
                                ("equivalence margin", self.margin_by_metric)):
            for name, value in by_metric.items():
                metric = by_name.get(name)
                if metric is None:
                    raise ReportError(f"{what} for {name!r}: no such metric in the results", where,
                                      f"name one of: {', '.join(by_name)}")
                if metric.bounded and value > 1:
                    raise ReportError(f"{what} for {name} {value!r} is not in (0, 1]", where,
                                      f"{name} lies in [0, 1]: pass e.g. {name}=0.05 (five points)")

    def delta_for(self, metric: Metric) -> float | None:
        """The difference to size the sample for, in the metric's units; None when none is given."""
        if metric.name in self.mde_delta_by_metric:
            return float(self.mde_delta_by_metric[metric.name])
        return float(self.mde_delta) if metric.bounded else None

    def margin_for(self, metric: Metric) -> float | None:
        """The equivalence margin in the metric's units; None when none is asked or none fits its scale."""
        if metric.name in self.margin_by_metric:
            return float(self.margin_by_metric[metric.name])
        return self.equivalence_margin if metric.bounded else None


def _number(v: Any) -> bool:
    return isinstance(v, (int, float))
