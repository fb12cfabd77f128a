"""Multiple comparisons: adjusted p-values, and the level the smallest p must reach."""

from __future__ import annotations

from typing import Literal

import numpy as np
from statsmodels.stats.multitest import multipletests

from evalsweep.report.stats.base import ALPHA, ArrayLike, as_array

Correction = Literal["holm", "fdr_bh", "bonferroni"]


def adjust_pvalues(pvalues: ArrayLike, method: Correction = "holm", alpha: float = ALPHA) -> np.ndarray:
    """Multiple-comparison adjustment via statsmodels multipletests, method always named
    (its default is holm-sidak). NaN p-values (pairs that could not be tested) stay NaN and do
    not count as comparisons."""
    p = as_array(pvalues)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], alpha=alpha, method=method)[1]
    return out


def corrected_alpha(alpha: float, m: int) -> float:
    """The level the smallest p must reach with m contrasts: alpha/m under Bonferroni, under Holm's
    first step, and under Benjamini-Hochberg when one contrast is real. Power at it is what the
    report's 'significant' needs for a single true effect."""
    return alpha / max(1, m)
