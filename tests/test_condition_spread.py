"""The effect of a prompt or a seed with its uncertainty (evalsweep.report.stats.conditions), on
synthetic items x conditions tables with a known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalsweep.report.stats.conditions import condition_spread
from evalsweep.report.variants import variant_table

SWEEPS = 150


def table(rng: np.random.Generator, *, items: int, prompts: int, seeds: int, shift: float) -> np.ndarray:
    """Item means over seeds of 0/1 scores; prompt p moves every item's probability by b_p."""
    difficulty = rng.beta(3, 2, size=items)
    b = np.linspace(-shift, shift, prompts)
    prob = np.clip(difficulty[:, None] + b[None, :], 0, 1)
    return rng.binomial(seeds, prob) / seeds


def test_no_prompt_effect_keeps_its_false_positive_rate_and_removes_the_noise() -> None:
    rng = np.random.default_rng(7)
    tables = [table(rng, items=30, prompts=3, seeds=3, shift=0.0) for _ in range(SWEEPS)]
    fits = [condition_spread(t, seed=i) for i, t in enumerate(tables)]
    fpr = np.mean([f.p_value < 0.05 for f in fits])
    assert fpr <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / SWEEPS)
    # the SD of prompt means is all sampling noise here; the component mostly is not
    raw = np.mean([np.std(t.mean(axis=0), ddof=1) for t in tables])
    assert np.mean([f.sd for f in fits]) < raw / 2


def test_a_real_prompt_effect_is_found_and_covered() -> None:
    rng = np.random.default_rng(11)
    true_sd = float(np.std(np.linspace(-0.1, 0.1, 3), ddof=1))
    fits = [condition_spread(table(rng, items=40, prompts=3, seeds=3, shift=0.1), seed=i) for i in range(100)]
    assert np.mean([f.p_value < 0.05 for f in fits]) > 0.8
    assert np.mean([f.ci_low <= true_sd <= f.ci_high for f in fits]) >= 0.88
    assert np.median([f.sd for f in fits]) == pytest.approx(true_sd, abs=0.03)


def test_items_missing_a_prompt_are_left_out_and_degenerate_tables_say_why() -> None:
    t = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, np.nan], [1.0, 1.0]])
    assert condition_spread(t).n_items == 3
    one = condition_spread(np.array([[1.0, 0.0], [np.nan, 1.0]]))
    assert np.isnan(one.sd) and "fewer than 2 items" in one.reason
    # every item gains exactly 0.5 under the second prompt: no noise to test against
    shifted = condition_spread(np.array([[0.0, 0.5], [0.5, 1.0], [0.25, 0.75]]))
    assert shifted.sd == pytest.approx(np.sqrt(0.125)) and np.isnan(shifted.p_value)
    assert "same amount" in shifted.reason
    same = condition_spread(np.array([[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]))
    assert same.sd == 0 and same.p_value == 1.0


def _rows(rng: np.random.Generator, seed_shift: float) -> pd.DataFrame:
    """One variant, 60 items x 3 seeds of 0/1 scores; seed 44 moves every item by seed_shift."""
    p = rng.beta(3, 2, size=60)
    rows = [{"variant": "v", "model": "m", "prompt": "p", "dataset": "d", "cost_usd": 0.0, "item": i, "seed": s,
             "score": float(rng.uniform() < min(1.0, p[i] + (seed_shift if s == 44 else 0.0)))}
            for i in range(60) for s in (42, 43, 44)]
    return pd.DataFrame(rows)


def test_the_variant_table_says_when_a_seed_shifts_every_item() -> None:
    rng = np.random.default_rng(3)
    shifted = variant_table(_rows(rng, 0.35)).iloc[0]
    assert shifted["p_seeds_differ"] < 0.01 and shifted["seed_effect_sd"] > 0.1
    calm = [variant_table(_rows(rng, 0.0)).iloc[0] for _ in range(20)]
    assert np.mean([r["p_seeds_differ"] < 0.05 for r in calm]) <= 0.2
    assert np.median([r["seed_effect_sd"] for r in calm]) < 0.05
