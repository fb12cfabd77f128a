"""evalsweep.report.stats against shared/reference/stats_vectors.json (to 1e-6) and against
statsmodels where it has the formula."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from scipy import stats as sps

from evalsweep.report.stats import base, clustered, equivalence, intervals, multitest, paired, power, signflip, tango

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "stats_vectors.json"
IN_CI = os.environ.get("CI", "").lower() == "true"
NO_VECTORS = (f"{VECTORS} is not there: the reference numbers live in the shared checkout beside this clone "
              f"(../shared); without it the formulas are only checked against statsmodels/scipy below")


def _load_vectors() -> list[dict[str, Any]]:
    if not VECTORS.is_file():
        return []
    return json.loads(VECTORS.read_text())["vectors"]


def _need_vectors() -> None:
    """Skip, saying why, on a machine without ../shared; in CI (CI=true) that is a failure."""
    if VECTORS.is_file():
        return
    if IN_CI:
        pytest.fail(f"CI=true but {NO_VECTORS}")
    pytest.skip(NO_VECTORS)


def _single_proportion(v: dict) -> dict:
    s = np.array(v["scores"], dtype=float)
    return {"mean": s.mean(), "stderr_clt": intervals.stderr_clt(s),
            "stderr_binomial": intervals.stderr_binomial(s),
            "wilson_95": intervals.proportion_ci(int(s.sum()), s.size, "wilson"),
            "clopper_pearson_95": intervals.proportion_ci(int(s.sum()), s.size, "beta")}


def _zero_of_thirty(v: dict) -> dict:
    return {"wilson_95": intervals.proportion_ci(v["count"], v["nobs"], "wilson"),
            "clopper_pearson_upper": intervals.proportion_ci(v["count"], v["nobs"], "beta")[1]}


def _clustered(v: dict) -> dict:
    s, c = v["scores"], v["clusters"]
    return {"mean": float(np.mean(s)), "stderr_clt": intervals.stderr_clt(s),
            "stderr_clustered": clustered.stderr_clustered(s, c),
            "stderr_clustered_statsmodels_ols": clustered.stderr_clustered_ols(s, c),
            "stderr_clustered_miller_no_correction": clustered.stderr_clustered_miller(s, c)}


def _paired(v: dict) -> dict:
    r = paired.paired_difference(v["a"], v["b"])
    table = paired.mcnemar_table(v["a"], v["b"])
    return {"delta": r.delta, "stderr_a": r.se_a, "stderr_b": r.se_b, "stderr_unpaired": r.se_unpaired,
            "stderr_paired": r.se_paired, "correlation": r.correlation, "z": r.z,
            "p_z_two_sided": r.p_z, "p_ttest_rel": r.p_t, "ci95_ttest_rel": [r.ci_t_low, r.ci_t_high],
            "mcnemar_table": table, "p_mcnemar_exact": paired.mcnemar_test(table, exact=True)[1]}


def _mcnemar(v: dict) -> dict:
    chi2, p_chi2 = paired.mcnemar_test(v["table"], exact=False)
    return {"p_exact": paired.mcnemar_test(v["table"], exact=True)[1], "chi2_corrected": chi2,
            "p_chi2_corrected": p_chi2}


def _multiple(v: dict) -> dict:
    return {m: multitest.adjust_pvalues(v["pvalues"], m) for m in ("holm", "fdr_bh", "bonferroni")}


def _power(v: dict) -> dict:
    a, pw = v["alpha"], v["power"]
    return {"n_needed_omega2_0.1_delta_0.03": power.n_needed(0.1, 0.03, a, pw),
            "n_needed_omega2_0.25_delta_0.05": power.n_needed(0.25, 0.05, a, pw),
            "mde_omega2_0.1_n_1000": power.mde(0.1, 1000, a, pw),
            "power_n_500_omega2_0.1_delta_0.03": power.power_at_n(0.1, 500, 0.03, a)}


CHECKERS: dict[str, Callable[[dict], dict]] = {
    "single_proportion": _single_proportion, "zero_of_thirty": _zero_of_thirty,
    "clustered_by_item_group": _clustered, "paired_difference": _paired, "mcnemar_table": _mcnemar,
    "multiple_comparisons": _multiple, "power_paired": _power,
}


@pytest.mark.parametrize("vector", _load_vectors() or [{"name": "missing"}], ids=lambda v: v["name"])
def test_reference_vector(vector: dict) -> None:
    _need_vectors()
    assert vector["name"] in CHECKERS, f"no checker for vector {vector['name']}"
    got = CHECKERS[vector["name"]](vector)
    for key, expected in vector["expected"].items():
        assert key in got, f"{vector['name']}: {key} not computed"
        np.testing.assert_allclose(np.asarray(got[key], dtype=float), np.asarray(expected, dtype=float),
                                   atol=1e-6, rtol=0, err_msg=f"{vector['name']}.{key}")


def test_every_vector_has_a_checker() -> None:
    _need_vectors()
    assert {v["name"] for v in _load_vectors()} == set(CHECKERS)


@pytest.mark.parametrize("seed", range(5))
def test_clustered_se_equals_statsmodels_ols_cluster(seed: int) -> None:
    rng = np.random.default_rng(seed)
    clusters = rng.integers(0, 15, 90)
    scores = rng.uniform(size=90) < 0.3 + 0.04 * clusters  # items of different difficulty
    assert clustered.stderr_clustered(scores, clusters) == pytest.approx(
        clustered.stderr_clustered_ols(scores, clusters), abs=1e-12)


def test_clustered_se_with_one_obs_per_item_is_the_naive_se() -> None:
    s = np.random.default_rng(0).uniform(size=25)
    assert clustered.stderr_clustered(s, np.arange(25)) == pytest.approx(intervals.stderr_clt(s), abs=1e-12)


def test_clustered_se_is_wider_when_seeds_repeat_items() -> None:
    items = np.repeat(np.arange(20), 3)  # three seeds that agree on every item
    scores = np.repeat(np.arange(20) % 2, 3).astype(float)
    assert clustered.stderr_clustered(scores, items) > 1.5 * intervals.stderr_clt(scores)
    assert math.isnan(clustered.stderr_clustered([1.0, 0.0], [0, 0]))  # one cluster: undefined


def test_estimate_single_binary_run_uses_wilson() -> None:
    est = intervals.estimate_mean(np.zeros(30), np.arange(30))
    assert est.ci_method == "wilson"
    assert est.ci_low == 0.0 and est.ci_high == pytest.approx(0.113513, abs=1e-6)


def test_estimate_several_seeds_uses_wilson_at_the_design_effect_n() -> None:
    rng = np.random.default_rng(1)
    items = np.repeat(np.arange(30), 3)
    scores = (rng.uniform(size=90) < 0.6).astype(float)
    est = intervals.estimate_mean(scores, items)
    assert est.ci_method == "wilson, design effect" and est.n_items == 30 and est.n_obs == 90
    # equal asks per item: the item-level SE is the clustered SE
    assert est.se == pytest.approx(clustered.stderr_clustered(scores, items), abs=1e-12)
    p = est.mean
    n_eff = min(90, p * (1 - p) / est.se**2)
    assert est.n_eff == pytest.approx(n_eff)
    z = base.z_crit()  # Wilson at the same (fractional) n, written out
    centre = (p + z * z / (2 * n_eff)) / (1 + z * z / n_eff)
    half = z * math.sqrt(p * (1 - p) / n_eff + z * z / (4 * n_eff**2)) / (1 + z * z / n_eff)
    assert (est.ci_low, est.ci_high) == pytest.approx((centre - half, centre + half), abs=1e-12)
    # away from the bounds it is about mean +- z SE, never narrower than the binomial of all asks
    z_half = z * max(est.se, math.sqrt(p * (1 - p) / 90))
    assert est.ci_high - est.ci_low == pytest.approx(2 * z_half, rel=0.05)


def test_ci_never_leaves_0_1_and_the_lower_bound_falls_when_the_model_gets_worse() -> None:
    perfect = intervals.estimate_mean(np.ones(150), np.arange(150))
    one_wrong = intervals.estimate_mean(np.r_[np.ones(149), 0.0], np.arange(150))
    assert 0 <= one_wrong.ci_low < one_wrong.ci_high <= 1 and one_wrong.ci_low < perfect.ci_low
    rng = np.random.default_rng(3)
    for _ in range(50):  # near the ceiling, 30 items x 3 seeds
        p_item = rng.beta(19, 1, 30)
        s = (rng.uniform(size=(3, 30)) < p_item).astype(float).ravel()
        est = intervals.estimate_mean(s, np.tile(np.arange(30), 3))
        assert 0 <= est.ci_low <= est.mean <= est.ci_high <= 1


def test_estimate_is_item_weighted() -> None:
    # item 0 asked three times (all right), item 1 once (wrong): items weigh the same
    est = intervals.estimate_mean([1, 1, 1, 0], [0, 0, 0, 1])
    assert est.mean == 0.5 and est.mean_obs == 0.75


def test_unbounded_scores_get_a_t_interval() -> None:
    s = np.array([2.0, 5.0, 3.5, 4.0, 7.0])
    est = intervals.estimate_mean(s, np.arange(5))
    ci = sps.ttest_1samp(s, 0).confidence_interval(0.95)
    assert est.ci_method == "t" and (est.ci_low, est.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_estimate_all_wrong_over_seeds_still_has_an_upper_bound() -> None:
    est = intervals.estimate_mean(np.zeros(60), np.repeat(np.arange(20), 3))
    assert est.ci_method == "wilson" and est.ci_high > 0


def test_estimate_no_rows() -> None:
    est = intervals.estimate_mean([], [])
    assert math.isnan(est.mean) and est.ci_method.startswith("n/a")


def test_seed_spread() -> None:
    sd, note = intervals.seed_spread([1, 0, 1, 1], [1, 1, 2, 2])
    assert sd == pytest.approx(np.std([0.5, 1.0], ddof=1)) and note == ""
    sd, note = intervals.seed_spread([1, 0], [7, 7])
    assert math.isnan(sd) and "one seed" in note


def test_paired_identical_and_constant_gap() -> None:
    same = paired.paired_difference([1, 0, 1], [1, 0, 1])
    assert same.delta == 0 and same.p_z == 1.0 and same.n_disagree == 0
    gap = paired.paired_difference([1, 1, 1], [0, 0, 0])
    assert gap.delta == 1 and math.isnan(gap.p_z) and gap.n_disagree == 3


def test_paired_is_tighter_than_unpaired_when_correlated() -> None:
    r = paired.paired_difference([1, 1, 0, 0, 1, 0, 1, 1], [1, 1, 0, 0, 1, 0, 0, 1])
    assert r.se_paired < r.se_unpaired


def test_binarize_majority_leaves_ties_out() -> None:
    out = paired.binarize_majority([1.0, 2 / 3, 0.5, 1 / 3, 0.0])
    assert out[:2].tolist() == [1.0, 1.0] and math.isnan(out[2]) and out[3:].tolist() == [0.0, 0.0]


def test_adjust_pvalues_skips_nan_and_names_method() -> None:
    out = multitest.adjust_pvalues([0.01, math.nan, 0.04], "holm")
    assert math.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], [0.02, 0.04])
    # statsmodels' default would be holm-sidak: 1-(1-0.01)^2 = 0.0199, not 0.02
    assert out[0] == pytest.approx(0.02, abs=1e-12)


def test_power_functions_agree_with_each_other() -> None:
    n = power.n_needed(0.2, 0.04)
    assert power.mde(0.2, n) == pytest.approx(0.04)
    assert power.power_at_n(0.2, n, 0.04) == pytest.approx(0.8, abs=1e-3)
    assert math.isnan(power.n_needed(0.2, 0.0)) and math.isnan(power.mde(math.nan, 10))


# --- the paired test -----------------------------------------------------------------------------


def _scipy_signflip(d: np.ndarray) -> float:
    return float(sps.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf).pvalue)


@pytest.mark.parametrize("seed", range(4))
def test_sign_flip_is_exact_and_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lattice = rng.integers(-3, 4, 14) / 3  # item means over three seeds
    continuous = rng.normal(0.3, 1, 11)
    for d in (lattice, continuous):
        got = signflip.sign_flip_test(d)
        assert got.method == "exact sign-flip"
        assert got.p == pytest.approx(_scipy_signflip(d), abs=1e-12)


def test_sign_flip_on_many_continuous_items_is_monte_carlo() -> None:
    d = np.random.default_rng(5).normal(0.35, 1, 40)
    got = signflip.sign_flip_test(d)
    assert got.method.startswith("Monte-Carlo")
    ref = sps.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=200_000,
                               random_state=1).pvalue
    assert got.p == pytest.approx(ref, abs=0.003)


def test_sign_flip_lattice_with_many_items_matches_the_binomial_sign_test() -> None:
    # d in {-1, 0, 1}: the sign-flip test is the two-sided exact sign test on the non-zero items
    d = np.r_[np.ones(140), -np.ones(100), np.zeros(60)]
    assert signflip.sign_flip_test(d).p == pytest.approx(sps.binomtest(140, 240).pvalue, rel=1e-9)


def test_issue_example_five_items_differing_by_a_third() -> None:
    a = np.r_[np.full(5, 2 / 3), np.full(25, 0.5)]
    b = np.r_[np.full(5, 1 / 3), np.full(25, 0.5)]
    r = paired.paired_test(a, b)
    assert r.p == pytest.approx(0.0625) and r.test == "exact sign-flip"
    assert multitest.adjust_pvalues([r.p, 0.5], "holm")[0] == pytest.approx(0.125)
    ci = sps.ttest_rel(a, b).confidence_interval(0.95)
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-12) and r.df == 29
    assert r.p_t == pytest.approx(sps.ttest_rel(a, b).pvalue)


def test_constant_gap_is_significant_by_the_exact_test() -> None:
    r = paired.paired_test(np.ones(30), np.zeros(30))
    assert r.p == pytest.approx(2 / 2**30) and math.isnan(r.t) and r.omega2 == 0
    # 0/1 items: Tango's score CI, which is no point even here
    assert r.ci_method == "tango score" and (r.ci_low, r.ci_high) == tango.tango_ci(30, 0, 30)
    assert 0.7 < r.ci_low < 1 and r.ci_high == 1.0
    # beside it, the zero-variance bound: Clopper-Pearson's 0-of-30 upper bound on the share of items that could differ
    q = intervals.proportion_ci(0, 30, "beta")[1]
    assert (r.ci_t_low, r.ci_t_high) == pytest.approx((1 - 2 * q, 1.0), abs=1e-9)
    same = paired.paired_test(np.ones(30), np.ones(30))
    z2 = base.z_crit() ** 2
    assert same.p == 1.0 and (same.ci_low, same.ci_high) == pytest.approx((-z2 / (30 + z2), z2 / (30 + z2)), abs=1e-9)
    assert (same.ci_t_low, same.ci_t_high) == pytest.approx((-q, q), abs=1e-9)


def test_constant_fractional_gap_keeps_the_zero_variance_bound() -> None:
    # three seeds: item means are not 0/1, and their float mean is an ulp off the gap of each item
    r = paired.paired_test(np.full(30, 2 / 3), np.full(30, 1 / 3))
    q = intervals.proportion_ci(0, 30, "beta")[1]
    assert r.ci_method.startswith("zero variance")
    assert (r.ci_low, r.ci_high) == pytest.approx((1 / 3 - q * (4 / 3), 1 / 3 + q * (2 / 3)), abs=1e-9)


def test_paired_ci_clipped_to_the_range_of_a_difference() -> None:
    r = paired.paired_test([1, 1, 1, 1], [0, 0, 0, 0.5])
    assert -1 <= r.ci_low and r.ci_high <= 1


# --- Tango's score interval for paired 0/1 items ---------------------------------------------------


def test_tango_reproduces_the_published_worked_example() -> None:
    # Fagerland, Lydersen & Laake (2017), Statistical Analysis of Contingency Tables, ch. 8 (and their
    # R package contingencytables): Cavo et al. (2012), 6 and 16 discordant pairs of 161,
    # estimate -0.0621, Tango asymptotic score 95% CI -0.1240 to -0.0054
    lo, hi = tango.tango_ci(6, 16, 161)
    assert (round(lo, 4), round(hi, 4)) == (-0.1240, -0.0054)
    # the same package's boundary cases: 3 of 3 pairs discordant one way, CI -0.1230 to 1.0000
    assert tuple(round(v, 4) for v in tango.tango_ci(3, 0, 3)) == (-0.1230, 1.0)
    assert tuple(round(v, 4) for v in tango.tango_ci(0, 3, 3)) == (-1.0, 0.1230)


def test_tango_with_no_discordant_items_is_the_closed_form() -> None:
    z2 = base.z_crit() ** 2
    for n in (5, 10, 20, 50):  # T(delta0) = sqrt(n |delta0| / (1 - |delta0|)) = z
        assert tango.tango_ci(0, 0, n) == pytest.approx((-z2 / (n + z2), z2 / (n + z2)), abs=1e-10)


def test_tango_excludes_zero_exactly_when_mcnemars_score_test_rejects() -> None:
    from statsmodels.stats.contingency_tables import mcnemar

    for n in (10, 20, 40):
        for b in range(0, 12):
            for c in range(0, 12):
                if b + c == 0 or b + c > n:
                    continue
                p = mcnemar([[n - b - c, b], [c, 0]], exact=False, correction=False).pvalue
                lo, hi = tango.tango_ci(b, c, n)
                if abs(p - 0.05) > 1e-9:
                    assert (lo > 0 or hi < 0) == (p < 0.05), (b, c, n)


def _score_by_constrained_mle(delta0: float, b: int, c: int, n: int) -> float:
    """Tango's statistic with p21 found numerically: the multinomial MLE under p12 - p21 = delta0."""
    from scipy.optimize import minimize_scalar

    rest = n - b - c
    lo, hi = max(0.0, -delta0) + 1e-12, (1 - delta0) / 2 - 1e-12

    def nll(p21: float) -> float:
        p12 = p21 + delta0
        return -(b * math.log(p12) + c * math.log(p21) + rest * math.log(1 - p12 - p21))

    p21 = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}).x
    return (b - c - n * delta0) / math.sqrt(n * (2 * p21 + delta0 - delta0**2))


@pytest.mark.parametrize(("b", "c", "n"), [(6, 16, 161), (1, 7, 21), (5, 2, 30), (12, 3, 40), (1, 1, 10)])
def test_tango_ends_are_where_the_score_test_reaches_z(b: int, c: int, n: int) -> None:
    lo, hi = tango.tango_ci(b, c, n)
    z = base.z_crit()
    assert _score_by_constrained_mle(lo, b, c, n) == pytest.approx(z, abs=1e-5)
    assert _score_by_constrained_mle(hi, b, c, n) == pytest.approx(-z, abs=1e-5)
    assert tango.tango_statistic(0.0, b, c, n) == pytest.approx((b - c) / math.sqrt(b + c), abs=1e-12)


def test_tango_is_symmetric_monotone_and_inside_the_range() -> None:
    for n in (10, 20):
        ends = {(b, c): tango.tango_ci(b, c, n) for b in range(n + 1) for c in range(n + 1 - b)}
        for (b, c), (lo, hi) in ends.items():
            assert -1 <= lo <= (b - c) / n <= hi <= 1
            assert ends[c, b] == pytest.approx((-hi, -lo), abs=1e-9)
            if b + c < n:  # one more item where only a scored 1 moves both ends up
                up = ends[b + 1, c]
                assert up[0] > lo and up[1] > hi


def test_paired_test_uses_tango_for_0_1_items_and_keeps_t_beside_it() -> None:
    a = np.r_[np.ones(4), np.zeros(16)]
    b = np.r_[np.zeros(2), np.ones(2), np.zeros(16)]
    r = paired.paired_test(a, b)
    assert r.ci_method == "tango score" and (r.ci_low, r.ci_high) == tango.tango_ci(2, 0, 20)
    ci = sps.ttest_rel(a, b).confidence_interval(0.95)
    assert (r.ci_t_low, r.ci_t_high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    # 19 of 20 one way: t's interval would sit above the one for 20 of 20; Tango's does not
    nineteen = paired.paired_test(np.ones(20), np.r_[0.0 * np.ones(19), 1.0])
    twenty = paired.paired_test(np.ones(20), np.zeros(20))
    assert nineteen.ci_low < twenty.ci_low and nineteen.ci_t_low > twenty.ci_t_low
    graded = paired.paired_test(a * 2 / 3, b)  # item means over three seeds: t
    assert graded.ci_method == "t"
    unbounded = paired.paired_test(a, b, bounded=False)  # a metric outside [0, 1]: t, never clipped
    assert unbounded.ci_method == "t"


# --- power, equivalence ----------------------------------------------------------------------------


def test_power_is_statsmodels_t_power_and_items_needed_rounds_up() -> None:
    from statsmodels.stats.power import TTestPower

    omega2, delta, alpha = 0.2, 0.05, 0.05 / 6
    n = power.items_needed(omega2, delta, alpha)
    assert n == int(n) and power.mde_t(omega2, int(n), alpha) <= delta < power.mde_t(omega2, int(n) - 1, alpha)
    ref = TTestPower().power(effect_size=delta / math.sqrt(omega2), nobs=n, alpha=alpha)
    assert power.power_t(omega2, int(n), delta, alpha) == pytest.approx(ref, abs=1e-9)
    assert power.power_t(omega2, int(n), delta, alpha) >= 0.8 - 0.01
    assert n > power.n_needed(omega2, delta, alpha)  # never rounded down
    assert multitest.corrected_alpha(0.05, 4) == 0.0125
    assert math.isnan(power.mde_t(0.0, 30)) and math.isnan(power.items_needed(0.0, 0.05))


def test_tost_matches_statsmodels() -> None:
    from statsmodels.stats.weightstats import ttost_paired

    rng = np.random.default_rng(2)
    a = rng.uniform(size=40)
    b = a + rng.normal(0.01, 0.05, 40)
    r = paired.paired_test(a, b)
    assert equivalence.tost(r.delta, r.se, r.df, 0.05) == pytest.approx(ttost_paired(a, b, -0.05, 0.05)[0], abs=1e-9)
