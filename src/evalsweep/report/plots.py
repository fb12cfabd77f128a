"""PNG (and SVG) plots for the report (matplotlib, Agg backend: no display needed, safe in workers). `what` names
the metric on the axes (the score, or another metric of the rows' scores)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from evalsweep.report.compare import PAIR_ALL_STATUS  # noqa: E402


def _height(n: int) -> float:
    return min(1.2 + 0.45 * max(n, 1), 30.0)


def _save(fig: plt.Figure, path: Path) -> Path:
    """The PNG at 200 dpi, and an SVG of it beside (vector: sharp at any zoom, editable for a paper).
    bbox_inches="tight" grows the canvas to every label, so none is cut."""
    fig.tight_layout()
    fig.savefig(path, dpi=200, bbox_inches="tight")
    fig.savefig(path.with_suffix(".svg"), bbox_inches="tight")
    plt.close(fig)
    return path


def forest_variants(variants: pd.DataFrame, path: Path, what: str = "score") -> Path | None:
    """Variant means with 95% CIs, best at the top."""
    v = variants[variants["mean"].notna()]
    if v.empty:
        return None
    y = np.arange(len(v))[::-1]
    fig, ax = plt.subplots(figsize=(7.5, _height(len(v))))
    lo = (v["mean"] - v["ci_low"]).fillna(0).clip(lower=0)
    hi = (v["ci_high"] - v["mean"]).fillna(0).clip(lower=0)
    ax.errorbar(v["mean"], y, xerr=[lo, hi], fmt="o", color="tab:blue", capsize=4)
    ax.set_yticks(y, v["variant"])
    ax.set_xlabel(f"mean {what} (95% CI, SE clustered by item)")
    ax.set_title("Variant means")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def forest_pairwise(pairwise: pd.DataFrame, path: Path, what: str = "score") -> Path | None:
    """Paired differences a - b with 95% CIs; a line at zero; Holm/BH-significant pairs in red."""
    p = pairwise[pairwise["status"] == PAIR_ALL_STATUS] if len(pairwise) else pairwise
    if p.empty:
        return None
    y = np.arange(len(p))[::-1]
    labels = [f"{a}\nminus {b}" for a, b in zip(p["a"], p["b"])]
    fig, ax = plt.subplots(figsize=(9, _height(len(p)) * 1.4))
    colors = ["tab:red" if s else "tab:gray" for s in p["significant"].fillna(False)]
    for yi, (_, r), c in zip(y, p.iterrows(), colors):
        ax.errorbar(r["delta"], yi, xerr=[[max(r["delta"] - r["ci_low"], 0)], [max(r["ci_high"] - r["delta"], 0)]],
                    fmt="o", color=c, capsize=4)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, labels, fontsize=8)
    corr = str(p["correction"].iloc[0])
    ax.set_xlabel(f"paired difference in mean {what}, a minus b (95% CI)")
    ax.set_title(f"Paired differences on shared items (red: significant after {corr}, sign-flip test)",
                 fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def seed_strip(df: pd.DataFrame, order: list[str], path: Path, what: str = "score") -> Path | None:
    """Per-seed means of each variant as dots, the variant mean as a bar."""
    scored = df[df["score"].notna()]
    if scored.empty:
        return None
    per_seed = scored.groupby(["variant", "seed"])["score"].mean().reset_index()
    fig, ax = plt.subplots(figsize=(7.5, _height(len(order))))
    for i, variant in enumerate(order[::-1]):
        s = per_seed[per_seed["variant"] == variant]
        if s.empty:
            continue
        jitter = np.linspace(-0.15, 0.15, len(s)) if len(s) > 1 else np.zeros(1)
        ax.scatter(s["score"], i + jitter, color="tab:orange", zorder=3, label="seed mean" if i == 0 else None)
        ax.plot([s["score"].mean()] * 2, [i - 0.3, i + 0.3], color="black", lw=1.5)
    ax.set_yticks(range(len(order)), order[::-1])
    ax.set_xlabel(f"mean {what} per seed (bar: mean of seed means)")
    ax.set_title("Spread across seeds")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def item_disagreements(dis: pd.DataFrame, a: str, b: str, path: Path, limit: int = 40,
                       what: str = "score") -> Path | None:
    """Per-item difference a - b on the items where they disagree, largest first."""
    if dis.empty:
        return None
    d = dis.head(limit).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7.5, _height(len(d)) * 0.6 + 1))
    colors = ["tab:green" if x > 0 else "tab:red" for x in d["diff"]]
    ax.barh(range(len(d)), d["diff"], color=colors)
    ax.set_yticks(range(len(d)), d["sample_id"].astype(str), fontsize=7)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"item {what} {a}  minus  {b} (mean over seeds)")
    more = f" (top {limit} of {len(dis)})" if len(dis) > limit else ""
    ax.set_title(f"Items where they disagree{more}", fontsize=10)
    return _save(fig, path)
