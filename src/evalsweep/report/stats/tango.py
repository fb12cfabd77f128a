"""Tango's score interval for the difference of two paired proportions (Tango 1998): the report's CI
of a paired delta when both variants score every item 0 or 1 (one ask per item, or seeds that agree)."""

from __future__ import annotations

import math

from scipy.optimize import brentq

from evalsweep.report.stats.base import ALPHA, z_crit

_EDGE = 1e-12  # the search stays inside (-1, 1), where the constrained MLE below is the right root


def tango_statistic(delta0: float, b: float, c: float, n: float) -> float:
    """Tango's score statistic for H0: p12 - p21 = delta0 in the paired 2x2 table of n items, b of
    them scored 1 by a only (p12) and c by b only (p21):

        T = (b - c - n delta0) / sqrt(n (2 p21~ + delta0 (1 - delta0))),

    p21~ the MLE of p21 under H0, the positive root of 2n p^2 + B p + C = 0 with
    B = -b - c + (2n - b + c) delta0 and C = -c delta0 (1 - delta0). At delta0 = 0 it is McNemar's
    (b - c) / sqrt(b + c)."""
    quad_a = 2 * n
    quad_b = -b - c + (2 * n - b + c) * delta0
    quad_c = -c * delta0 * (1 - delta0)
    p21 = (math.sqrt(max(quad_b * quad_b - 4 * quad_a * quad_c, 0.0)) - quad_b) / (2 * quad_a)
    var = n * (2 * p21 + delta0 * (1 - delta0))
    num = b - c - n * delta0
    if var <= 0:  # only at a bound the table sits on: no spread left, the sign decides
        return math.copysign(math.inf, num) if num else 0.0
    return num / math.sqrt(var)


def _lower(b: float, c: float, n: float, z: float) -> float:
    """The delta0 below the estimate where T = z (T falls as delta0 rises), or -1 if T stays under z."""
    est = (b - c) / n
    lo_end = -1 + _EDGE
    if est <= lo_end or tango_statistic(lo_end, b, c, n) <= z:
        return -1.0
    return float(brentq(lambda d0: tango_statistic(d0, b, c, n) - z, lo_end, est, xtol=1e-13, rtol=1e-13))


def tango_ci(b: float, c: float, n: float, alpha: float = ALPHA) -> tuple[float, float]:
    """Tango's score CI for p12 - p21: every delta0 whose score test |T| < z_{1-alpha/2}.

    Stays in [-1, 1], is not a point when b = c = 0 (+-z^2/(n + z^2)), is monotone in b and c, and
    excludes 0 exactly when McNemar's uncorrected score test rejects. Computed by root-finding;
    the upper end is minus the lower end of the table read the other way (b and c swapped)."""
    if n <= 0 or b < 0 or c < 0 or b + c > n:
        return math.nan, math.nan
    z = z_crit(alpha)
    return _lower(b, c, n, z), -_lower(c, b, n, z)
