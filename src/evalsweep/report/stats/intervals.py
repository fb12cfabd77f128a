"""One variant: its item-weighted mean, standard errors and confidence intervals (Wilson, design
effect, t), and the spread of its per-seed means."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.proportion import proportion_confint

from evalsweep.report.stats.base import ALPHA, ArrayLike, as_array, is_binary, t_crit, z_crit


def stderr_clt(scores: ArrayLike) -> float:
    """sd(ddof=1)/sqrt(n): the naive SE, right only when every score is an independent item."""
    s = as_array(scores)
    if s.size < 2:
        return math.nan
    return float(s.std(ddof=1) / math.sqrt(s.size))


def stderr_binomial(scores: ArrayLike) -> float:
    """sqrt(p(1-p)/n) for 0/1 scores (the textbook binomial SE, ddof=0)."""
    s = as_array(scores)
    if s.size == 0:
        return math.nan
    p = float(s.mean())
    return math.sqrt(p * (1 - p) / s.size)


def normal_ci(mean: float, se: float, alpha: float = ALPHA) -> tuple[float, float]:
    half = z_crit(alpha) * se
    return mean - half, mean + half


def proportion_ci(count: int, nobs: int, method: str = "wilson", alpha: float = ALPHA) -> tuple[float, float]:
    """Binomial CI via statsmodels proportion_confint ('wilson', or 'beta' = Clopper-Pearson)."""
    if nobs <= 0:
        return math.nan, math.nan
    lo, hi = proportion_confint(count, nobs, alpha=alpha, method=method)
    return float(lo), float(hi)


def item_means_of(scores: ArrayLike, items: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Per item: the mean over its seeds and repeats, and how many observations it had."""
    s = as_array(scores)
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


def estimate_mean(scores: ArrayLike, items: ArrayLike, alpha: float = ALPHA,
                  bounded: bool | None = None) -> MeanEstimate:
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
    Scores outside [0, 1]: mean +- t_{G-1} SE. bounded says whether the metric lies in [0, 1] (the
    report decides it from all of a metric's values, not one variant's); None: from these scores.
    """
    s = as_array(scores)
    it = np.asarray(items)
    n_obs = int(s.size)
    if n_obs == 0:
        return MeanEstimate(math.nan, math.nan, math.nan, math.nan, "n/a: no scored rows", 0, 0)
    ybar, counts = item_means_of(s, it)
    n_items = int(ybar.size)
    mean = float(ybar.mean())
    se = float(ybar.std(ddof=1) / math.sqrt(n_items)) if n_items >= 2 else math.nan
    base = {"n_items": n_items, "n_obs": n_obs, "mean_obs": float(s.mean())}
    if bounded is None:
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
    s = as_array(scores)
    sd = np.asarray(seeds)
    if s.size == 0:
        return math.nan, "no scored rows"
    keys, inverse = np.unique(sd, return_inverse=True)
    if keys.size < 2:
        return math.nan, "one seed: no seed spread"
    sums = np.bincount(inverse, weights=s)
    counts = np.bincount(inverse)
    return float(np.std(sums / counts, ddof=1)), ""
