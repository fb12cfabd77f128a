"""The report's content as a list of blocks (evalsweep.report.render turns them into Markdown and
HTML): the title, the headline (evalsweep.report.headline), the contents, the runs read, then per
metric the variants, the contrasts, prompt sensitivity, disagreements and plots, then the samples
(a browser in HTML) and the list of CSV tables.

A report of the score alone reads as it always has. With other metrics each gets a section of its own
("Metric: <name>", the same statistics, headings one level down) that first says its scale: what is
said in points and clipped to [0, 1] holds only for a metric in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evalsweep.report.compare import PAIR_ALL_STATUS, Comparison
from evalsweep.report.groups import UNSET
from evalsweep.report.headline import headline
from evalsweep.report.load import LoadedRuns
from evalsweep.report.metrics import PRIMARY, Metric
from evalsweep.report.render import (OUTPUT_CHARS, Block, Browser, Bullets, Contents, Heading, Image, Para, Table,
                                     ci, clip, integer, missing, num, pval)
from evalsweep.report.samples import SampleSet

SIMULATED_LINE = "Results from the evalsweep simulator, not a real model"
TOP_DISAGREEMENTS = 5
DISAGREEMENT_PAIRS = 3


def _csv(comp: Comparison, stem: str) -> str:
    return f"{stem}.csv" if comp.metric.primary else f"its {stem} CSV"


def _metric_fact(m: Metric) -> str:
    twins = f"; the same values as {', '.join(m.same_as)}" if m.same_as else ""
    return f"{m.name} ({m.scale}{twins})"


def _title(loaded: LoadedRuns) -> list[Block]:
    blocks: list[Block] = [Heading(1, "evalsweep report")]
    if loaded.simulated:
        blocks.append(Para(f"{SIMULATED_LINE}.", strong=True))
    return blocks


def _header(loaded: LoadedRuns, comps: dict[str, Comparison]) -> list[Block]:
    comp = next(iter(comps.values()))
    included = [j for j in loaded.jobs if j.included]
    blocks: list[Block] = [Heading(2, "Runs")]
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
    if not _plain(comps) or comp.metric.same_as:
        facts.append("Metrics: " + ", ".join(_metric_fact(c.metric) for c in comps.values())
                     + ("; one section each" if len(comps) > 1 else ""))
    if comp.group_by is not None and comp.groups is not None:
        facts.append(f"Grouped by the metadata field {comp.group_by}: {comp.groups['group'].nunique()} value(s)")
    blocks.append(Bullets(facts))
    budget = [j for j in loaded.jobs if (j.stop_reason or "").startswith("sweep budget")]
    if budget:  # said before the tables: their variants are partial, or absent, by the sweep's cap
        blocks.append(Para(f"The sweep's budget stopped it: {str(budget[0].stop_reason).split(' (')[0]}, so "
                           f"{len(budget)} of {len(loaded.jobs)} jobs stopped before all their samples were sent "
                           f"(raise sweep.max_cost_usd and re-run into the same dir to finish them).", strong=True))
    if loaded.missing:
        blocks.append(Para("Missing or incomplete jobs:"))
        blocks.append(Bullets([f"{path}: {reason}" for path, reason in loaded.missing]))
    if loaded.warnings:
        blocks.append(Para("Warnings:"))
        blocks.append(Bullets(loaded.warnings))
    return blocks


def _errors_header(comp: Comparison) -> str:
    return "errors" if comp.metric.primary else "no value"


def _variants_text(comp: Comparison) -> str:
    m = comp.metric
    if m.bounded or m.primary:
        scale = ("For scores in [0, 1] the 95% CI is Wilson's: over items for a single 0/1 run, else at the "
                 "effective n = p(1-p)/SE² (the design effect; "
                 "\"wilson, design effect\"), so it never leaves [0, 1]; other scores get mean ± t SE. ")
    else:
        scale = (f"{m.name} is not in [0, 1]: its 95% CI is mean ± t(items-1) · SE, in {m.name}'s own units and "
                 f"not clipped. ")
    if m.primary:
        errors = ("Errored samples (score null) are left out and counted under errors; the note gives the mean "
                  "with them counted as wrong. ")
    else:
        errors = (f"Rows without a {m.name} value (errored, or not scored for it) are left out and counted under "
                  f"no value; nothing stands in for them, since which end of {m.name} is worse is not known. ")
    return ("The mean is item-weighted: each item's mean over its seeds and repeats, then the mean over "
            f"items, the same weighting as the paired differences (mean_obs in {_csv(comp, 'variants')} is the "
            "plain mean over observations). SE = sd(item means)/sqrt(items): items are the independent units. "
            + scale + "Seed SD is the SD of per-seed means. " + errors + "See docs/statistics.md.")


def _variants(comp: Comparison) -> list[Block]:
    v = comp.variants
    rows = [[str(r.rank), r.variant, num(r.mean), num(r.se), ci(r.ci_low, r.ci_high), r.ci_method,
             str(r.n_items), str(r.n_obs), str(r.n_errors), str(r.n_seeds), num(r.seed_sd), r.note]
            for r in v.itertuples(index=False)]
    blocks: list[Block] = [
        Heading(2, "Variants"),
        Table(["rank", "variant", "mean", "SE", "95% CI", "CI method", "items", "obs", _errors_header(comp),
               "seeds", "seed SD", "note"], rows),
        Para(_variants_text(comp)),
    ]
    split = _variance_sentence(v)
    if split:
        blocks.append(Para(split))
    return blocks + _group_variants(comp)


def _group_variants(comp: Comparison) -> list[Block]:
    g, field = comp.groups, comp.group_by
    if g is None or field is None or g.empty:
        return []
    rows = [[str(r.group), str(r.rank), r.variant, num(r.mean), num(r.se), ci(r.ci_low, r.ci_high), r.ci_method,
             str(r.n_items), str(r.n_obs), str(r.n_errors), r.note] for r in g.itertuples(index=False)]
    return [
        Heading(2, f"Variants by {field}"),
        Table([field, "rank", "variant", "mean", "SE (clustered by item)", "95% CI", "CI method", "items", "obs",
               _errors_header(comp), "note"], rows),
        Para(f"One row per value of the metadata field {field} and variant: the mean, SE and CI of the table "
             f"above on that value's items only. The SE is clustered by item (sd of the item means / "
             f"sqrt(items)), so an item's seeds and repeats count once; rank is within the value; {UNSET} holds "
             f"the rows without the field."),
    ]


def _variance_sentence(v: pd.DataFrame) -> str:
    """Miller 2024 section 3 for the top variant: where the variance is, and what buys more precision."""
    if v.empty or "var_within" not in v or missing(v["var_within"].iloc[0]):
        return ""
    r = v.iloc[0]
    return (f"Seeds vs items ({r['variant']}): within-item (seed) variance {r['var_within']:.4f}, between-item "
            f"{r['var_between']:.4f}; its SE {r['se']:.4f} would become {r['se_one_more_seed']:.4f} with one more "
            f"seed per item and {r['se_ten_more_items']:.4f} with ten more items "
            f"(Var = (between + within/K)/n, Miller 2024 section 3).{_seed_effect_sentence(r)}")


def _seed_effect_sentence(r: pd.Series) -> str:
    """Whether seeds differ beyond sampling noise (a seed that shifts every item, say a changed
    shuffle or a server state), from stats.conditions on the items x seeds table."""
    if missing(r.get("p_seeds_differ")):
        return ""
    return (f" Seed-to-seed differences beyond sampling noise: SD {num(r['seed_effect_sd'])}, p {pval(r['p_seeds_differ'])} "
            f"(seeds permuted within items).")


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
    sized = "items for Δ" if comp.mde_delta is None else f"items for Δ={comp.mde_delta:g}"
    headers = ["a", "b", "items", "delta a-b", "95% CI", "p (sign-flip)", f"p adj ({comp.correction})",
               "significant", f"MDE (α={alpha_c:.3g})", sized]
    headers += [f"TOST p (±{comp.equivalence_margin:g})"] if tost else []
    blocks.append(Table(headers + ["note"], rows))
    which = (f"each variant against the baseline ({m} contrasts, not every pair; --all-pairs compares every pair)"
             if comp.baseline is not None else f"all {m} pairs")
    blocks.append(Para(
        "Paired on the items both variants ran: each item is averaged over its seeds and repeats, then "
        "d = a - b per item. The 95% CI is mean(d) ± t(items-1) · sd(d)/sqrt(items), or, when both "
        "variants score every item 0 or 1 (one ask each), Tango's score interval for paired proportions, "
        "which stays close to 95% with few discordant items (the row's note names it). p is the exact "
        "sign-flip (permutation) test of mean(d) = 0 on the item differences: the share of the 2^items "
        "ways of flipping their signs that give a mean at least as far from 0 (Monte-Carlo only for "
        "non-lattice scores with many items); it is the report's test, and p adj corrects it across "
        f"{which} ({comp.correction}). MDE is the smallest difference these items detect with 80% power "
        f"at alpha {alpha_c:.3g}, the level the smallest p must reach after the correction; items for Δ "
        "is the whole number of items needed for the stated difference, rounded up, at the seeds per item "
        "run here. When every item differs by the same amount there is no spread: the exact test still "
        + ("decides, the CI bounds the share of items that could differ, and the MDE is n/a." if comp.metric.bounded
           else "decides; the CI and the MDE are n/a (nothing bounds a metric outside [0, 1]).")))
    if not comp.metric.bounded or comp.scale_notes:
        name = comp.metric.name
        units = [] if comp.metric.bounded else [f"{name} is not in [0, 1]: delta, CI, MDE and Δ are in its units, "
                                                f"and no CI is clipped."]
        blocks.append(Para(" ".join(units + comp.scale_notes)))
    if tost:
        blocks.append(Para(
            f"TOST: two one-sided t-tests that |delta| < {comp.equivalence_margin:g}; 'equivalent' when the "
            f"larger one-sided p, corrected like p ({comp.correction}), is below {comp.alpha:g}."))
    blocks.append(Para(
        f"{'pairwise.csv' if comp.metric.primary else 'Its pairwise CSV'} also holds, for reference only: p_z "
        "(the normal z-test), p_t (the paired t-test) and, "
        "for 0/1 scores, p_mcnemar: McNemar's exact test on each item's majority over seeds, which tests "
        "majority-vote accuracy rather than the mean difference and leaves out items tied across seeds "
        "(mcnemar_ties); none of them is corrected or used for 'significant'."))
    if comp.notes:
        blocks.append(Para("Not compared:"))
        blocks.append(Bullets(comp.notes))
    return blocks + _group_pairwise(comp)


def _group_pairwise(comp: Comparison) -> list[Block]:
    p, field = comp.group_pairwise, comp.group_by
    if p is None or field is None or p.empty:
        return []
    rows = []
    for r in p.itertuples(index=False):
        if r.status != PAIR_ALL_STATUS:
            rows.append([str(r.group), r.a, r.b] + ["n/a"] * 7 + [r.status])
            continue
        note = "; ".join(x for x in (r.note, r.mde_note) if isinstance(x, str) and x)
        rows.append([str(r.group), r.a, r.b, str(r.n_shared), num(r.delta), ci(r.ci_low, r.ci_high), pval(r.p),
                     pval(r.p_adj), "yes" if r.significant else "no", num(r.mde), note])
    m = int(p["n_contrasts"].iloc[0]) if not missing(p["n_contrasts"].iloc[0]) else 0
    alpha_c = p["alpha_corrected"].iloc[0] if m else comp.alpha
    return [
        Heading(2, f"Contrasts by {field}"),
        Table([field, "a", "b", "items", "delta a-b", "95% CI", "p (sign-flip)", f"p adj ({comp.correction})",
               "significant", f"MDE (α={alpha_c:.3g})", "note"], rows),
        Para(f"The contrasts above within each value of {field}, paired on the items of that value both variants "
             f"ran, a and b as above (a delta's sign means the same in every row). p adj corrects across all {m} "
             f"of these contrasts ({comp.correction}), a family of its own apart from the contrasts above; the MDE "
             f"is at alpha {alpha_c:.3g}. A value with too few shared items says so instead of a test."),
    ]


def _sensitivity(comp: Comparison) -> list[Block]:
    s = comp.sensitivity
    blocks: list[Block] = [Heading(2, "Prompt sensitivity")]
    if s.empty:
        return blocks + [Para("One prompt only: no prompt sensitivity to show.")]
    prompt_cols = [c for c in s.columns if c.startswith("mean_")]
    rows = [[str(r["group"])] + [num(r[c]) for c in prompt_cols]
            + [num(r["sd_across_prompts"]), num(r["range_across_prompts"]),
               f"{num(r['sd_prompt_effect'])} [{num(r['sd_prompt_effect_ci_low'])}, "
               f"{num(r['sd_prompt_effect_ci_high'])}]", pval(r["p_prompts_differ"]), integer(r["items_all_prompts"]),
               str(r["best_prompt"])]
            for _, r in s.iterrows()]
    headers = ["model (and other settings)"] + [c[len("mean_"):] for c in prompt_cols] + [
        "SD of means", "range", "prompt effect SD [95% CI]", "p (prompts differ)", "items", "best prompt"]
    notes = sorted({str(n) for n in s["prompt_effect_note"] if n})
    return blocks + [Table(headers, rows), Para(
        f"Mean {comp.metric.name} per prompt. The SD and range of those means include sampling noise, so "
        f"they are above 0 even when the prompts do not matter. The prompt effect SD removes it: the "
        f"between-prompt variance component of the items x prompts table of item means ((MS prompt - MS "
        f"residual) / items, 0 when noise explains the spread), with a 95% CI from resampling items; p "
        f"tests \"the prompts do not differ\" by permuting prompts within each item. Items: those scored "
        f"under every prompt (docs/statistics.md).")] + [Para(n) for n in notes]


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
        name = comp.metric.name
        blocks.append(Table(["item", "target", f"{name} a", f"{name} b", f"output a ({a})", f"output b ({b})"], rows))
        blocks.append(Para(f"{len(d)} disagreeing item(s) in total; outputs from the first seed, "
                           f"cut at {OUTPUT_CHARS} characters."))
    return blocks


def _section(comp: Comparison, images: list[tuple[Path, str]]) -> list[Block]:
    # With a baseline the contrasts answer the experiment's question: they lead.
    first = _pairwise(comp) + _variants(comp) if comp.baseline is not None else _variants(comp) + _pairwise(comp)
    blocks = first + _sensitivity(comp) + _disagreements(comp)
    blocks.append(Heading(2, "Plots"))
    return blocks + ([Image(path, alt) for path, alt in images] or [Para("No plots: no scored rows.")])


def _metric_intro(m: Metric) -> str:
    where = "each row's score (the jobs' scorer)" if m.primary else f"each row's scores.{m.name}"
    if m.scale == "no values":
        text = f"{m.name}, from {where}, has no values in these rows."
    elif m.bounded:
        text = (f"{m.name}, from {where}, lies in [0, 1] ({m.scale}): Wilson intervals, paired CIs clipped to "
                f"[-1, 1], differences in points (0.05 is five points).")
    else:
        text = (f"{m.name}, from {where}, runs {m.scale}: intervals are mean ± t · SE in its own units, nothing "
                f"is clipped, and differences (delta, MDE, Δ) are in its units.")
    if m.same_as:
        text += f" It has the same values as {', '.join(m.same_as)} on every row, which get no section of their own."
    return text


def _demote(blocks: list[Block]) -> list[Block]:
    return [Heading(b.level + 1, b.text) if isinstance(b, Heading) else b for b in blocks]


def _plain(comps: dict[str, Comparison]) -> bool:
    """The score alone: the report reads as it did before there were other metrics."""
    return list(comps) == [PRIMARY]


def _samples(samples: SampleSet) -> list[Block]:
    return [Heading(2, "Samples"), Para("Every sample of every variant: filter by variant, score, a metadata field "
                                        "and free text; open a row to read its transcript (messages, output, "
                                        "turns, scores, error) beside another variant's on the same item."),
            Browser(samples)]


def build_document(loaded: LoadedRuns, comps: dict[str, Comparison], images: dict[str, list[tuple[Path, str]]],
                   csvs: list[Path], samples: SampleSet) -> list[Block]:
    """The report: title, headline, contents, the runs read, one section per metric (comps, in order),
    the samples, the list of CSV tables."""
    body = _header(loaded, comps)
    plain = _plain(comps)
    if plain:
        body += _section(comps[PRIMARY], images[PRIMARY])
    else:
        for name, comp in comps.items():
            body += [Heading(2, f"Metric: {name}"), Para(_metric_intro(comp.metric))]
            body += _demote(_section(comp, images[name]))
    body += _samples(samples)
    body.append(Heading(2, "Tables (CSV)"))
    body.append(Bullets([p.name for p in csvs]))
    deepest = 2 if plain else 3  # a metric's own sections too, when there are several
    contents = Contents([b for b in body if isinstance(b, Heading) and b.level <= deepest])
    return _title(loaded) + headline(loaded, next(iter(comps.values()))) + [contents] + body
