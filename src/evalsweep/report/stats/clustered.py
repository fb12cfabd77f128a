"""Standard errors of a mean clustered by item (seeds and repeats of one item are not independent):
Inspect's form, Miller 2024's, and statsmodels' OLS for checking them."""

from __future__ import annotations

import math

import numpy as np

from evalsweep.report.stats.base import ArrayLike, as_array
from evalsweep.report.stats.intervals import stderr_clt


def _cluster_resid_sums(s: np.ndarray, clusters: ArrayLike) -> np.ndarray:
    _, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    return np.bincount(inverse, weights=s - s.mean())


def stderr_clustered(scores: ArrayLike, clusters: ArrayLike) -> float:
    """SE of the mean, clustered by item (seeds / repeats of one item are not independent).

    sqrt(G/(G-1) * sum_c (sum_{i in c}(s_i - mean))^2) / n: Inspect's form, equal to
    statsmodels OLS cov_type='cluster' on a constant (see stderr_clustered_ols). NaN with fewer
    than two clusters. This is the SE the report uses.
    """
    s = as_array(scores)
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
    s = as_array(scores)
    if s.size < 2 or s.size != np.asarray(clusters).size:
        return math.nan
    r = s - s.mean()
    cross = float(np.sum(_cluster_resid_sums(s, clusters) ** 2) - np.sum(r**2))
    return math.sqrt(stderr_clt(s) ** 2 + cross / s.size**2)


def stderr_clustered_ols(scores: ArrayLike, clusters: ArrayLike) -> float:
    """The same clustered SE from statsmodels (OLS on a constant, cluster-robust covariance)."""
    import statsmodels.api as sm

    s = as_array(scores)
    _, groups = np.unique(np.asarray(clusters), return_inverse=True)
    fit = sm.OLS(s, np.ones((s.size, 1))).fit(cov_type="cluster", cov_kwds={"groups": groups})
    return float(np.asarray(fit.bse)[0])
