"""Running aggregates for a job's summary: mean, standard error (clustered by item when an
item is asked several times), a 95% CI and, for binary scores, the Wilson interval.

The CI never leaves the scores' range [0, 1], and is the report's interval
(evalsweep.report.stats.intervals.estimate_mean; docs/statistics.md): for 0/1 scores with one ask per item (or
all equal) the Wilson interval; for scores in [0, 1] asked several times per item, Wilson at the
design-effect n (n_eff = p(1-p)/SE^2, capped at the observations); otherwise the normal interval.
ci95_method says which."""

from __future__ import annotations

import math
from collections import defaultdict

from pydantic import BaseModel, ConfigDict

Z95 = 1.959963984540054


def wilson_interval(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval (successes and n may be fractional: an effective sample size). Written
    out rather than imported from statsmodels, whose import (pandas, scipy) costs seconds in every
    job; tests check it against statsmodels."""
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, center - half), min(1.0, center + half))


class ScoreSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n: int
    n_items: int
    mean: float | None
    stderr: float | None
    ci95: tuple[float, float] | None
    ci95_method: str | None
    wilson95: tuple[float, float] | None


class RunningScores:
    """O(items) memory: per-item sums and counts, not every score."""

    def __init__(self) -> None:
        self._sum: dict[str, float] = defaultdict(float)
        self._count: dict[str, int] = defaultdict(int)
        self._sumsq = 0.0
        self.n = 0
        self.total = 0.0
        self.binary = True
        self.bounded = True  # every score in [0, 1]
        self._first: float | None = None
        self.constant = True

    def add(self, item: str, score: float) -> None:
        self._sum[item] += score
        self._count[item] += 1
        self._sumsq += score * score
        self.n += 1
        self.total += score
        self.binary = self.binary and score in (0.0, 1.0)
        self.bounded = self.bounded and 0.0 <= score <= 1.0
        if self._first is None:
            self._first = score
        self.constant = self.constant and score == self._first

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    def stderr(self) -> float | None:
        n, mean = self.n, self.mean
        if mean is None or n < 2:
            return None
        groups = len(self._count)
        if groups < n:
            # Clustered by item: sqrt(G/(G-1) * sum_c (sum_i (s_i - mean))^2) / n.
            if groups < 2:
                return None
            ss = sum((self._sum[k] - self._count[k] * mean) ** 2 for k in self._count)
            return math.sqrt(groups / (groups - 1) * ss) / n
        var = max(0.0, (self._sumsq - n * mean * mean) / (n - 1))
        return math.sqrt(var / n)

    def summary(self) -> ScoreSummary:
        mean, se = self.mean, self.stderr()
        n_items = len(self._count)
        one_per_item = n_items == self.n
        wilson = None
        if self.n and self.binary and one_per_item:
            wilson = wilson_interval(round(self.total), self.n)
        ci: tuple[float, float] | None = None
        method: str | None = None
        if wilson is not None:
            ci, method = wilson, "wilson"
        elif self.n and self.binary and self.constant and n_items >= 1:
            # Every ask scored the same: the normal interval is a point; Wilson over the items is not.
            ci, method = wilson_interval(round(mean * n_items), n_items), "wilson (all scores equal)"
        elif mean is not None and se is not None and self.bounded and 0.0 < mean < 1.0:
            # The design effect of asking items several times, as the report does: stays in [0, 1].
            n_eff = min(float(self.n), mean * (1 - mean) / se**2) if se > 0 else float(self.n)
            ci = wilson_interval(mean * n_eff, n_eff)
            method = "wilson at the design-effect n" + (" (clustered by item)" if not one_per_item else "")
        elif mean is not None and se is not None:
            ci = (mean - Z95 * se, mean + Z95 * se)
            method = "clustered by item" if not one_per_item else "normal (CLT)"
            if self.bounded and (ci[0] < 0.0 or ci[1] > 1.0):
                ci, method = (max(0.0, ci[0]), min(1.0, ci[1])), method + ", clipped to [0, 1]"
        return ScoreSummary(
            n=self.n, n_items=n_items, mean=mean, stderr=se, ci95=ci, ci95_method=method, wilson95=wilson,
        )
