"""Calibration of the report's intervals and test on synthetic sweeps with a known truth.

Each sweep draws items from a population (logit p_i ~ N(m, 1)), asks each item K times (seeds) with
0/1 scores, and estimates with the report's own functions (stats.estimate_mean, stats.paired_test).
The truth is the population mean, computed by Gauss-Hermite quadrature. m is jittered per
repetition around the target (mean near 0.5 or near 0.95): with 0/1 scores and few items the
coverage of any non-randomised interval jumps with the exact p (at 10 items and p = 0.95 only 0.914
or 0.988 are possible; Brown, Cai and DasGupta 2001), so coverage is judged over a neighbourhood.

Requirements (issue 18): coverage of the 95% CIs of means and paired deltas in [0.93, 0.97] (at
delta 0 a higher coverage passes when the false-positive rate is in bounds); the paired test's
false-positive rate at delta 0 at most 0.06; REPS large enough that the Monte-Carlo SE of each figure
is below 0.01. Four near-ceiling figures stay above the band with every defensible interval
(OVER_COVER says why). The figures are in docs/statistics.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from scipy.special import expit

from evalsweep.report.stats import base, intervals, paired

REPS = 1000  # Monte-Carlo SE: sqrt(0.95 * 0.05 / 1000) = 0.0069 for coverage, 0.0069 for an FPR of 0.05
ITEMS = (10, 20, 50)
SEEDS = (1, 3)
TARGETS = {"mid": 0.0, "ceiling": 3.45}  # logit-normal centre: population means about 0.5 and 0.95
JITTER = 0.4  # +- on the logit centre, per repetition
NOISE = 0.7  # per-variant item noise on the logit scale (A and B agree on an item, but not fully)
SHIFT = 0.4  # B - A on the logit scale, for the coverage of a non-zero delta
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(80)


def pop_mean(centre: np.ndarray, sd: float) -> np.ndarray:
    """E[expit(N(centre, sd))], by Gauss-Hermite (probabilists') quadrature."""
    return expit(centre[:, None] + sd * _GH_X[None, :]) @ _GH_W / math.sqrt(2 * math.pi)


@dataclass
class Figures:
    cover_mean: float
    cover_delta0: float
    cover_delta: float
    fpr: float
    mean_ci_out_of_range: int


def _scores(rng: np.random.Generator, p: np.ndarray, k: int) -> np.ndarray:
    """(reps, items, k) 0/1 scores."""
    return (rng.uniform(size=p.shape + (k,)) < p[..., None]).astype(float)


def simulate(n: int, k: int, target: str, seed: int = 0) -> Figures:
    rng = np.random.default_rng([n, k, int(TARGETS[target] * 100), seed])
    centre = TARGETS[target] + rng.uniform(-JITTER, JITTER, REPS)
    theta = centre[:, None] + rng.normal(size=(REPS, n))
    # variant means: A alone
    pa = expit(theta + NOISE * rng.normal(size=(REPS, n)))
    truth_a = pop_mean(centre, math.sqrt(1 + NOISE**2))
    ya = _scores(rng, pa, k)
    # B with the same item effects: exchangeable with A (delta 0), and shifted (delta != 0)
    yb0 = _scores(rng, expit(theta + NOISE * rng.normal(size=(REPS, n))), k)
    shift = -SHIFT if target == "ceiling" else SHIFT
    yb1 = _scores(rng, expit(theta + shift + NOISE * rng.normal(size=(REPS, n))), k)
    truth_d1 = truth_a - pop_mean(centre + shift, math.sqrt(1 + NOISE**2))
    items = np.repeat(np.arange(n), k)
    cover_mean = cover0 = cover1 = reject0 = out = 0
    for r in range(REPS):
        est = intervals.estimate_mean(ya[r].ravel(), items)
        cover_mean += est.ci_low <= truth_a[r] <= est.ci_high
        out += not (0 <= est.ci_low <= est.ci_high <= 1)
        ma, m0, m1 = ya[r].mean(axis=1), yb0[r].mean(axis=1), yb1[r].mean(axis=1)
        t0 = paired.paired_test(ma, m0)
        cover0 += t0.ci_low <= 0 <= t0.ci_high
        reject0 += t0.p < base.ALPHA
        t1 = paired.paired_test(ma, m1)
        cover1 += t1.ci_low <= truth_d1[r] <= t1.ci_high
    return Figures(cover_mean / REPS, cover0 / REPS, cover1 / REPS, reject0 / REPS, out)


class OverCoverage(AssertionError):
    """A figure above the band that OVER_COVER expects, for the reason it gives."""


# Near the ceiling with 10-20 items these figures over-cover with every defensible interval tried
# (docs/statistics.md, "Calibration", has the numbers). Each is a strict xfail that only an
# OverCoverage of exactly these figures satisfies: every other check of the case still fails the test.
OVER_COVER: dict[tuple[int, int, str], tuple[frozenset[str], str]] = {
    (10, 1, "ceiling"): (frozenset({"delta"}), (
        "the true delta is 0.022, a fifth of one item (0.1); 88% of sweeps have 0-2 items where A and B "
        "differ and McNemar's score test rejects delta = 0 in 0.3%, so an interval that keeps 0 whenever "
        "a 5% test cannot reject it almost never misses 0.022: Tango 0.999, t 0.997, Newcombe 10 0.997, "
        "Agresti-Min and Bonett-Price 0.999")),
    (20, 1, "ceiling"): (frozenset({"delta"}), (
        "57% of sweeps have 0-2 differing items and McNemar's score test rejects delta = 0 in 3.2%: "
        "Tango 0.991, t 0.985, Newcombe 10 and Agresti-Min 0.991, Bonett-Price 0.998")),
    (10, 3, "ceiling"): (frozenset({"delta"}), (
        "48% of sweeps have 0-2 differing items and the t-test rejects delta = 0 in 2.4%: t 0.986, "
        "Tango at a design-effect n 0.987; only pooling the 30 asks as independent pairs reaches 0.966, "
        "and that interval covers 0.88 at the mid")),
    (20, 3, "ceiling"): (frozenset({"mean"}), (
        "5% of sweeps score all 60 asks 1, and the CI then counts the 20 items as the trials "
        "([0.839, 1]): nothing shows how far the seeds agree. Counting the 60 asks (design effect 1) "
        "gives 0.967 here but 0.73 when seeds agree on every item (temperature 0, 93% accuracy)")),
}
CASES = [pytest.param(n, k, t, id=f"{n}items-{k}seeds-{t}",
                      marks=[pytest.mark.xfail(strict=True, raises=OverCoverage, reason=OVER_COVER[n, k, t][1])]
                      if (n, k, t) in OVER_COVER else [])
         for n in ITEMS for k in SEEDS for t in TARGETS]


@pytest.mark.parametrize(("n", "k", "target"), CASES)
def test_calibration(n: int, k: int, target: str) -> None:
    f = simulate(n, k, target)
    print(f"calibration n={n} k={k} {target}: mean {f.cover_mean:.3f} delta0 {f.cover_delta0:.3f} "
          f"delta {f.cover_delta:.3f} fpr {f.fpr:.3f}")
    assert math.sqrt(0.95 * 0.05 / REPS) < 0.01
    assert f.mean_ci_out_of_range == 0
    assert f.cover_mean >= 0.93 and f.cover_delta >= 0.93, f
    assert 0.93 <= f.cover_delta0 <= 0.97 or (f.cover_delta0 > 0.97 and f.fpr <= 0.06), f
    assert f.fpr <= 0.06, f
    # last, so that an expected over-coverage cannot hide a failure of the checks above
    over = frozenset(name for name, cover in (("mean", f.cover_mean), ("delta", f.cover_delta)) if cover > 0.97)
    expected = OVER_COVER.get((n, k, target), (frozenset(), ""))[0]
    assert over == expected, f"over-covering {sorted(over)}, OVER_COVER expects {sorted(expected)}: {f}"
    if over:
        raise OverCoverage(f"{sorted(over)} above 0.97 (OVER_COVER): {f}")
