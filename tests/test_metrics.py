from __future__ import annotations

import math

import pytest
from statsmodels.stats.proportion import proportion_confint

from evalsweep.job.metrics import RunningScores, wilson_interval
from evalsweep.report.stats.intervals import estimate_mean


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
    # One 0/1 ask per item: the CI is the Wilson interval, as in the report.
    assert out.ci95_method == "wilson" and out.ci95 == out.wilson95


def test_running_scores_cluster_by_item_when_items_repeat() -> None:
    # Four items asked three times each: the clustered SE of the shared reference vector.
    scores = [1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1]
    r = RunningScores()
    for i, s in enumerate(scores):
        r.add(f"item{i // 3}", float(s))
    out = r.summary()
    assert out.n == 12 and out.n_items == 4
    assert out.stderr == pytest.approx(0.25, abs=1e-6)
    assert out.wilson95 is None
    # 0.583 +- 1.96 * 0.25 would reach 1.073; Wilson at the design-effect n stays below 1, and is the
    # report's interval for the same scores.
    assert out.ci95_method == "wilson at the design-effect n (clustered by item)" and out.ci95[1] < 1.0
    est = estimate_mean(scores, [i // 3 for i in range(12)])
    assert out.ci95 == pytest.approx((est.ci_low, est.ci_high), abs=1e-12)


def test_single_score_has_no_stderr() -> None:
    r = RunningScores()
    r.add("a", 1.0)
    out = r.summary()
    assert out.mean == 1.0 and out.stderr is None
    assert not math.isnan(out.wilson95[1]) and out.ci95 == out.wilson95  # Wilson needs no SE


def _scores(pairs: list[tuple[str, float]]) -> RunningScores:
    r = RunningScores()
    for item, score in pairs:
        r.add(item, score)
    return r


def test_binary_ci_never_leaves_0_1() -> None:
    # 47 of 50 right: the normal CI was 0.940 [0.874, 1.006]; Wilson stays below 1.
    out = _scores([(f"i{i}", 1.0 if i < 47 else 0.0) for i in range(50)]).summary()
    lo, hi = proportion_confint(47, 50, alpha=0.05, method="wilson")
    assert out.mean == pytest.approx(0.94) and out.ci95 == pytest.approx((lo, hi), abs=1e-9)
    assert 0.0 <= out.ci95[0] <= out.mean <= out.ci95[1] <= 1.0 and out.ci95_method == "wilson"
    assert out.mean + 1.959963984540054 * out.stderr > 1.0  # the interval it replaces did go past 1


def test_clustered_ci_is_clipped_for_bounded_scores() -> None:
    # Items asked three times, nearly all right: the clustered normal CI would pass 1.
    pairs = [(f"i{i}", 1.0) for i in range(20) for _ in range(3)] + [("j", 0.0), ("j", 1.0), ("j", 0.0)]
    out = _scores(pairs).summary()
    assert out.ci95_method == "wilson at the design-effect n (clustered by item)"
    assert 0.0 < out.ci95[0] < out.mean < out.ci95[1] < 1.0
    est = estimate_mean([s for _, s in pairs], [i for i, _ in pairs])
    assert out.ci95 == pytest.approx((est.ci_low, est.ci_high), abs=1e-12)


def test_graded_scores_clipped_and_all_equal_scores_get_wilson() -> None:
    out = _scores([(f"i{i}", 0.0 if i < 28 else 0.5) for i in range(30)]).summary()  # judge grades in [0, 1]
    assert out.ci95_method == "wilson at the design-effect n" and 0.0 < out.ci95[0] < out.mean
    same = _scores([(f"i{i // 2}", 1.0) for i in range(20)]).summary()  # 10 items, twice each, all right
    assert same.ci95_method == "wilson (all scores equal)"
    assert same.ci95 == pytest.approx(wilson_interval(10, 10)) and same.ci95[1] == pytest.approx(1.0)


def test_unbounded_scores_are_not_clipped() -> None:
    out = _scores([(f"i{i}", float(i)) for i in range(5)]).summary()  # e.g. a custom 0..4 score
    assert out.ci95_method == "normal (CLT)" and out.ci95[1] > 1.0
