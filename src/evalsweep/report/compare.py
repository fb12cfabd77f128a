"""Tidy rows -> the report's tables: variants, pairwise differences, prompt sensitivity,
item-level disagreements. Every number comes from evalsweep.report.stats.

Rows whose score is null (the sample errored) are left out of every mean and counted in
n_errors: an error is not a wrong answer, and folding it in would mix provider trouble into
model quality.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from evalsweep.report import stats
from evalsweep.report.load import LoadedRuns, format_label

PAIR_ALL_STATUS = "paired"


@dataclass
class Comparison:
    variants: pd.DataFrame
    pairwise: pd.DataFrame
    sensitivity: pd.DataFrame
    item_means: pd.DataFrame  # index item, one column per variant: mean over seeds/repeats
    disagreements: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    correction: str = "holm"
    mde_delta: float = 0.05
    notes: list[str] = field(default_factory=list)

    @property
    def order(self) -> list[str]:
        return self.variants["variant"].tolist()


def _join(values: pd.Series) -> str:
    uniq = sorted({str(v) for v in values.dropna().unique()})
    return ",".join(uniq)


def variant_table(df: pd.DataFrame, alpha: float = stats.ALPHA) -> pd.DataFrame:
    """One row per variant, best mean first."""
    rows = []
    for variant, g in df.groupby("variant", sort=True):
        scored = g[g["score"].notna()]
        est = stats.estimate_mean(scored["score"].to_numpy(), scored["item"].to_numpy(), alpha)
        seed_sd, seed_note = stats.seed_spread(scored["score"].to_numpy(), scored["seed"].to_numpy())
        notes = [n for n in (seed_note,) if n]
        if est.ci_method.startswith("n/a") and est.ci_method[len("n/a: "):] not in notes:
            notes.append(est.ci_method[len("n/a: "):])
        n_errors = int(g["score"].isna().sum())
        if n_errors:
            notes.append(f"{n_errors} errored rows left out")
        rows.append({
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
            "seeds": ",".join(str(s) for s in sorted(g["seed"].unique())),
            "seed_sd": seed_sd,
            "binary": stats.is_binary(scored["score"].to_numpy()),
            "cost_usd": float(np.nansum(g["cost_usd"].to_numpy())),
            "note": "; ".join(notes),
        })
    out = pd.DataFrame(rows)
    out = out.sort_values(["mean", "variant"], ascending=[False, True], na_position="last")
    out.insert(0, "rank", range(1, len(out) + 1))
    return out.reset_index(drop=True)


def item_means(df: pd.DataFrame) -> pd.DataFrame:
    """Per item and variant: the mean score over seeds and repeats (errored rows left out)."""
    scored = df[df["score"].notna()]
    return scored.pivot_table(index="item", columns="variant", values="score", aggfunc="mean")


def _not_paired_reason(df: pd.DataFrame, a: str, b: str) -> str:
    da = sorted(df.loc[df["variant"] == a, "dataset"].unique())
    db = sorted(df.loc[df["variant"] == b, "dataset"].unique())
    if da != db:
        return f"not paired: different items (dataset {','.join(da)} vs {','.join(db)})"
    return "not paired: no shared items with a score in both"


def _pair_row(df: pd.DataFrame, means: pd.DataFrame, a: str, b: str, binary: dict[str, bool],
              mde_delta: float, alpha: float) -> dict:
    col_a = means[a] if a in means else pd.Series(dtype=float)
    col_b = means[b] if b in means else pd.Series(dtype=float)
    shared = col_a.notna() & col_b.notna()
    n_a, n_b, n = int(col_a.notna().sum()), int(col_b.notna().sum()), int(shared.sum())
    row: dict = {"a": a, "b": b, "n_shared": n, "n_a_items": n_a, "n_b_items": n_b}
    if n == 0:
        row["status"] = _not_paired_reason(df, a, b)
        return row
    x, y = col_a[shared].to_numpy(), col_b[shared].to_numpy()
    res = stats.paired_difference(x, y, alpha)
    notes = []
    if n < max(n_a, n_b):
        notes.append(f"compared on the {n} shared items ({a}: {n_a}, {b}: {n_b})")
    if n < 30:
        notes.append("fewer than 30 items: read p_t (t-test) rather than p")
    if math.isnan(res.p_z) and n >= 2:
        notes.append("same gap on every item: no variance to test")
    row.update({
        "status": PAIR_ALL_STATUS,
        "delta": res.delta, "se": res.se_paired, "ci_low": res.ci_low, "ci_high": res.ci_high,
        "z": res.z, "p": res.p_z, "p_t": res.p_t, "ci_t_low": res.ci_t_low, "ci_t_high": res.ci_t_high,
        "se_unpaired": res.se_unpaired, "correlation": res.correlation, "omega2": res.omega2,
        "n_disagree": res.n_disagree,
    })
    if binary.get(a) and binary.get(b):
        ba, bb = stats.binarize_majority(x), stats.binarize_majority(y)
        keep = ~(np.isnan(ba) | np.isnan(bb))
        table = stats.mcnemar_table(ba[keep], bb[keep])
        discordant = int(table[0, 1] + table[1, 0])
        p_mc = stats.mcnemar_test(table, exact=True)[1] if discordant else 1.0
        row.update({"a_only": int(table[0, 1]), "b_only": int(table[1, 0]), "p_mcnemar": p_mc,
                    "mcnemar_ties": int((~keep).sum())})
        if (~keep).any():
            notes.append(f"{int((~keep).sum())} items tied across seeds left out of McNemar")
    row.update({
        "mde": stats.mde(res.omega2, n, alpha),
        "mde_delta": mde_delta,
        "n_needed": stats.n_needed(res.omega2, mde_delta, alpha),
        "power": stats.power_at_n(res.omega2, n, mde_delta, alpha),
        "note": "; ".join(notes),
    })
    return row


PAIR_COLUMNS = [
    "a", "b", "status", "n_shared", "n_a_items", "n_b_items", "delta", "se", "ci_low", "ci_high",
    "z", "p", "p_adj", "correction", "significant", "p_t", "ci_t_low", "ci_t_high", "se_unpaired",
    "correlation", "omega2", "n_disagree", "a_only", "b_only", "p_mcnemar", "mcnemar_ties",
    "mde", "mde_delta", "n_needed", "power", "note",
]


def pairwise_table(df: pd.DataFrame, variants: pd.DataFrame, means: pd.DataFrame,
                   correction: stats.Correction = "holm", mde_delta: float = 0.05,
                   alpha: float = stats.ALPHA) -> pd.DataFrame:
    """Every pair of variants (a ranked above b) on their shared items, p adjusted across pairs."""
    order = variants["variant"].tolist()
    binary = dict(zip(variants["variant"], variants["binary"]))
    rows = [_pair_row(df, means, a, b, binary, mde_delta, alpha) for a, b in combinations(order, 2)]
    out = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    if out.empty:
        return out
    out["p_adj"] = stats.adjust_pvalues(out["p"].to_numpy(dtype=float), correction, alpha)
    out["correction"] = correction
    out["significant"] = out["p_adj"] < alpha
    return out


def prompt_sensitivity(df: pd.DataFrame, label_keys: list[str]) -> pd.DataFrame:
    """Mean per (everything but the prompt) x prompt, and the spread across prompts per row."""
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


def compare(loaded: LoadedRuns, correction: stats.Correction = "holm", mde_delta: float = 0.05,
            alpha: float = stats.ALPHA) -> Comparison:
    df = loaded.df
    variants = variant_table(df, alpha)
    means = item_means(df)
    pairwise = pairwise_table(df, variants, means, correction, mde_delta, alpha)
    comp = Comparison(variants, pairwise, prompt_sensitivity(df, loaded.label_keys), means,
                      correction=correction, mde_delta=mde_delta)
    for row in pairwise.itertuples(index=False):
        if row.status == PAIR_ALL_STATUS:
            comp.disagreements[(row.a, row.b)] = disagreements(df, means, row.a, row.b)
    not_paired = pairwise[pairwise["status"] != PAIR_ALL_STATUS] if len(pairwise) else pairwise
    for row in not_paired.itertuples(index=False):
        comp.notes.append(f"{row.a} vs {row.b}: {row.status}")
    return comp
