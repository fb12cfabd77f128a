"""Statistics for eval scores (Miller 2024, "Adding Error Bars to Evals", arXiv 2411.00640).

Pure functions on arrays: no DataFrames, no I/O. statsmodels / scipy supply every formula they
have; what is written out here (clustered SE, paired SE, power) is checked against them or
against shared/reference/stats_vectors.json in tests/test_report_stats.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
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


def t_crit(alpha: float, df: float) -> float:
    """Two-sided Student t critical value with df degrees of freedom (normal when df is infinite)."""
    if not math.isfinite(df):
        return z_crit(alpha)
    return float(sps.t.ppf(1 - alpha / 2, df))


def item_means_of(scores: ArrayLike, items: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Per item: the mean over its seeds and repeats, and how many observations it had."""
    s = _arr(scores)
    _, inverse = np.unique(np.asarray(items), return_inverse=True)
    counts = np.bincount(inverse)
    return np.bincount(inverse, weights=s) / counts, counts


def wilson_effective(mean: float, n_eff: float, alpha: float = ALPHA) -> tuple[float, float]:
    """The Wilson interval at a (possibly fractional) effective sample size: the same function as the
    per-job summary's (evalsweep.job.metrics.wilson_interval), fed p * n_eff successes of n_eff."""
    from evalsweep.job.metrics import wilson_interval

    return wilson_interval(mean * n_eff, n_eff, z_crit(alpha))  # type: ignore[arg-type]


@dataclass(frozen=True)
class MeanEstimate:
    mean: float  # item-weighted: the mean over items of each item's mean over seeds/repeats
    se: float  # sd(item means, ddof=1) / sqrt(items): items are the independent units
    ci_low: float
    ci_high: float
    ci_method: str  # "wilson" | "wilson, design effect" | "t" | "n/a: ..."
    n_items: int
    n_obs: int
    n_eff: float = math.nan  # the effective n the Wilson interval used (design- and df-adjusted)
    mean_obs: float = math.nan  # the observation-weighted mean, for comparison with per-job summaries


def estimate_mean(scores: ArrayLike, items: ArrayLike, alpha: float = ALPHA) -> MeanEstimate:
    """Item-weighted mean of one variant, its SE and a CI that stays in the metric's range.

    mean = (1/G) sum_i ybar_i over the G items, the weighting the paired deltas use, so an item asked
    more often (extra seeds, fewer errors) weighs no more than another. SE = sd(ybar, ddof=1)/sqrt(G).

    CI, for scores in [0, 1]:
    - 0/1 scores, one ask per item: the Wilson interval over items (a plain binomial);
    - every item at 0 (or every item at 1): Wilson over items (0 of G still has an upper bound);
    - otherwise Wilson at the effective n: n_eff = p(1-p)/SE^2 (the design effect, Kish 1965),
      capped at the observations (Korn and Graubard 1998; Dean and Pagano 2015). It stays in [0, 1]
      and tends to mean +- z SE. The df-adjusted form, n_eff (z/t_{G-1})^2, over-covered in the
      calibration (0.977 at 10 items x 3 seeds; tests/test_report_calibration.py), so it is not used.
    Scores outside [0, 1]: mean +- t_{G-1} SE.
    """
    s = _arr(scores)
    it = np.asarray(items)
    n_obs = int(s.size)
    if n_obs == 0:
        return MeanEstimate(math.nan, math.nan, math.nan, math.nan, "n/a: no scored rows", 0, 0)
    ybar, counts = item_means_of(s, it)
    n_items = int(ybar.size)
    mean = float(ybar.mean())
    se = float(ybar.std(ddof=1) / math.sqrt(n_items)) if n_items >= 2 else math.nan
    base = {"n_items": n_items, "n_obs": n_obs, "mean_obs": float(s.mean())}
    bounded = bool(np.all((s >= 0) & (s <= 1)))
    if bounded and is_binary(s) and (n_items == n_obs or mean in (0.0, 1.0)):
        lo, hi = proportion_ci(round(mean * n_items), n_items, "wilson", alpha)
        return MeanEstimate(mean, se, lo, hi, "wilson", n_eff=float(n_items), **base)
    if n_items < 2:
        return MeanEstimate(mean, se, math.nan, math.nan, "n/a: one item", **base)
    df = n_items - 1
    if bounded:
        var_bern = mean * (1 - mean)
        if var_bern == 0:  # every score at one bound: nothing varies, count items as the trials
            n_eff = float(n_items)
        elif se == 0:  # every item has the same (interior) mean: no spread left to scale by
            n_eff = float(n_obs)
        else:
            n_eff = min(float(n_obs), var_bern / se**2)
        lo, hi = wilson_effective(mean, n_eff, alpha)
        return MeanEstimate(mean, se, lo, hi, "wilson, design effect", n_eff=n_eff, **base)
    half = t_crit(alpha, df) * se
    return MeanEstimate(mean, se, mean - half, mean + half, "t", **base)


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


def _paired_arrays(a: ArrayLike, b: ArrayLike, who: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two variants' per-item scores (in the same item order) and d_i = a_i - b_i."""
    x, y = _arr(a), _arr(b)
    if x.size != y.size:
        raise ValueError(f"{who} needs equal lengths, got {x.size} and {y.size}")
    return x, y, x - y


def paired_difference(a: ArrayLike, b: ArrayLike, alpha: float = ALPHA) -> PairedResult:
    """Paired comparison of per-item scores a_i, b_i (already averaged over seeds/repeats).

    d_i = a_i - b_i; SE = sd(d, ddof=1)/sqrt(n); CI and p from the normal (Miller 2024), with
    scipy's paired t-test (ttest_rel) beside it for small n.
    """
    x, y, d = _paired_arrays(a, b, "paired_difference")
    n = int(d.size)
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


# --- the paired test the report calls its test ------------------------------------------------

EXACT_MAX_SUPPORT = 2_000_000  # sum of |d_i| on the lattice: above it, Monte-Carlo
MC_RESAMPLES = 100_000
ENUMERATE_MAX = 16  # off the lattice, all 2^n sign patterns up to this n
_LATTICE_MAX = 360  # item means over up to this many asks per item (lcm) are exact rationals


def _lattice(d: np.ndarray) -> tuple[np.ndarray, int] | None:
    """d as integers c_i / L when every d_i is such a fraction (item means of 0/1 or 0..1-step
    scores over a few seeds are), else None."""
    for den in range(1, _LATTICE_MAX + 1):
        c = d * den
        r = np.rint(c)
        if np.all(np.abs(c - r) < 1e-7):
            return r.astype(np.int64), den
    return None


@lru_cache(maxsize=8192)
def _null_pmf(groups: tuple[tuple[int, int], ...]) -> np.ndarray:
    """The sign-flip null distribution of T = sum_i s_i |c_i| (s_i = +-1, each with 1/2), for
    groups of (|c|, how many items have it); index k holds P(T = k - sum|c|)."""
    pmf = np.ones(1)
    for c, m in groups:
        # m items of size c: T_group = c (2K - m), K ~ Binomial(m, 1/2)
        kernel = np.zeros(2 * c * m + 1)
        kernel[:: 2 * c] = sps.binom.pmf(np.arange(m + 1), m, 0.5)
        if pmf.size * kernel.size > 5_000_000:
            from scipy.signal import fftconvolve

            pmf = np.clip(fftconvolve(pmf, kernel), 0, None)  # FFT noise below ~1e-15 is cut at 0
        else:
            pmf = np.convolve(pmf, kernel)
    return pmf


@dataclass(frozen=True)
class SignFlip:
    p: float
    method: str  # "exact sign-flip" | "Monte-Carlo sign-flip (B resamples)" | "n/a: ..."


def sign_flip_test(d: ArrayLike, n_resamples: int = MC_RESAMPLES, seed: int = 0) -> SignFlip:
    """Two-sided sign-flip permutation test of mean(d) = 0 on item-level differences (Fisher 1935;
    Good 2005): under the null each d_i is as likely as -d_i, so the p-value is the share of the
    2^n sign patterns whose |sum| reaches the observed one. Exact whenever the d_i lie on a lattice
    (item means over seeds always do), by convolving the per-item +-|c_i| distributions; otherwise
    Monte-Carlo with (1 + hits) / (1 + B), which never gives 0."""
    x = _arr(d)
    x = x[x != 0]  # a zero flips to itself: it adds nothing to any pattern's sum
    if x.size == 0:
        return SignFlip(1.0, "exact sign-flip")
    lat = _lattice(x)
    if lat is not None and int(np.abs(lat[0]).sum()) <= EXACT_MAX_SUPPORT:
        c = np.abs(lat[0])
        vals, counts = np.unique(c, return_counts=True)
        pmf = _null_pmf(tuple(zip(vals.tolist(), counts.tolist())))
        total = int(c.sum())
        t_obs = abs(int(lat[0].sum()))
        support = np.abs(np.arange(-total, total + 1))
        return SignFlip(float(min(1.0, pmf[support >= t_obs].sum())), "exact sign-flip")
    t_obs = abs(float(x.sum()))
    tol = 1e-12 * max(1.0, t_obs)  # the observed pattern itself must count as reaching t_obs
    if x.size <= ENUMERATE_MAX:
        patterns = ((np.arange(2**x.size)[:, None] >> np.arange(x.size)) & 1) * 2 - 1
        return SignFlip(float(np.mean(np.abs(patterns @ x) >= t_obs - tol)), "exact sign-flip")
    rng = np.random.default_rng(seed)
    hits, done, chunk = 0, 0, max(1, 2_000_000 // x.size)
    while done < n_resamples:
        b = min(chunk, n_resamples - done)
        signs = rng.integers(0, 2, size=(b, x.size)) * 2 - 1
        hits += int(np.sum(np.abs(signs @ x) >= t_obs - tol))
        done += b
    return SignFlip((1 + hits) / (1 + n_resamples), f"Monte-Carlo sign-flip ({n_resamples} resamples)")


@dataclass(frozen=True)
class PairedTest:
    n: int
    delta: float
    se: float
    df: int
    t: float
    p_t: float
    ci_low: float
    ci_high: float
    ci_method: str  # "t" | "t, clipped to [-1, 1]" | "zero variance: ..." | "n/a: ..."
    p: float  # the headline: sign-flip
    test: str
    p_z: float
    z: float
    omega2: float
    n_disagree: int


def zero_variance_ci(c: float, n: int, alpha: float = ALPHA) -> tuple[float, float]:
    """Every one of n items differs by the same c (d in [-1, 1]): the t interval is the point c.
    What the data do bound is the share q of the item population that differs otherwise: at most
    1 - (alpha/2)^(1/n) (Clopper-Pearson for 0 of n; the 'rule of three'), and those items can be
    anywhere in [-1, 1], so delta is in [c - q (1 + c), c + q (1 - c)]."""
    q = 1 - (alpha / 2) ** (1 / n)
    return max(-1.0, c - q * (1 + c)), min(1.0, c + q * (1 - c))


def paired_test(a: ArrayLike, b: ArrayLike, alpha: float = ALPHA, bounded: bool = True) -> PairedTest:
    """Item-level paired comparison: d_i = a_i - b_i (item means over seeds/repeats).

    CI = mean(d) +- t_{n-1} sd(d)/sqrt(n) (clipped to [-1, 1] for scores in [0, 1]); p = the exact
    sign-flip test (sign_flip_test). The z-test p (Miller 2024's large-sample form) and the t-test p
    are returned beside it for the CSV; the report's test, and the one corrected, is the sign-flip.
    """
    x, y, d = _paired_arrays(a, b, "paired_test")
    n = int(d.size)
    nan = math.nan
    if n == 0:
        return PairedTest(0, nan, nan, 0, nan, nan, nan, nan, "n/a: no shared items", nan, "n/a", nan, nan,
                          nan, 0)
    delta = float(d.mean())
    n_disagree = int(np.sum(~np.isclose(x, y)))
    flip = sign_flip_test(d)
    if n < 2:
        return PairedTest(n, delta, nan, 0, nan, nan, nan, nan, "n/a: one item", flip.p, flip.method, nan, nan,
                          nan, n_disagree)
    sd = float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    omega2 = sd**2
    df = n - 1
    if se > 0:
        t = delta / se
        p_t = float(2 * sps.t.sf(abs(t), df))
        p_z = float(2 * sps.norm.sf(abs(t)))
        half = t_crit(alpha, df) * se
        lo, hi, how = delta - half, delta + half, "t"
        if bounded and (lo < -1 or hi > 1):
            lo, hi, how = max(-1.0, lo), min(1.0, hi), "t, clipped to [-1, 1]"
        return PairedTest(n, delta, se, df, t, p_t, lo, hi, how, flip.p, flip.method, p_z, t, omega2, n_disagree)
    # No spread: t and z are undefined (0/0 or c/0); the exact test still is.
    p_t = p_z = 1.0 if delta == 0 else nan
    if bounded:
        lo, hi = zero_variance_ci(delta, n, alpha)
        how = "zero variance: share of differing items bounded by Clopper-Pearson 0 of n"
    else:
        lo = hi = nan
        how = "n/a: zero variance"
    return PairedTest(n, delta, 0.0, df, nan, p_t, lo, hi, how, flip.p, flip.method, p_z, nan, 0.0, n_disagree)


def tost(delta: float, se: float, df: int, margin: float) -> float:
    """Two one-sided t-tests (Schuirmann 1987) for |delta| < margin: p = max of the two one-sided
    p-values; small p supports 'no difference larger than the margin'."""
    if not (math.isfinite(delta) and math.isfinite(se)) or df < 1:
        return math.nan
    if se == 0:
        return 0.0 if abs(delta) < margin else 1.0
    p_low = float(sps.t.sf((delta + margin) / se, df))
    p_high = float(sps.t.cdf((delta - margin) / se, df))
    return max(p_low, p_high)


# --- power at the level significance is declared at ------------------------------------------


def corrected_alpha(alpha: float, m: int) -> float:
    """The level the smallest p must reach with m contrasts: alpha/m under Bonferroni, under Holm's
    first step, and under Benjamini-Hochberg when one contrast is real. Power at it is what the
    report's 'significant' needs for a single true effect."""
    return alpha / max(1, m)


def mde_t(omega2: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """MDE with t quantiles: (t_{1-alpha/2, n-1} + t_{power, n-1}) sqrt(omega2 / n)."""
    if n < 2 or not math.isfinite(omega2) or omega2 <= 0:
        return math.nan
    df = n - 1
    return (t_crit(alpha, df) + float(sps.t.ppf(power, df))) * math.sqrt(omega2 / n)


def items_needed(omega2: float, delta: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest whole number of items n with mde_t(omega2, n) <= delta (rounded up, never down):
    starts from the normal formula, then steps up while the t quantiles still ask for more."""
    if delta == 0 or not math.isfinite(omega2) or omega2 <= 0:
        return math.nan
    n = max(2, math.ceil(n_needed(omega2, delta, alpha, power) - 1e-9))
    while mde_t(omega2, n, alpha, power) > abs(delta):
        n += 1
    return float(n)


def power_t(omega2: float, n: int, delta: float, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t-test: P(|T| > t_crit), T noncentral t with n-1 df and
    noncentrality delta / sqrt(omega2 / n)."""
    if n < 2 or not math.isfinite(omega2) or omega2 <= 0:
        return math.nan
    df, crit = n - 1, t_crit(alpha, n - 1)
    ncp = delta / math.sqrt(omega2 / n)
    return float(sps.nct.sf(crit, df, ncp) + sps.nct.cdf(-crit, df, ncp))
