"""Statistics for eval scores (Miller 2024, "Adding Error Bars to Evals", arXiv 2411.00640).

Pure functions on arrays: no DataFrames, no I/O. statsmodels / scipy supply every formula they
have; what is written out here (clustered SE, paired SE, power) is checked against them or
against shared/reference/stats_vectors.json in tests/test_report_stats.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as _sm_mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

ArrayLike = Sequence[float] | np.ndarray
Correction = Literal["holm", "fdr_bh", "bonferroni"]

ALPHA = 0.05
POWER = 0.8


def _arr(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=float)


def z_crit(alpha: float = ALPHA) -> float:
    """Two-sided normal critical value: 1.959964 for alpha 0.05."""
    return float(sps.norm.ppf(1 - alpha / 2))


def is_binary(scores: ArrayLike) -> bool:
    s = _arr(scores)
    return s.size > 0 and bool(np.all((s == 0) | (s == 1)))


# --- one variant ---------------------------------------------------------------------------


def stderr_clt(scores: ArrayLike) -> float:
    """sd(ddof=1)/sqrt(n): the naive SE, right only when every score is an independent item."""
    s = _arr(scores)
    if s.size < 2:
        return math.nan
    return float(s.std(ddof=1) / math.sqrt(s.size))


def stderr_binomial(scores: ArrayLike) -> float:
    """sqrt(p(1-p)/n) for 0/1 scores (the textbook binomial SE, ddof=0)."""
    s = _arr(scores)
    if s.size == 0:
        return math.nan
    p = float(s.mean())
    return math.sqrt(p * (1 - p) / s.size)


def _cluster_resid_sums(s: np.ndarray, clusters: ArrayLike) -> np.ndarray:
    _, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    return np.bincount(inverse, weights=s - s.mean())


def stderr_clustered(scores: ArrayLike, clusters: ArrayLike) -> float:
    """SE of the mean, clustered by item (seeds / repeats of one item are not independent).

    sqrt(G/(G-1) * sum_c (sum_{i in c}(s_i - mean))^2) / n: Inspect's form, equal to
    statsmodels OLS cov_type='cluster' on a constant (see stderr_clustered_ols). NaN with fewer
    than two clusters. This is the SE the report uses.
    """
    s = _arr(scores)
    if s.size == 0 or s.size != np.asarray(clusters).size:
        return math.nan
    sums = _cluster_resid_sums(s, clusters)
    groups = sums.size
    if groups < 2:
        return math.nan
    return math.sqrt(groups / (groups - 1) * float(np.sum(sums**2))) / s.size


def stderr_clustered_miller(scores: ArrayLike, clusters: ArrayLike) -> float:
    """Miller 2024's clustered SE (eq. 4), without the G/(G-1) small-sample correction:
    sqrt(SE_CLT^2 + (1/n^2) sum_c sum_{i != j in c} (s_i - mean)(s_j - mean))."""
    s = _arr(scores)
    if s.size < 2 or s.size != np.asarray(clusters).size:
        return math.nan
    r = s - s.mean()
    cross = float(np.sum(_cluster_resid_sums(s, clusters) ** 2) - np.sum(r**2))
    return math.sqrt(stderr_clt(s) ** 2 + cross / s.size**2)


def stderr_clustered_ols(scores: ArrayLike, clusters: ArrayLike) -> float:
    """The same clustered SE from statsmodels (OLS on a constant, cluster-robust covariance)."""
    import statsmodels.api as sm

    s = _arr(scores)
    _, groups = np.unique(np.asarray(clusters), return_inverse=True)
    fit = sm.OLS(s, np.ones((s.size, 1))).fit(cov_type="cluster", cov_kwds={"groups": groups})
    return float(np.asarray(fit.bse)[0])


def normal_ci(mean: float, se: float, alpha: float = ALPHA) -> tuple[float, float]:
    half = z_crit(alpha) * se
    return mean - half, mean + half


def proportion_ci(count: int, nobs: int, method: str = "wilson", alpha: float = ALPHA) -> tuple[float, float]:
    """Binomial CI via statsmodels proportion_confint ('wilson', or 'beta' = Clopper-Pearson)."""
    if nobs <= 0:
        return math.nan, math.nan
    lo, hi = proportion_confint(count, nobs, alpha=alpha, method=method)
    return float(lo), float(hi)


@dataclass(frozen=True)
class MeanEstimate:
    mean: float
    se: float  # clustered by item
    ci_low: float
    ci_high: float
    ci_method: str  # "clustered normal" | "wilson" | "n/a: ..."
    n_items: int
    n_obs: int


def estimate_mean(scores: ArrayLike, items: ArrayLike, alpha: float = ALPHA) -> MeanEstimate:
    """Mean, item-clustered SE and CI of one variant.

    The CI is mean +- z*SE, except for 0/1 scores with one observation per item (a single
    binary run) or with every score equal (SE 0), where the normal interval is wrong or
    degenerate: there the Wilson interval over items is used (a run with 0/30 correct still
    gets a non-zero upper bound).
    """
    s = _arr(scores)
    it = np.asarray(items)
    n_obs = int(s.size)
    n_items = int(np.unique(it).size) if n_obs else 0
    if n_obs == 0:
        return MeanEstimate(math.nan, math.nan, math.nan, math.nan, "n/a: no scored rows", 0, 0)
    mean = float(s.mean())
    se = stderr_clustered(s, it)
    one_per_item = n_items == n_obs
    degenerate = bool(np.all(s == s[0]))
    if is_binary(s) and (one_per_item or degenerate):
        count = round(mean * n_items) if degenerate else int(s.sum())
        lo, hi = proportion_ci(count, n_items, "wilson", alpha)
        return MeanEstimate(mean, se, lo, hi, "wilson", n_items, n_obs)
    if math.isnan(se):
        return MeanEstimate(mean, se, math.nan, math.nan, "n/a: one item", n_items, n_obs)
    lo, hi = normal_ci(mean, se, alpha)
    return MeanEstimate(mean, se, lo, hi, "clustered normal", n_items, n_obs)


def seed_spread(scores: ArrayLike, seeds: ArrayLike) -> tuple[float, str]:
    """SD (ddof=1) of per-seed means, and a note when it cannot be computed."""
    s = _arr(scores)
    sd = np.asarray(seeds)
    if s.size == 0:
        return math.nan, "no scored rows"
    keys, inverse = np.unique(sd, return_inverse=True)
    if keys.size < 2:
        return math.nan, "one seed: no seed spread"
    sums = np.bincount(inverse, weights=s)
    counts = np.bincount(inverse)
    return float(np.std(sums / counts, ddof=1)), ""


# --- two variants on the same items ---------------------------------------------------------


@dataclass(frozen=True)
class PairedResult:
    n: int
    delta: float
    se_paired: float
    ci_low: float
    ci_high: float
    z: float
    p_z: float
    t: float
    p_t: float
    ci_t_low: float
    ci_t_high: float
    se_a: float
    se_b: float
    se_unpaired: float
    correlation: float
    omega2: float  # Var(a_i - b_i), ddof=1: the input to the power formulas
    n_disagree: int


def paired_difference(a: ArrayLike, b: ArrayLike, alpha: float = ALPHA) -> PairedResult:
    """Paired comparison of per-item scores a_i, b_i (already averaged over seeds/repeats).

    d_i = a_i - b_i; SE = sd(d, ddof=1)/sqrt(n); CI and p from the normal (Miller 2024), with
    scipy's paired t-test (ttest_rel) beside it for small n.
    """
    x, y = _arr(a), _arr(b)
    if x.size != y.size:
        raise ValueError(f"paired_difference needs equal lengths, got {x.size} and {y.size}")
    n = int(x.size)
    d = x - y
    nan = math.nan
    delta = float(d.mean()) if n else nan
    se = float(d.std(ddof=1) / math.sqrt(n)) if n >= 2 else nan
    omega2 = float(d.var(ddof=1)) if n >= 2 else nan
    n_disagree = int(np.sum(~np.isclose(x, y)))
    se_a, se_b = stderr_clt(x), stderr_clt(y)
    se_unpaired = math.sqrt(se_a**2 + se_b**2) if n >= 2 else nan
    if n >= 2 and se > 0:
        ci_low, ci_high = normal_ci(delta, se, alpha)
        z = delta / se
        p_z = float(2 * sps.norm.sf(abs(z)))
        tt = sps.ttest_rel(x, y)
        t, p_t = float(tt.statistic), float(tt.pvalue)
        ci = tt.confidence_interval(confidence_level=1 - alpha)
        ci_t_low, ci_t_high = float(ci.low), float(ci.high)
    elif n >= 2:
        # Every item differs by the same amount. Identical results are no evidence of a
        # difference (p = 1); a constant non-zero gap has no variance to test with (p = NaN,
        # McNemar still applies to 0/1 scores).
        ci_low = ci_high = ci_t_low = ci_t_high = delta
        z = t = nan
        p_z = p_t = 1.0 if delta == 0 else nan
    else:
        ci_low = ci_high = z = p_z = t = p_t = ci_t_low = ci_t_high = nan
    corr = nan
    if n >= 2 and x.std() > 0 and y.std() > 0:
        corr = float(np.corrcoef(x, y)[0, 1])
    return PairedResult(
        n, delta, se, ci_low, ci_high, z, p_z, t, p_t, ci_t_low, ci_t_high,
        se_a, se_b, se_unpaired, corr, omega2, n_disagree,
    )


def binarize_majority(item_means: ArrayLike) -> np.ndarray:
    """Per-item majority of 0/1 scores over seeds/repeats: 1 above 0.5, 0 below, NaN on a tie."""
    m = _arr(item_means)
    out = np.where(m > 0.5, 1.0, 0.0)
    out[np.isclose(m, 0.5)] = np.nan
    return out


def mcnemar_table(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """2x2 table of 0/1 per-item results: [[both right, a only], [b only, both wrong]]."""
    x, y = _arr(a).astype(bool), _arr(b).astype(bool)
    return np.array(
        [[int(np.sum(x & y)), int(np.sum(x & ~y))], [int(np.sum(~x & y)), int(np.sum(~x & ~y))]]
    )


def mcnemar_test(table: ArrayLike, exact: bool = True) -> tuple[float, float]:
    """(statistic, p) from statsmodels mcnemar; exact binomial by default, else chi2 corrected."""
    res = _sm_mcnemar(np.asarray(table), exact=exact, correction=True)
    return float(res.statistic), float(res.pvalue)


def adjust_pvalues(pvalues: ArrayLike, method: Correction = "holm", alpha: float = ALPHA) -> np.ndarray:
    """Multiple-comparison adjustment via statsmodels multipletests, method always named
    (its default is holm-sidak). NaN p-values (pairs that could not be tested) stay NaN and do
    not count as comparisons."""
    p = _arr(pvalues)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], alpha=alpha, method=method)[1]
    return out


# --- power (Miller 2024, K=1, omega2 = Var(a_i - b_i)) ---------------------------------------


def _z_sum(alpha: float, power: float) -> float:
    return z_crit(alpha) + float(sps.norm.ppf(power))


def n_needed(omega2: float, delta: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """Items needed to detect a paired difference delta: (z_{1-a/2} + z_power)^2 * omega2 / delta^2."""
    if delta == 0 or not math.isfinite(omega2):
        return math.nan
    return _z_sum(alpha, power) ** 2 * omega2 / delta**2


def mde(omega2: float, n: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """Minimum detectable paired difference at n items: (z_{1-a/2} + z_power) * sqrt(omega2 / n)."""
    if n <= 0 or not math.isfinite(omega2):
        return math.nan
    return _z_sum(alpha, power) * math.sqrt(omega2 / n)


def power_at_n(omega2: float, n: float, delta: float, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired z-test at n items, both tails:
    Phi(delta/se - z_{1-a/2}) + Phi(-delta/se - z_{1-a/2}), se = sqrt(omega2 / n)."""
    if n <= 0 or not math.isfinite(omega2) or omega2 <= 0:
        return math.nan
    shift, z = delta / math.sqrt(omega2 / n), z_crit(alpha)
    return float(sps.norm.cdf(shift - z) + sps.norm.cdf(-shift - z))
