"""The report's content as a list of blocks, rendered to Markdown and to one self-contained HTML
file (images as base64 data URIs). Both come from the same blocks, so they say the same thing."""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import pandas as pd

from evalsweep.report.compare import PAIR_ALL_STATUS, Comparison
from evalsweep.report.load import LoadedRuns

SIMULATED_LINE = "Results from the evalsweep simulator, not a real model"
OUTPUT_CHARS = 80
TOP_DISAGREEMENTS = 5
DISAGREEMENT_PAIRS = 3


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str
    strong: bool = False


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    path: Path
    alt: str


Block = Union[Heading, Para, Bullets, Table, Image]


# --- formatting ----------------------------------------------------------------------------------


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def num(v: Any, digits: int = 3) -> str:
    return "n/a" if _missing(v) else f"{float(v):.{digits}f}"


def pval(v: Any) -> str:
    if _missing(v):
        return "n/a"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def integer(v: Any) -> str:
    return "n/a" if _missing(v) else f"{int(round(float(v)))}"


def ci(lo: Any, hi: Any) -> str:
    return "n/a" if _missing(lo) or _missing(hi) else f"[{lo:.3f}, {hi:.3f}]"


def clip(text: Any, n: int = OUTPUT_CHARS) -> str:
    s = "" if _missing(text) else " ".join(str(text).split())
    return s if len(s) <= n else s[: n - 1] + "…"


# --- content -----------------------------------------------------------------------------------


def _header(loaded: LoadedRuns, comp: Comparison) -> list[Block]:
    included = [j for j in loaded.jobs if j.included]
    blocks: list[Block] = [Heading(1, "evalsweep report")]
    if loaded.simulated:
        blocks.append(Para(f"{SIMULATED_LINE}.", strong=True))
    facts = [
        "Dirs: " + ", ".join(str(r) for r in loaded.roots),
        f"Jobs found: {len(loaded.jobs)} ({len(included)} with results), "
        f"{len(comp.variants)} variant(s), {loaded.df['item'].nunique()} item(s)",
        "Variants are labelled by: " + (", ".join(loaded.label_keys) or "nothing differs (model name)")
        + "; seeds are replicates of one variant",
    ]
    commits = sorted({str(j.git.get("commit"))[:10] for j in included if j.git.get("commit")})
    if commits:
        facts.append("Git commit(s): " + ", ".join(commits))
    blocks.append(Bullets(facts))
    if loaded.missing:
        blocks.append(Para("Missing or incomplete jobs:"))
        blocks.append(Bullets([f"{path}: {reason}" for path, reason in loaded.missing]))
    if loaded.warnings:
        blocks.append(Para("Warnings:"))
        blocks.append(Bullets(loaded.warnings))
    return blocks


def _variants(comp: Comparison) -> list[Block]:
    v = comp.variants
    rows = [[str(r.rank), r.variant, num(r.mean), num(r.se), ci(r.ci_low, r.ci_high), r.ci_method,
             str(r.n_items), str(r.n_obs), str(r.n_errors), str(r.n_seeds), num(r.seed_sd), r.note]
            for r in v.itertuples(index=False)]
    return [
        Heading(2, "Variants"),
        Table(["rank", "variant", "mean", "SE", "95% CI", "CI method", "items", "obs", "errors",
               "seeds", "seed SD", "note"], rows),
        Para("SE is clustered by item (the seeds and repeats of one item are not independent); "
             "95% CI = mean ± 1.96 SE, or Wilson for a single 0/1 run. Seed SD is the SD of per-seed "
             "means. Errored samples (score null) are left out of the mean and counted under errors."),
    ]


def _pairwise(comp: Comparison) -> list[Block]:
    p = comp.pairwise
    blocks: list[Block] = [Heading(2, "Pairwise differences")]
    if p.empty:
        return blocks + [Para("One variant only: nothing to compare.")]
    rows = []
    for r in p.itertuples(index=False):
        if r.status != PAIR_ALL_STATUS:
            rows.append([r.a, r.b] + ["n/a"] * 11 + [r.status])
            continue
        mc = "n/a" if _missing(r.p_mcnemar) else f"{pval(r.p_mcnemar)} ({integer(r.a_only)}/{integer(r.b_only)})"
        rows.append([r.a, r.b, str(r.n_shared), num(r.delta), num(r.se), ci(r.ci_low, r.ci_high), pval(r.p),
                     pval(r.p_adj), pval(r.p_t), mc, str(r.n_disagree), num(r.mde), integer(r.n_needed),
                     r.note or ""])
    blocks.append(Table(["a", "b", "items", "delta a-b", "SE", "95% CI", "p", f"p adj ({comp.correction})",
                         "p t-test", "McNemar p (a only/b only)", "disagree", "MDE",
                         f"n for Δ={comp.mde_delta:g}", "note"], rows))
    blocks.append(Para(
        "Paired on the items both variants ran: each item is averaged over seeds and repeats, then "
        "d = a - b. SE = sd(d)/sqrt(n); p is the two-sided z-test (Miller 2024), p t-test the paired "
        f"t-test; p adj corrects p across all {int((p['status'] == PAIR_ALL_STATUS).sum())} paired "
        f"comparisons ({comp.correction}). McNemar (exact) uses each item's majority over seeds for 0/1 "
        "scores; items tied across seeds are left out of it. MDE is the smallest difference this many "
        "items detects with 80% power at alpha 0.05; n is the items needed for the stated difference."))
    if comp.notes:
        blocks.append(Para("Not compared:"))
        blocks.append(Bullets(comp.notes))
    return blocks


def _sensitivity(comp: Comparison) -> list[Block]:
    s = comp.sensitivity
    blocks: list[Block] = [Heading(2, "Prompt sensitivity")]
    if s.empty:
        return blocks + [Para("One prompt only: no prompt sensitivity to show.")]
    prompt_cols = [c for c in s.columns if c.startswith("mean_")]
    rows = [[str(r["group"])] + [num(r[c]) for c in prompt_cols]
            + [num(r["sd_across_prompts"]), num(r["range_across_prompts"]), str(r["best_prompt"])]
            for _, r in s.iterrows()]
    headers = ["model (and other settings)"] + [c[len("mean_"):] for c in prompt_cols] + [
        "SD across prompts", "range", "best prompt"]
    return blocks + [Table(headers, rows),
                     Para("Mean score per prompt; the spread is across prompt means (SD with ddof=1).")]


def _disagreements(comp: Comparison) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Top disagreements")]
    pairs = [k for k in comp.disagreements if k[0] == comp.order[0]][:DISAGREEMENT_PAIRS]
    pairs = pairs or list(comp.disagreements)[:DISAGREEMENT_PAIRS]
    if not pairs:
        return blocks + [Para("No paired comparison: nothing to show.")]
    for a, b in pairs:
        d = comp.disagreements[(a, b)]
        blocks.append(Heading(3, f"{a} vs {b}"))
        if d.empty:
            blocks.append(Para("They agree on every shared item."))
            continue
        rows = [[clip(r.item, 40), clip(r.target, 20), num(r.score_a, 2), num(r.score_b, 2),
                 clip(r.output_a), clip(r.output_b)] for r in d.head(TOP_DISAGREEMENTS).itertuples(index=False)]
        blocks.append(Table(["item", "target", "score a", "score b", f"output a ({a})", f"output b ({b})"], rows))
        blocks.append(Para(f"{len(d)} disagreeing item(s) in total; outputs from the first seed, "
                           f"cut at {OUTPUT_CHARS} characters."))
    return blocks


def build_document(loaded: LoadedRuns, comp: Comparison, images: list[tuple[Path, str]],
                   csvs: list[Path]) -> list[Block]:
    blocks = _header(loaded, comp) + _variants(comp) + _pairwise(comp) + _sensitivity(comp)
    blocks += _disagreements(comp)
    blocks.append(Heading(2, "Plots"))
    blocks += [Image(path, alt) for path, alt in images] or [Para("No plots: no scored rows.")]
    blocks.append(Heading(2, "Tables (CSV)"))
    blocks.append(Bullets([p.name for p in csvs]))
    return blocks


# --- renderers ---------------------------------------------------------------------------------


def _md_cell(s: str) -> str:
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Para):
            out.append(f"**{b.text}**" if b.strong else b.text)
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {_md_cell(i)}" for i in b.items))
        elif isinstance(b, Table):
            lines = ["| " + " | ".join(_md_cell(h) for h in b.headers) + " |",
                     "|" + "|".join("---" for _ in b.headers) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            out.append("\n".join(lines))
        elif isinstance(b, Image):
            out.append(f"![{b.alt}]({b.path.name})")
    return "\n\n".join(out) + "\n"


CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3} img{max-width:100%;display:block;margin:1em 0}
.strong{font-weight:bold;color:#a00}
"""


def to_html(blocks: list[Block], title: str = "evalsweep report") -> str:
    e = html.escape
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
           f"<style>{CSS}</style></head><body>"]
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{e(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            out.append(f"<p class='strong'>{e(b.text)}</p>" if b.strong else f"<p>{e(b.text)}</p>")
        elif isinstance(b, Bullets):
            out.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{e(h)}</th>" for h in b.headers)
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(b, Image):
            data = base64.b64encode(b.path.read_bytes()).decode("ascii")
            out.append(f"<figure><img alt='{e(b.alt)}' src='data:image/png;base64,{data}'>"
                       f"<figcaption>{e(b.alt)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)
