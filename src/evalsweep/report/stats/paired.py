"""Two variants on the same items: the paired difference (normal and t, Miller 2024), the item-level
paired test the report calls its test (Tango's score interval for 0/1 items, else the t interval;
sign-flip p), and McNemar's table and test."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as _sm_mcnemar

from evalsweep.report.stats.base import ALPHA, ArrayLike, as_array, is_binary, t_crit
from evalsweep.report.stats.intervals import normal_ci, stderr_clt
from evalsweep.report.stats.signflip import sign_flip_test
from evalsweep.report.stats.tango import tango_ci

TANGO_SCORE = "tango score"  # paired_test's ci_method when it gives Tango's interval


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
    x, y = as_array(a), as_array(b)
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
    m = as_array(item_means)
    out = np.where(m > 0.5, 1.0, 0.0)
    out[np.isclose(m, 0.5)] = np.nan
    return out


def mcnemar_table(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """2x2 table of 0/1 per-item results: [[both right, a only], [b only, both wrong]]."""
    x, y = as_array(a).astype(bool), as_array(b).astype(bool)
    return np.array(
        [[int(np.sum(x & y)), int(np.sum(x & ~y))], [int(np.sum(~x & y)), int(np.sum(~x & ~y))]]
    )


def mcnemar_test(table: ArrayLike, exact: bool = True) -> tuple[float, float]:
    """(statistic, p) from statsmodels mcnemar; exact binomial by default, else chi2 corrected."""
    res = _sm_mcnemar(np.asarray(table), exact=exact, correction=True)
    return float(res.statistic), float(res.pvalue)


@dataclass(frozen=True)
class PairedTest:
    n: int
    delta: float
    se: float
    df: int
    t: float
    p_t: float
    ci_low: float  # the report's CI: ci_method says which
    ci_high: float
    ci_method: str  # "tango score" | "t" | "t, clipped to [-1, 1]" | "zero variance: ..." | "n/a: ..."
    p: float  # the headline: sign-flip
    test: str
    p_z: float
    z: float
    omega2: float
    n_disagree: int
    ci_t_low: float = math.nan  # the t interval (or the zero-variance bound), for reference beside a score CI
    ci_t_high: float = math.nan


def zero_variance_ci(c: float, n: int, alpha: float = ALPHA) -> tuple[float, float]:
    """Every one of n items differs by the same c (d in [-1, 1]): the t interval is the point c.
    What the data do bound is the share q of the item population that differs otherwise: at most
    1 - (alpha/2)^(1/n) (Clopper-Pearson for 0 of n; the 'rule of three'), and those items can be
    anywhere in [-1, 1], so delta is in [c - q (1 + c), c + q (1 - c)]."""
    q = 1 - (alpha / 2) ** (1 / n)
    return max(-1.0, c - q * (1 + c)), min(1.0, c + q * (1 - c))


def _t_interval(delta: float, se: float, df: int, alpha: float, bounded: bool) -> tuple[float, float, str]:
    half = t_crit(alpha, df) * se
    lo, hi = delta - half, delta + half
    if bounded and (lo < -1 or hi > 1):
        return max(-1.0, lo), min(1.0, hi), "t, clipped to [-1, 1]"
    return lo, hi, "t"


def paired_test(a: ArrayLike, b: ArrayLike, alpha: float = ALPHA, bounded: bool = True) -> PairedTest:
    """Item-level paired comparison: d_i = a_i - b_i (item means over seeds/repeats).

    CI: when both variants' item means are all 0 or 1 (0/1 scores asked once per item, or seeds
    that agree) and the metric is bounded, Tango's score interval for the paired 2x2 table of items
    (tango.tango_ci; Tango 1998). Otherwise mean(d) +- t_{n-1} sd(d)/sqrt(n), clipped to [-1, 1] for
    scores in [0, 1], and the zero-variance bound when every d_i is the same. The t interval (or
    that bound) is kept in ci_t_low/ci_t_high either way. p = the exact sign-flip test
    (sign_flip_test). The z-test p (Miller 2024's large-sample form) and the t-test p are returned
    beside it for the CSV; the report's test, and the one corrected, is the sign-flip.
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
    # the same d on every item has no spread, though its float mean can be an ulp off each d_i
    sd = 0.0 if np.all(d == d[0]) else float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    df = n - 1
    if se > 0:
        t = delta / se
        p_t = float(2 * sps.t.sf(abs(t), df))
        p_z = float(2 * sps.norm.sf(abs(t)))
        t_lo, t_hi, how = _t_interval(delta, se, df, alpha, bounded)
    else:
        # No spread: t and z are undefined (0/0 or c/0); the exact test still is.
        t = nan
        p_t = p_z = 1.0 if delta == 0 else nan
        if bounded:
            t_lo, t_hi = zero_variance_ci(delta, n, alpha)
            how = "zero variance: share of differing items bounded by Clopper-Pearson 0 of n"
        else:
            t_lo = t_hi = nan
            how = "n/a: zero variance"
    lo, hi = t_lo, t_hi
    if bounded and is_binary(x) and is_binary(y):
        lo, hi = tango_ci(int(np.sum(d > 0)), int(np.sum(d < 0)), n, alpha)
        how = TANGO_SCORE
    return PairedTest(n, delta, se, df, t, p_t, lo, hi, how, flip.p, flip.method, p_z, t, sd**2, n_disagree,
                      t_lo, t_hi)
