"""The report's content as a list of blocks (evalsweep.report.render turns them into Markdown and
HTML): the header, the variants, the contrasts, prompt sensitivity, disagreements, plots and tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evalsweep.report.compare import PAIR_ALL_STATUS, Comparison
from evalsweep.report.load import LoadedRuns
from evalsweep.report.render import (OUTPUT_CHARS, Block, Bullets, Heading, Image, Para, Table, ci, clip, integer,
                                     missing, num, pval)

SIMULATED_LINE = "Results from the evalsweep simulator, not a real model"
TOP_DISAGREEMENTS = 5
DISAGREEMENT_PAIRS = 3


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
    blocks: list[Block] = [
        Heading(2, "Variants"),
        Table(["rank", "variant", "mean", "SE", "95% CI", "CI method", "items", "obs", "errors",
               "seeds", "seed SD", "note"], rows),
        Para("The mean is item-weighted: each item's mean over its seeds and repeats, then the mean over "
             "items, the same weighting as the paired differences (mean_obs in variants.csv is the plain "
             "mean over observations). SE = sd(item means)/sqrt(items): items are the independent units. "
             "For scores in [0, 1] the 95% CI is Wilson's: over items for a single 0/1 run, else at the "
             "effective n = p(1-p)/SE² (the design effect; "
             "\"wilson, design effect\"), so it never leaves [0, 1]; other scores get mean ± t SE. "
             "Seed SD is the SD of per-seed means. Errored samples (score null) are left out and counted "
             "under errors; the note gives the mean with them counted as wrong. See docs/statistics.md."),
    ]
    split = _variance_sentence(v)
    if split:
        blocks.append(Para(split))
    return blocks


def _variance_sentence(v: pd.DataFrame) -> str:
    """Miller 2024 section 3 for the top variant: where the variance is, and what buys more precision."""
    if v.empty or "var_within" not in v or missing(v["var_within"].iloc[0]):
        return ""
    r = v.iloc[0]
    return (f"Seeds vs items ({r['variant']}): within-item (seed) variance {r['var_within']:.4f}, between-item "
            f"{r['var_between']:.4f}; its SE {r['se']:.4f} would become {r['se_one_more_seed']:.4f} with one more "
            f"seed per item and {r['se_ten_more_items']:.4f} with ten more items "
            f"(Var = (between + within/K)/n, Miller 2024 section 3).")


def _contrast_title(comp: Comparison) -> str:
    if comp.baseline is not None:
        return f"Contrasts with the baseline ({comp.baseline.spec}, from {comp.baseline.source})"
    return "Pairwise differences"


def _pairwise(comp: Comparison) -> list[Block]:
    p = comp.pairwise
    blocks: list[Block] = [Heading(2, _contrast_title(comp))]
    if p.empty:
        return blocks + [Para("One variant only: nothing to compare.")]
    tost = comp.equivalence_margin is not None
    rows = []
    for r in p.itertuples(index=False):
        extra = [] if not tost else [
            "n/a" if missing(r.p_tost) else f"{pval(r.p_tost)} ({'equivalent' if r.equivalent else 'not shown'})"]
        if r.status != PAIR_ALL_STATUS:
            rows.append([r.a, r.b] + ["n/a"] * (8 + len(extra)) + [r.status])
            continue
        note = "; ".join(x for x in (r.note, r.mde_note) if isinstance(x, str) and x)
        rows.append([r.a, r.b, str(r.n_shared), num(r.delta), ci(r.ci_low, r.ci_high), pval(r.p), pval(r.p_adj),
                     "yes" if r.significant else "no", num(r.mde), integer(r.n_needed)] + extra + [note])
    m = int(p["n_contrasts"].iloc[0]) if "n_contrasts" in p and not missing(p["n_contrasts"].iloc[0]) else 0
    alpha_c = p["alpha_corrected"].iloc[0] if m else comp.alpha
    headers = ["a", "b", "items", "delta a-b", "95% CI (t)", "p (sign-flip)", f"p adj ({comp.correction})",
               "significant", f"MDE (α={alpha_c:.3g})", f"items for Δ={comp.mde_delta:g}"]
    headers += [f"TOST p (±{comp.equivalence_margin:g})"] if tost else []
    blocks.append(Table(headers + ["note"], rows))
    which = (f"each variant against the baseline ({m} contrasts, not every pair; --all-pairs compares every pair)"
             if comp.baseline is not None else f"all {m} pairs")
    blocks.append(Para(
        "Paired on the items both variants ran: each item is averaged over its seeds and repeats, then "
        "d = a - b per item. The 95% CI is mean(d) ± t(items-1) · sd(d)/sqrt(items). p is the exact "
        "sign-flip (permutation) test of mean(d) = 0 on the item differences: the share of the 2^items "
        "ways of flipping their signs that give a mean at least as far from 0 (Monte-Carlo only for "
        "non-lattice scores with many items); it is the report's test, and p adj corrects it across "
        f"{which} ({comp.correction}). MDE is the smallest difference these items detect with 80% power "
        f"at alpha {alpha_c:.3g}, the level the smallest p must reach after the correction; items for Δ "
        "is the whole number of items needed for the stated difference, rounded up, at the seeds per item "
        "run here. When every item differs by the same amount there is no spread: the exact test still "
        "decides, the CI bounds the share of items that could differ, and the MDE is n/a."))
    if tost:
        blocks.append(Para(
            f"TOST: two one-sided t-tests that |delta| < {comp.equivalence_margin:g}; 'equivalent' when the "
            f"larger one-sided p, corrected like p ({comp.correction}), is below {comp.alpha:g}."))
    blocks.append(Para(
        "pairwise.csv also holds, for reference only: p_z (the normal z-test), p_t (the paired t-test) and, "
        "for 0/1 scores, p_mcnemar: McNemar's exact test on each item's majority over seeds, which tests "
        "majority-vote accuracy rather than the mean difference and leaves out items tied across seeds "
        "(mcnemar_ties); none of them is corrected or used for 'significant'."))
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
    # With a baseline the contrasts answer the experiment's question: they lead.
    first = _pairwise(comp) + _variants(comp) if comp.baseline is not None else _variants(comp) + _pairwise(comp)
    blocks = _header(loaded, comp) + first + _sensitivity(comp)
    blocks += _disagreements(comp)
    blocks.append(Heading(2, "Plots"))
    blocks += [Image(path, alt) for path, alt in images] or [Para("No plots: no scored rows.")]
    blocks.append(Heading(2, "Tables (CSV)"))
    blocks.append(Bullets([p.name for p in csvs]))
    return blocks
