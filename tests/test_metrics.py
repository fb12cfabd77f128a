from __future__ import annotations

import math

import pytest
from statsmodels.stats.proportion import proportion_confint

from evalsweep.metrics import RunningScores, wilson_interval


@pytest.mark.parametrize("k,n", [(0, 30), (7, 10), (30, 30), (1, 2), (123, 400)])
def test_wilson_matches_statsmodels(k: int, n: int) -> None:
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert wilson_interval(k, n) == pytest.approx((lo, hi), abs=1e-9)


def test_running_scores_plain_stderr_and_wilson() -> None:
    r = RunningScores()
    scores = [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]
    for i, s in enumerate(scores):
        r.add(f"i{i}", float(s))
    out = r.summary()
    assert out.mean == pytest.approx(0.7)
    assert out.stderr == pytest.approx(0.152753, abs=1e-6)  # sd(ddof=1)/sqrt(n)
    assert out.wilson95 == pytest.approx((0.396778, 0.892209), abs=1e-6)
    assert out.ci95_method == "normal (CLT)"


def test_running_scores_cluster_by_item_when_items_repeat() -> None:
    # Four items asked three times each: the clustered SE of the shared reference vector.
    scores = [1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1]
    r = RunningScores()
    for i, s in enumerate(scores):
        r.add(f"item{i // 3}", float(s))
    out = r.summary()
    assert out.n == 12 and out.n_items == 4
    assert out.stderr == pytest.approx(0.25, abs=1e-6)
    assert out.ci95_method == "clustered by item" and out.wilson95 is None


def test_single_score_has_no_stderr() -> None:
    r = RunningScores()
    r.add("a", 1.0)
    out = r.summary()
    assert out.mean == 1.0 and out.stderr is None and out.ci95 is None
    assert not math.isnan(out.wilson95[1])
