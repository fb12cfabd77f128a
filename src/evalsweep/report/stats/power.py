"""Power of the paired comparison (Miller 2024, K=1, omega2 = Var(a_i - b_i)): items needed,
minimum detectable difference and power, with normal quantiles and with t quantiles."""

from __future__ import annotations

import math

from scipy import stats as sps

from evalsweep.report.stats.base import ALPHA, POWER, t_crit, z_crit


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


# With t quantiles, at the level significance is declared at (multitest.corrected_alpha).
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
