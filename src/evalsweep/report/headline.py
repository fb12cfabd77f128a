"""The report's headline block, before every table: the spec's hypothesis, the headline contrasts
(each against the baseline, or the top variant's contrasts when there is none) one sentence each,
and the verdict against the spec's falsification criterion (evalsweep.report.verdict)."""

from __future__ import annotations

import pandas as pd

from evalsweep.report.compare import PAIR_ALL_STATUS, Comparison
from evalsweep.report.load import LoadedRuns
from evalsweep.report.render import Block, Bullets, Heading, Para, ci, num, pval
from evalsweep.report.verdict import RULE, verdict

HEADLINE = "Headline"
TOP_CONTRASTS = 3  # without a baseline: the top variant's first contrasts


def spec_text(loaded: LoadedRuns, key: str) -> str | None:
    """The jobs' spec.<key>; when they state different ones, the first, saying how many there were."""
    said = sorted({" ".join(str(j.facets[f"spec.{key}"]).split()) for j in loaded.jobs
                   if j.included and j.facets.get(f"spec.{key}") not in (None, "")})
    if not said:
        return None
    return said[0] if len(said) == 1 else f"{said[0]} (the jobs state {len(said)} different ones; this is the first)"


def headline_pairs(comp: Comparison) -> pd.DataFrame:
    """The contrasts the headline speaks of: all against the baseline, else the top variant's first."""
    p = comp.pairwise
    if comp.baseline is not None or p.empty:
        return p
    top = comp.order[0] if comp.order else None
    mine = p[(p["a"] == top) | (p["b"] == top)]
    return (mine if not mine.empty else p).head(TOP_CONTRASTS)


def _sentence(r: object, comp: Comparison) -> str:
    a, b = getattr(r, "a"), getattr(r, "b")
    if getattr(r, "status") != PAIR_ALL_STATUS:
        return f"{a} vs {b}: not compared ({getattr(r, 'status')})."
    base = " (the baseline)" if comp.baseline is not None else ""
    return (f"{a} minus {b}{base}: delta {num(getattr(r, 'delta'))}, 95% CI "
            f"{ci(getattr(r, 'ci_low'), getattr(r, 'ci_high'))}, p adj ({comp.correction}) "
            f"{pval(getattr(r, 'p_adj'))} (sign-flip test, {getattr(r, 'n_shared')} paired items).")


def headline(loaded: LoadedRuns, comp: Comparison) -> list[Block]:
    """The headline blocks for the first section's comparison."""
    hypothesis = spec_text(loaded, "hypothesis")
    criterion = spec_text(loaded, "falsification")
    pairs = headline_pairs(comp)
    what = "against the baseline" if comp.baseline is not None else "of the top variant"
    of = "" if comp.metric.primary else f" (metric {comp.metric.name})"
    blocks: list[Block] = [Heading(2, HEADLINE),
                           Para(f"Hypothesis: {hypothesis or 'none stated in the jobs spec.hypothesis'}")]
    if pairs.empty:
        blocks.append(Para(f"Contrasts{of}: one variant only, nothing to compare."))
    else:
        blocks.append(Para(f"Contrasts {what}{of}:"))
        blocks.append(Bullets([_sentence(r, comp) for r in pairs.itertuples(index=False)]))
    if criterion:
        blocks.append(Para(f"Falsification criterion: {criterion}"))
    said = verdict(comp.pairwise, criterion, comp.alpha, pairs)
    if comp.group_by is not None and not said.startswith("no verdict"):
        said += f" (on all items; per {comp.group_by}, see Contrasts by {comp.group_by})"
    blocks.append(Para(f"Verdict: {said}.", style="verdict"))
    blocks.append(Para(RULE, style="small"))
    return blocks
