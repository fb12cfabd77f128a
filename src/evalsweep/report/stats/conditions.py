"""How much a condition (the prompt, the seed) moves a score, with its uncertainty: the
between-condition SD as a variance component of the items x conditions table, its item-bootstrap
CI, and a within-item permutation test of "the conditions do not differ".

Why not the SD of the condition means (prompt means, say): each carries sampling noise (var_e / n), so that SD
is above 0 even when every condition is the same, and more so with fewer items. The two-way
random-effects model y_ip = mu + a_i + b_p + e_ip (item i, condition p; y = the item's mean in that
condition) separates them: with MS_p and MS_e the condition and residual mean squares of the
table, E[MS_p] = var_e + n var_b and E[MS_e] = var_e, so var_b = (MS_p - MS_e) / n, truncated at 0
(the ANOVA / method-of-moments estimator; Searle, Casella & McCulloch 1992, "Variance Components",
section 4.7). Items are the unit of resampling, as everywhere in the report (Miller 2024, section 2.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalsweep.report.stats.base import ALPHA

BOOTSTRAP_RESAMPLES = 2000
PERMUTATIONS = 4000
CHUNK_CELLS = 2_000_000  # resampled tables are built this many cells at a time (memory stays ~50 MB)


@dataclass(frozen=True)
class ConditionSpread:
    n_items: int  # items with a score under every condition: the table the estimates use
    n_conditions: int
    sd: float  # between-condition SD net of sampling noise (0 when the noise explains the spread)
    ci_low: float
    ci_high: float
    p_value: float  # within-item permutation test of "no effect"; nan when it cannot be tested
    reason: str = ""  # why a figure is nan


def _mean_squares(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MS_condition and MS_residual of (..., n, P) tables, over the last two axes."""
    n, p = y.shape[-2], y.shape[-1]
    grand = y.mean(axis=(-2, -1), keepdims=True)
    col = y.mean(axis=-2, keepdims=True)
    row = y.mean(axis=-1, keepdims=True)
    ms_p = n * ((col - grand) ** 2).sum(axis=(-2, -1)) / (p - 1)
    ms_e = ((y - row - col + grand) ** 2).sum(axis=(-2, -1)) / ((n - 1) * (p - 1))
    return ms_p, ms_e


def _sd_component(ms_p: np.ndarray, ms_e: np.ndarray, n: int) -> np.ndarray:
    return np.sqrt(np.maximum(ms_p - ms_e, 0.0) / n)


def condition_spread(table: np.ndarray, *, alpha: float = ALPHA, seed: int = 0, with_ci: bool = True) -> ConditionSpread:
    """table: one row per item, one column per condition (item means); rows with a nan are dropped.
    with_ci=False skips the bootstrap (ci_low/high nan) where only the estimate and test are shown."""
    y = np.asarray(table, dtype=float)
    y = y[~np.isnan(y).any(axis=1)]
    n, p = y.shape
    if p < 2 or n < 2:
        why = "fewer than 2 items scored under every condition" if p >= 2 else "one condition only"
        return ConditionSpread(n, p, float("nan"), float("nan"), float("nan"), float("nan"), why)
    ms_p, ms_e = _mean_squares(y)
    sd = float(_sd_component(ms_p, ms_e, n))
    rng = np.random.default_rng(seed)
    step = max(1, CHUNK_CELLS // (n * p))
    lo = hi = float("nan")
    if with_ci:
        bs = np.concatenate([_sd_component(*_mean_squares(y[rng.integers(0, n, size=(min(step, BOOTSTRAP_RESAMPLES - i), n))]), n)
                             for i in range(0, BOOTSTRAP_RESAMPLES, step)])
        lo, hi = np.quantile(bs, [alpha / 2, 1 - alpha / 2])
    if float(ms_p) == 0.0:
        return ConditionSpread(n, p, sd, float(lo), float(hi), 1.0)
    if float(ms_e) == 0.0:
        # Every item moves by the same amount under each condition: no noise to compare against.
        return ConditionSpread(n, p, sd, float(lo), float(hi), float("nan"),
                            "no within-item noise: every item differs between them by the same amount")
    # Under "no effect" the conditions are exchangeable within each item.
    hits = 0
    for i in range(0, PERMUTATIONS, step):
        k = min(step, PERMUTATIONS - i)
        order = np.argsort(rng.random((k, n, p)), axis=-1)
        null_ms_p, _ = _mean_squares(np.take_along_axis(np.broadcast_to(y, (k, n, p)), order, axis=-1))
        hits += int(np.sum(null_ms_p >= ms_p * (1 - 1e-12)))
    p_value = (1 + hits) / (PERMUTATIONS + 1)
    return ConditionSpread(n, p, sd, float(lo), float(hi), p_value)
