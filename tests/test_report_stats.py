"""evalsweep.report.stats against shared/reference/stats_vectors.json (to 1e-6) and against
statsmodels where it has the formula."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from evalsweep.report import stats as S

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "stats_vectors.json"


def _load_vectors() -> list[dict[str, Any]]:
    if not VECTORS.is_file():
        return []
    return json.loads(VECTORS.read_text())["vectors"]


def _single_proportion(v: dict) -> dict:
    s = np.array(v["scores"], dtype=float)
    return {"mean": s.mean(), "stderr_clt": S.stderr_clt(s), "stderr_binomial": S.stderr_binomial(s),
            "wilson_95": S.proportion_ci(int(s.sum()), s.size, "wilson"),
            "clopper_pearson_95": S.proportion_ci(int(s.sum()), s.size, "beta")}


def _zero_of_thirty(v: dict) -> dict:
    return {"wilson_95": S.proportion_ci(v["count"], v["nobs"], "wilson"),
            "clopper_pearson_upper": S.proportion_ci(v["count"], v["nobs"], "beta")[1]}


def _clustered(v: dict) -> dict:
    s, c = v["scores"], v["clusters"]
    return {"mean": float(np.mean(s)), "stderr_clt": S.stderr_clt(s),
            "stderr_clustered": S.stderr_clustered(s, c),
            "stderr_clustered_statsmodels_ols": S.stderr_clustered_ols(s, c),
            "stderr_clustered_miller_no_correction": S.stderr_clustered_miller(s, c)}


def _paired(v: dict) -> dict:
    r = S.paired_difference(v["a"], v["b"])
    table = S.mcnemar_table(v["a"], v["b"])
    return {"delta": r.delta, "stderr_a": r.se_a, "stderr_b": r.se_b, "stderr_unpaired": r.se_unpaired,
            "stderr_paired": r.se_paired, "correlation": r.correlation, "z": r.z,
            "p_z_two_sided": r.p_z, "p_ttest_rel": r.p_t, "ci95_ttest_rel": [r.ci_t_low, r.ci_t_high],
            "mcnemar_table": table, "p_mcnemar_exact": S.mcnemar_test(table, exact=True)[1]}


def _mcnemar(v: dict) -> dict:
    chi2, p_chi2 = S.mcnemar_test(v["table"], exact=False)
    return {"p_exact": S.mcnemar_test(v["table"], exact=True)[1], "chi2_corrected": chi2,
            "p_chi2_corrected": p_chi2}


def _multiple(v: dict) -> dict:
    return {m: S.adjust_pvalues(v["pvalues"], m) for m in ("holm", "fdr_bh", "bonferroni")}


def _power(v: dict) -> dict:
    a, pw = v["alpha"], v["power"]
    return {"n_needed_omega2_0.1_delta_0.03": S.n_needed(0.1, 0.03, a, pw),
            "n_needed_omega2_0.25_delta_0.05": S.n_needed(0.25, 0.05, a, pw),
            "mde_omega2_0.1_n_1000": S.mde(0.1, 1000, a, pw),
            "power_n_500_omega2_0.1_delta_0.03": S.power_at_n(0.1, 500, 0.03, a)}


CHECKERS: dict[str, Callable[[dict], dict]] = {
    "single_proportion": _single_proportion, "zero_of_thirty": _zero_of_thirty,
    "clustered_by_item_group": _clustered, "paired_difference": _paired, "mcnemar_table": _mcnemar,
    "multiple_comparisons": _multiple, "power_paired": _power,
}


@pytest.mark.skipif(not VECTORS.is_file(), reason=f"{VECTORS} not present")
@pytest.mark.parametrize("vector", _load_vectors(), ids=lambda v: v["name"])
def test_reference_vector(vector: dict) -> None:
    assert vector["name"] in CHECKERS, f"no checker for vector {vector['name']}"
    got = CHECKERS[vector["name"]](vector)
    for key, expected in vector["expected"].items():
        assert key in got, f"{vector['name']}: {key} not computed"
        np.testing.assert_allclose(np.asarray(got[key], dtype=float), np.asarray(expected, dtype=float),
                                   atol=1e-6, rtol=0, err_msg=f"{vector['name']}.{key}")


@pytest.mark.skipif(not VECTORS.is_file(), reason=f"{VECTORS} not present")
def test_every_vector_has_a_checker() -> None:
    assert {v["name"] for v in _load_vectors()} == set(CHECKERS)


@pytest.mark.parametrize("seed", range(5))
def test_clustered_se_equals_statsmodels_ols_cluster(seed: int) -> None:
    rng = np.random.default_rng(seed)
    clusters = rng.integers(0, 15, 90)
    scores = rng.uniform(size=90) < 0.3 + 0.04 * clusters  # items of different difficulty
    assert S.stderr_clustered(scores, clusters) == pytest.approx(S.stderr_clustered_ols(scores, clusters), abs=1e-12)


def test_clustered_se_with_one_obs_per_item_is_the_naive_se() -> None:
    s = np.random.default_rng(0).uniform(size=25)
    assert S.stderr_clustered(s, np.arange(25)) == pytest.approx(S.stderr_clt(s), abs=1e-12)


def test_clustered_se_is_wider_when_seeds_repeat_items() -> None:
    items = np.repeat(np.arange(20), 3)  # three seeds that agree on every item
    scores = np.repeat(np.arange(20) % 2, 3).astype(float)
    assert S.stderr_clustered(scores, items) > 1.5 * S.stderr_clt(scores)
    assert math.isnan(S.stderr_clustered([1.0, 0.0], [0, 0]))  # one cluster: undefined


def test_estimate_single_binary_run_uses_wilson() -> None:
    est = S.estimate_mean(np.zeros(30), np.arange(30))
    assert est.ci_method == "wilson"
    assert est.ci_low == 0.0 and est.ci_high == pytest.approx(0.113513, abs=1e-6)


def test_estimate_several_seeds_uses_clustered_normal() -> None:
    rng = np.random.default_rng(1)
    items = np.repeat(np.arange(30), 3)
    scores = (rng.uniform(size=90) < 0.6).astype(float)
    est = S.estimate_mean(scores, items)
    assert est.ci_method == "clustered normal" and est.n_items == 30 and est.n_obs == 90
    assert est.ci_high - est.mean == pytest.approx(1.959964 * S.stderr_clustered(scores, items), abs=1e-6)


def test_estimate_all_wrong_over_seeds_still_has_an_upper_bound() -> None:
    est = S.estimate_mean(np.zeros(60), np.repeat(np.arange(20), 3))
    assert est.ci_method == "wilson" and est.ci_high > 0


def test_estimate_no_rows() -> None:
    est = S.estimate_mean([], [])
    assert math.isnan(est.mean) and est.ci_method.startswith("n/a")


def test_seed_spread() -> None:
    sd, note = S.seed_spread([1, 0, 1, 1], [1, 1, 2, 2])
    assert sd == pytest.approx(np.std([0.5, 1.0], ddof=1)) and note == ""
    sd, note = S.seed_spread([1, 0], [7, 7])
    assert math.isnan(sd) and "one seed" in note


def test_paired_identical_and_constant_gap() -> None:
    same = S.paired_difference([1, 0, 1], [1, 0, 1])
    assert same.delta == 0 and same.p_z == 1.0 and same.n_disagree == 0
    gap = S.paired_difference([1, 1, 1], [0, 0, 0])
    assert gap.delta == 1 and math.isnan(gap.p_z) and gap.n_disagree == 3


def test_paired_is_tighter_than_unpaired_when_correlated() -> None:
    r = S.paired_difference([1, 1, 0, 0, 1, 0, 1, 1], [1, 1, 0, 0, 1, 0, 0, 1])
    assert r.se_paired < r.se_unpaired


def test_binarize_majority_leaves_ties_out() -> None:
    out = S.binarize_majority([1.0, 2 / 3, 0.5, 1 / 3, 0.0])
    assert out[:2].tolist() == [1.0, 1.0] and math.isnan(out[2]) and out[3:].tolist() == [0.0, 0.0]


def test_adjust_pvalues_skips_nan_and_names_method() -> None:
    out = S.adjust_pvalues([0.01, math.nan, 0.04], "holm")
    assert math.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], [0.02, 0.04])
    # statsmodels' default would be holm-sidak: 1-(1-0.01)^2 = 0.0199, not 0.02
    assert out[0] == pytest.approx(0.02, abs=1e-12)


def test_power_functions_agree_with_each_other() -> None:
    n = S.n_needed(0.2, 0.04)
    assert S.mde(0.2, n) == pytest.approx(0.04)
    assert S.power_at_n(0.2, n, 0.04) == pytest.approx(0.8, abs=1e-3)
    assert math.isnan(S.n_needed(0.2, 0.0)) and math.isnan(S.mde(math.nan, 10))
