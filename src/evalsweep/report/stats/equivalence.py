"""Equivalence: two one-sided t-tests (TOST) for 'no difference larger than the margin'."""

from __future__ import annotations

import math

from scipy import stats as sps


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
