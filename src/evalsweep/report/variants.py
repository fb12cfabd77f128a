"""The variants table: one row per variant, item-weighted like the paired deltas.

Each item's mean over its seeds and repeats first, then the mean over items: an item asked more
often (extra seeds on easy items, errors on hard ones) weighs no more than any other, so the
ranking here and the sign of a paired delta (evalsweep.report.contrasts) cannot disagree on the
same items. The CI stays inside [0, 1] for a metric in [0, 1] (stats.intervals.estimate_mean) and is
mean +- t SE, in the metric's units, for any other.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from evalsweep.report.stats.base import ALPHA, is_binary
from evalsweep.report.stats.conditions import ConditionSpread, condition_spread
from evalsweep.report.stats.intervals import MeanEstimate, estimate_mean, item_means_of, seed_spread


def _join(values: pd.Series) -> str:
    return ",".join(sorted({str(v) for v in values.dropna().unique()}))


def variance_split(scores: np.ndarray, items: np.ndarray) -> dict[str, float]:
    """Within-item (seed/repeat) and between-item variance of the item-weighted mean (Miller 2024,
    section 3: Var(mean) = (sigma2_between + sigma2_within / K) / n), and the SE with one more ask
    per item or with ten more items. NaN where an item was asked only once (no within-item part)."""
    ybar, counts = item_means_of(scores, items)
    n = ybar.size
    out = dict.fromkeys(("var_within", "var_between", "se_one_more_seed", "se_ten_more_items"), math.nan)
    if n < 2 or np.all(counts < 2):
        return out
    _, inverse = np.unique(items, return_inverse=True)
    dev2 = np.bincount(inverse, weights=(scores - ybar[inverse]) ** 2)
    many = counts >= 2
    within = float(np.mean(dev2[many] / (counts[many] - 1)))
    k = float(np.mean(counts))
    between = max(0.0, float(ybar.var(ddof=1)) - within / k)
    out.update(var_within=within, var_between=between,
               se_one_more_seed=math.sqrt((between + within / (k + 1)) / n),
               se_ten_more_items=math.sqrt((between + within / k) / (n + 10)))
    return out


def _worst_case(g: pd.DataFrame, alpha: float, bounded: bool | None) -> MeanEstimate:
    """The same estimate with errored samples scored as the metric's worst value (0 for scores in
    [0, 1], else the lowest score seen): how much the ranking leans on leaving errors out."""
    s = g["score"]
    seen = s.dropna()
    if bounded is None:
        bounded = seen.empty or bool(seen.min() >= 0 and seen.max() <= 1)
    worst = 0.0 if bounded else float(seen.min())
    return estimate_mean(s.fillna(worst).to_numpy(dtype=float), g["item"].to_numpy(), alpha, bounded)


def _seed_effect(scored: pd.DataFrame) -> ConditionSpread:
    """Whether the seed moves the score beyond sampling noise: the seed as a condition of the
    items x seeds table (item means over repeats), on the items asked under every seed."""
    if scored.empty:
        return condition_spread(np.empty((0, 0)))
    table = scored.pivot_table(index="item", columns="seed", values="score", aggfunc="mean")
    return condition_spread(table.to_numpy(dtype=float), with_ci=False)


def variant_table(df: pd.DataFrame, alpha: float = ALPHA, bounded: bool | None = None,
                  worst_case: bool = True) -> pd.DataFrame:
    """One row per variant, highest item-weighted mean first.

    bounded: the metric lies in [0, 1] (None: decided from each variant's scores). worst_case: rows
    without a value are errors of a metric where higher is better (the row's score), so the note also
    gives the mean with them at the worst value; for another metric which end is worse is unknown."""
    rows = []
    for variant, g in df.groupby("variant", sort=True):
        scored = g[g["score"].notna()]
        s, items = scored["score"].to_numpy(dtype=float), scored["item"].to_numpy()
        est = estimate_mean(s, items, alpha, bounded)
        seed_sd, seed_note = seed_spread(s, scored["seed"].to_numpy())
        seeds = _seed_effect(scored)
        notes = [n for n in (seed_note,) if n]
        if est.ci_method.startswith("n/a") and est.ci_method[len("n/a: "):] not in notes:
            notes.append(est.ci_method[len("n/a: "):])
        unscored = g["score"].isna()
        # An errored row (the request or the scorer failed) is not a row the metric leaves undefined
        # (a flip rate given a right first answer, for a first answer that was wrong).
        failed = unscored & g["error_type"].notna() if worst_case and "error_type" in g else unscored
        n_errors, n_undefined = int(failed.sum()), int((unscored & ~failed).sum())
        worst = _worst_case(g[~(unscored & ~failed)], alpha, bounded) if n_errors and worst_case else None
        if worst is not None:
            notes.append(f"{n_errors} errored rows left out (counted as wrong: {worst.mean:.3f})")
        elif n_errors and not worst_case:
            notes.append(f"{n_errors} rows without a value left out")
        if n_undefined:
            notes.append(f"{n_undefined} rows where the metric is not defined left out")
        counts = scored.groupby("item").size()
        if len(counts) and counts.nunique() > 1:
            notes.append(f"items asked {counts.min()} to {counts.max()} times: each item weighs the same")
        row = {
            "variant": variant,
            "model": _join(g["model"]),
            "prompt": _join(g["prompt"]),
            "dataset": _join(g["dataset"]),
            "mean": est.mean,
            "se": est.se,
            "ci_low": est.ci_low,
            "ci_high": est.ci_high,
            "ci_method": est.ci_method,
            "n_items": est.n_items,
            "n_obs": est.n_obs,
            "n_errors": n_errors,
            "n_seeds": int(g["seed"].nunique()),
            "seeds": ",".join(str(x) for x in sorted(g["seed"].unique())),
            "seed_sd": seed_sd,
            "seed_effect_sd": seeds.sd,
            "p_seeds_differ": seeds.p_value,
            "binary": is_binary(s),
            "cost_usd": float(np.nansum(g["cost_usd"].to_numpy())),
            "mean_obs": est.mean_obs,
            "n_eff": est.n_eff,
            "mean_errors_as_wrong": worst.mean if worst else math.nan,
            "ci_low_errors_as_wrong": worst.ci_low if worst else math.nan,
            "ci_high_errors_as_wrong": worst.ci_high if worst else math.nan,
            **(variance_split(s, items) if s.size else {}),
            "note": "; ".join(notes),
        }
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out = out.sort_values(["mean", "variant"], ascending=[False, True], na_position="last")
    out.insert(0, "rank", range(1, len(out) + 1))
    return out.reset_index(drop=True)
