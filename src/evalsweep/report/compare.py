"""Tidy rows -> the report's tables for one metric: variants, pairwise differences, prompt
sensitivity, item-level disagreements. Every number comes from evalsweep.report.stats.

Rows whose score is null (the sample errored) are left out of every mean and counted in
n_errors: an error is not a wrong answer, and folding it in would mix provider trouble into
model quality. Another metric (evalsweep.report.metrics) is read the same way, from its own column:
a row without a value for it is left out and counted there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evalsweep.task.fingerprint import short as short_fingerprint
from evalsweep.report.stats.base import ALPHA
from evalsweep.report.stats.conditions import condition_spread
from evalsweep.report.baseline import Baseline, resolve as resolve_baseline
from evalsweep.report.contrasts import (PAIR_ALL_STATUS, PAIR_COLUMNS, ContrastSettings,
                                        pairwise_table as contrast_table)
from evalsweep.report.labels import format_label
from evalsweep.report.load import LoadedRuns
from evalsweep.report.metrics import PRIMARY, Metric, describe, metric_frame
from evalsweep.report.options import ReportOptions
from evalsweep.report.variants import variant_table

__all__ = ["PAIR_ALL_STATUS", "PAIR_COLUMNS", "Comparison", "compare", "pairwise_table", "variant_table"]


@dataclass
class Comparison:
    variants: pd.DataFrame
    pairwise: pd.DataFrame
    sensitivity: pd.DataFrame
    item_means: pd.DataFrame  # index item, one column per variant: mean over seeds/repeats
    disagreements: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    correction: str = "holm"
    mde_delta: float | None = 0.05  # in the metric's units; None: none given for a metric not in [0, 1]
    notes: list[str] = field(default_factory=list)
    baseline: Baseline | None = None  # None: every pair is a contrast
    alpha: float = ALPHA
    equivalence_margin: float | None = None
    metric: Metric = Metric(PRIMARY, PRIMARY, bounded=True, binary=False)
    scale_notes: list[str] = field(default_factory=list)  # what the metric's scale changes in the contrasts
    # With --group-by (evalsweep.report.groups): the field, one row per variant x value, the contrasts per value.
    group_by: str | None = None
    groups: pd.DataFrame | None = None
    group_pairwise: pd.DataFrame | None = None

    @property
    def order(self) -> list[str]:
        return self.variants["variant"].tolist()

    @property
    def settings(self) -> ContrastSettings:
        """How this metric's contrasts are tested: the same for every group's."""
        return ContrastSettings(self.correction, self.mde_delta, self.alpha,  # type: ignore[arg-type]
                                self.equivalence_margin, self.metric.bounded)


def item_means(df: pd.DataFrame) -> pd.DataFrame:
    """Per item and variant: the mean score over seeds and repeats (errored rows left out)."""
    scored = df[df["score"].notna()]
    return scored.pivot_table(index="item", columns="variant", values="score", aggfunc="mean")


def _fingerprints(df: pd.DataFrame, variant: str) -> list[str]:
    fps = df.loc[df["variant"] == variant, "dataset_fingerprint"] if "dataset_fingerprint" in df else pd.Series()
    return sorted(short_fingerprint(f) for f in fps.dropna().unique())


def not_paired_reason(df: pd.DataFrame, a: str, b: str) -> str:
    da = sorted(df.loc[df["variant"] == a, "dataset"].unique())
    db = sorted(df.loc[df["variant"] == b, "dataset"].unique())
    if da != db:
        return f"not paired: different items (dataset {','.join(da)} vs {','.join(db)})"
    fa, fb = _fingerprints(df, a), _fingerprints(df, b)
    if fa and fb and not set(fa) & set(fb):
        return (f"not paired: dataset {','.join(da)} has other contents in each (fingerprint {','.join(fa)} vs "
                f"{','.join(fb)}): the same ids are different questions")
    return "not paired: no shared items with a score in both"


# prompt_sensitivity's columns from evalsweep.report.stats.conditions, by ConditionSpread field.
SPREAD_COLUMNS = {"items_all_prompts": "n_items", "sd_prompt_effect": "sd",
                  "sd_prompt_effect_ci_low": "ci_low", "sd_prompt_effect_ci_high": "ci_high",
                  "p_prompts_differ": "p_value", "prompt_effect_note": "reason"}


def prompt_sensitivity(df: pd.DataFrame, label_keys: list[str]) -> pd.DataFrame:
    """Mean per (everything but the prompt) x prompt, the spread across prompts per row, and the
    prompt effect net of sampling noise with its CI and test (stats.conditions), on item means."""
    if df["prompt"].nunique() < 2:
        return pd.DataFrame()
    rest = [k for k in label_keys if k != "prompt.name" and k in df.columns]
    scored = df[df["score"].notna()].copy()
    if rest == ["model.name"] or not rest:
        scored["group"] = scored["model"]
    else:
        scored["group"] = [format_label(rest, dict(zip(rest, vals)))
                           for vals in scored[rest].itertuples(index=False)]
    table = scored.pivot_table(index="group", columns="prompt", values="score", aggfunc="mean")
    prompts = list(table.columns)
    out = table.rename(columns={p: f"mean_{p}" for p in prompts})
    vals = table.to_numpy(dtype=float)
    counts = np.sum(~np.isnan(vals), axis=1)
    out["n_prompts"] = counts
    out["sd_across_prompts"] = [np.nanstd(r, ddof=1) if c > 1 else math.nan for r, c in zip(vals, counts)]
    out["range_across_prompts"] = [np.nanmax(r) - np.nanmin(r) if c > 0 else math.nan
                                   for r, c in zip(vals, counts)]
    out["best_prompt"] = [prompts[int(np.nanargmax(r))] if c else "" for r, c in zip(vals, counts)]
    out["worst_prompt"] = [prompts[int(np.nanargmin(r))] if c else "" for r, c in zip(vals, counts)]
    spread = {g: condition_spread(t.to_numpy(dtype=float)) for g, t in
              scored.pivot_table(index=["group", "item"], columns="prompt", values="score", aggfunc="mean")
              .reindex(columns=prompts).groupby(level="group")}
    for col, attr in SPREAD_COLUMNS.items():
        out[col] = [getattr(spread[g], attr) for g in out.index]
    out = out.reset_index()
    out.columns.name = None
    return out


def _representative(df: pd.DataFrame, variant: str) -> pd.DataFrame:
    """One output per item for a variant: the first seed/repeat, or the error when it failed."""
    g = df[df["variant"] == variant].sort_values(["item", "seed", "repeat"])
    first = g.drop_duplicates("item", keep="first").set_index("item")
    shown = first["output"].where(first["output"].notna(), "ERROR: " + first["error_type"].fillna("no output"))
    return pd.DataFrame({"output": shown, "target": first["target"], "sample_id": first["sample_id"]})


def disagreements(df: pd.DataFrame, means: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Shared items where a and b differ, the largest gaps first, with both outputs."""
    shared = means[[a, b]].dropna()
    gap = shared[a] - shared[b]
    diff = shared[~np.isclose(gap, 0)].copy()
    if diff.empty:
        return pd.DataFrame(columns=["item", "sample_id", "target", "score_a", "score_b", "diff",
                                     "output_a", "output_b"])
    ra, rb = _representative(df, a), _representative(df, b)
    out = pd.DataFrame({
        "item": diff.index,
        "sample_id": ra.loc[diff.index, "sample_id"].to_numpy(),
        "target": ra.loc[diff.index, "target"].to_numpy(),
        "score_a": diff[a].to_numpy(),
        "score_b": diff[b].to_numpy(),
        "diff": (diff[a] - diff[b]).to_numpy(),
        "output_a": ra.loc[diff.index, "output"].to_numpy(),
        "output_b": rb.loc[diff.index, "output"].to_numpy(),
    })
    out["abs"] = out["diff"].abs()
    out = out.sort_values(["abs", "item"], ascending=[False, True]).drop(columns="abs")
    return out.reset_index(drop=True)


def pairwise_table(df: pd.DataFrame, variants: pd.DataFrame, means: pd.DataFrame,
                   baselines: dict[str, str] | None = None,
                   settings: ContrastSettings = ContrastSettings()) -> pd.DataFrame:
    """The contrasts (every pair, or each variant against its baseline): evalsweep.report.contrasts."""
    return contrast_table(means, variants, lambda a, b: not_paired_reason(df, a, b), baselines, settings)


def compare(loaded: LoadedRuns, options: ReportOptions | None = None, metric: Metric | None = None,
            alpha: float = ALPHA, **changes: Any) -> Comparison:
    """The report's tables for one metric (default: the score). options, or the changes to its
    defaults (correction, mde_delta, baseline, all_pairs, equivalence_margin, ...): baseline (else the
    jobs' spec.baseline) makes the contrasts each variant against it; all_pairs compares every pair
    even then."""
    opts = ReportOptions.of(options, changes)
    base = None if opts.all_pairs else resolve_baseline(loaded, opts.baseline)
    return compare_metric(loaded, metric or describe(loaded.df, PRIMARY), base, opts, alpha)


def _scale_notes(metric: Metric, opts: ReportOptions, delta: float | None, margin: float | None) -> list[str]:
    notes = []
    if delta is None:
        notes.append(f"No difference in {metric.name}'s units to size the sample for (--mde-delta D is in points "
                     f"of a metric in [0, 1]): pass --mde-delta {metric.name}=D for the items needed and the power.")
    if margin is None and opts.equivalence_margin is not None:
        notes.append(f"No TOST for {metric.name}: --equivalence-margin D is in points of a metric in [0, 1]; pass "
                     f"--equivalence-margin {metric.name}=D in its units.")
    return notes


def compare_metric(loaded: LoadedRuns, metric: Metric, base: Baseline | None, opts: ReportOptions,
                   alpha: float = ALPHA) -> Comparison:
    """The tables of one metric, with the baseline already resolved (once for every metric)."""
    df = metric_frame(loaded.df, metric)
    delta, margin = opts.delta_for(metric), opts.margin_for(metric)
    settings = ContrastSettings(opts.correction, delta, alpha, margin, metric.bounded)  # type: ignore[arg-type]
    variants = variant_table(df, alpha, metric.bounded, worst_case=metric.primary)
    means = item_means(df)
    pairwise = pairwise_table(df, variants, means, base.pairs if base else None, settings)
    comp = Comparison(variants, pairwise, prompt_sensitivity(df, loaded.label_keys), means,
                      correction=opts.correction, mde_delta=delta, baseline=base, alpha=alpha,
                      equivalence_margin=margin, metric=metric,
                      scale_notes=_scale_notes(metric, opts, delta, margin))
    for row in pairwise.itertuples(index=False):
        if row.status == PAIR_ALL_STATUS:
            comp.disagreements[(row.a, row.b)] = disagreements(df, means, row.a, row.b)
    not_paired = pairwise[pairwise["status"] != PAIR_ALL_STATUS] if len(pairwise) else pairwise
    for row in not_paired.itertuples(index=False):
        comp.notes.append(f"{row.a} vs {row.b}: {row.status}")
    for v in base.unmatched if base else []:
        comp.notes.append(f"{v}: no baseline variant agrees with it on the settings the baseline does not name")
    return comp
