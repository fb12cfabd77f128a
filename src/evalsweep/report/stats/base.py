"""What every stats file shares: the default alpha and power, array coercion, critical values,
and whether scores are 0/1."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np
from scipy import stats as sps

ArrayLike = Sequence[float] | np.ndarray

ALPHA = 0.05
POWER = 0.8


def as_array(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=float)


@lru_cache(maxsize=256)  # a scipy quantile costs ~50 us; the report and the calibration ask for few levels
def z_crit(alpha: float = ALPHA) -> float:
    """Two-sided normal critical value: 1.959964 for alpha 0.05."""
    return float(sps.norm.ppf(1 - alpha / 2))


def is_binary(scores: ArrayLike) -> bool:
    s = as_array(scores)
    return s.size > 0 and bool(np.all((s == 0) | (s == 1)))


@lru_cache(maxsize=1024)
def t_crit(alpha: float, df: float) -> float:
    """Two-sided Student t critical value with df degrees of freedom (normal when df is infinite)."""
    if not math.isfinite(df):
        return z_crit(alpha)
    return float(sps.t.ppf(1 - alpha / 2, df))
