"""The sign-flip permutation test on item-level differences: exact on a lattice (item means over
seeds always are), by enumeration for a few items, else Monte-Carlo."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats as sps

from evalsweep.report.stats.base import ArrayLike, as_array

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
    x = as_array(d)
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
