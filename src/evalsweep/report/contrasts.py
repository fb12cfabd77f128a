"""The contrasts table: which pairs are compared, and each pair's paired test.

The contrast set is the baseline's k - 1 comparisons when a baseline is named (spec.baseline or
--baseline; evalsweep.report.baseline), else every pair. Each row has one headline p-value: the
exact sign-flip test on the item-level differences (stats.paired.paired_test), corrected across the
contrast set; its CI is Tango's score interval when both variants score every item 0 or 1, else the
t interval on n - 1 degrees of freedom (ci_method names it; ci_t_low/ci_t_high always hold the t
interval). The z and t p-values and McNemar's test on each item's majority are kept in the CSV for
comparison, never as the headline.
Power (MDE, items needed) is at the corrected alpha, the level a single real effect must reach.
Deltas, MDEs and margins are in the metric's units; only a metric in [0, 1] has its CIs clipped to
[-1, 1] and a difference to size for when none is given for it by name (ContrastSettings).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from evalsweep.report.stats.base import ALPHA
from evalsweep.report.stats.equivalence import tost
from evalsweep.report.stats.intervals import stderr_clt
from evalsweep.report.stats.multitest import Correction, adjust_pvalues, corrected_alpha
from evalsweep.report.stats.paired import TANGO_SCORE, binarize_majority, mcnemar_table, mcnemar_test, paired_test
from evalsweep.report.stats.power import items_needed, mde_t, power_t

PAIR_ALL_STATUS = "paired"

PAIR_COLUMNS = [
    "a", "b", "status", "n_shared", "n_a_items", "n_b_items", "delta", "se", "ci_low", "ci_high",
    "z", "p", "p_adj", "correction", "significant", "p_t", "ci_t_low", "ci_t_high", "se_unpaired",
    "correlation", "omega2", "n_disagree", "a_only", "b_only", "p_mcnemar", "mcnemar_ties",
    "mde", "mde_delta", "n_needed", "power", "note",
    # added with the sign-flip test and the baseline contrasts
    "contrast", "test", "p_signflip", "p_z", "df", "ci_method", "alpha_corrected", "n_contrasts",
    "mde_note", "equivalence_margin", "p_tost", "equivalent",
]


@dataclass(frozen=True)
class ContrastSettings:
    correction: Correction = "holm"
    mde_delta: float | None = 0.05  # the difference to size for; None: none given in the metric's units
    alpha: float = ALPHA
    equivalence_margin: float | None = None
    bounded: bool | None = None  # the metric lies in [0, 1]; None: decided from each variant's item means


def contrast_pairs(order: list[str], baselines: dict[str, str] | None) -> list[tuple[str, str]]:
    """(a, b) pairs, delta = a - b. With baselines (variant -> its baseline) each variant against its
    baseline, in rank order; without, every pair with the higher-ranked variant as a."""
    if baselines is None:
        return list(combinations(order, 2))
    return [(v, baselines[v]) for v in order if v in baselines]


def _mcnemar(x: np.ndarray, y: np.ndarray) -> tuple[dict, str]:
    """McNemar's exact test on each item's majority over seeds (0/1 scores), for the CSV: it tests
    majority-vote accuracy, not the mean the delta estimates, and drops items tied across seeds."""
    ba, bb = binarize_majority(x), binarize_majority(y)
    keep = ~(np.isnan(ba) | np.isnan(bb))
    table = mcnemar_table(ba[keep], bb[keep])
    discordant = int(table[0, 1] + table[1, 0])
    p_mc = mcnemar_test(table, exact=True)[1] if discordant else 1.0
    ties = int((~keep).sum())
    note = f"McNemar leaves out {ties} items tied across seeds" if ties else ""
    return {"a_only": int(table[0, 1]), "b_only": int(table[1, 0]), "p_mcnemar": p_mc, "mcnemar_ties": ties}, note


def pair_row(means: pd.DataFrame, a: str, b: str, binary: dict[str, bool], bounded: dict[str, bool],
             alpha: float, not_paired: Callable[[str, str], str]) -> dict:
    """One contrast's numbers, before the correction and the power (those need the whole set)."""
    col_a = means[a] if a in means else pd.Series(dtype=float)
    col_b = means[b] if b in means else pd.Series(dtype=float)
    shared = col_a.notna() & col_b.notna()
    n_a, n_b, n = int(col_a.notna().sum()), int(col_b.notna().sum()), int(shared.sum())
    row: dict = {"a": a, "b": b, "n_shared": n, "n_a_items": n_a, "n_b_items": n_b}
    if n == 0:
        row["status"] = not_paired(a, b)
        return row
    x, y = col_a[shared].to_numpy(), col_b[shared].to_numpy()
    res = paired_test(x, y, alpha, bounded=bounded.get(a, False) and bounded.get(b, False))
    se_a, se_b = stderr_clt(x), stderr_clt(y)
    corr = float(np.corrcoef(x, y)[0, 1]) if n >= 2 and x.std() > 0 and y.std() > 0 else math.nan
    notes = []
    if n < max(n_a, n_b):
        notes.append(f"compared on the {n} shared items ({a}: {n_a}, {b}: {n_b})")
    tango = res.ci_method == TANGO_SCORE
    if tango:  # the report's table heads its CI column "(t)": say where the CI is another one
        notes.append("CI: Tango's score interval (0/1 per item)")
    if res.n >= 2 and res.se == 0:
        notes.append("the same gap on every item: no spread for t, "
                     + ("the exact test and the score CI still apply" if tango
                        else "the exact test still applies; the CI bounds the share of items that could differ"))
    row.update({
        "status": PAIR_ALL_STATUS, "delta": res.delta, "se": res.se, "ci_low": res.ci_low, "ci_high": res.ci_high,
        "z": res.z, "p": res.p, "p_t": res.p_t, "ci_t_low": res.ci_t_low, "ci_t_high": res.ci_t_high,
        "se_unpaired": math.sqrt(se_a**2 + se_b**2) if n >= 2 else math.nan, "correlation": corr,
        "omega2": res.omega2, "n_disagree": res.n_disagree, "test": res.test, "p_signflip": res.p,
        "p_z": res.p_z, "df": res.df, "ci_method": res.ci_method,
    })
    if binary.get(a) and binary.get(b):
        mc, note = _mcnemar(x, y)
        row.update(mc)
        if note:
            notes.append(note)
    row["note"] = "; ".join(notes)
    return row


def _power(row: dict, mde_delta: float | None, alpha_c: float) -> dict:
    n, omega2 = int(row["n_shared"]), row["omega2"]
    if n < 2:
        return {"mde_note": "one shared item: no power to state"}
    if not omega2 > 0:
        return {"mde_note": "n/a: the item differences have no variance (the same gap on every item), "
                            "so the power formula has nothing to scale by"}
    if mde_delta is None:  # the MDE needs no difference; items needed and power do
        return {"mde": mde_t(omega2, n, alpha_c), "mde_note": ""}
    return {"mde": mde_t(omega2, n, alpha_c), "n_needed": items_needed(omega2, mde_delta, alpha_c),
            "power": power_t(omega2, n, mde_delta, alpha_c), "mde_note": ""}


def bounded_by_variant(means: pd.DataFrame, settings: ContrastSettings) -> dict[str, bool]:
    """Per variant, whether its deltas are bounded in [-1, 1]: the metric's scale when known, else
    whether the variant's item means all lie in [0, 1]."""
    if settings.bounded is not None:
        return {str(c): settings.bounded for c in means.columns}
    return {str(c): bool(((means[c].dropna() >= 0) & (means[c].dropna() <= 1)).all()) for c in means.columns}


def pairwise_table(means: pd.DataFrame, variants: pd.DataFrame, not_paired: Callable[[str, str], str],
                   baselines: dict[str, str] | None = None,
                   settings: ContrastSettings = ContrastSettings()) -> pd.DataFrame:
    """The contrast set's rows, p corrected across the tested ones, power at the corrected alpha."""
    binary = dict(zip(variants["variant"], variants["binary"]))
    bounded = bounded_by_variant(means, settings)
    rows = [pair_row(means, a, b, binary, bounded, settings.alpha, not_paired)
            for a, b in contrast_pairs(variants["variant"].tolist(), baselines)]
    return finish(rows, baselines is not None, settings)


def finish(rows: list[dict], baseline: bool, settings: ContrastSettings, lead: Sequence[str] = ()) -> pd.DataFrame:
    """Rows of one family of contrasts -> the table: p corrected across every tested row, power at the
    corrected alpha, TOST when a margin is set. lead: columns of the rows' own put first (e.g. a group)."""
    out = pd.DataFrame(rows, columns=list(lead) + PAIR_COLUMNS)
    if out.empty:
        return out
    correction, alpha = settings.correction, settings.alpha
    out["contrast"] = "baseline" if baseline else "all pairs"
    out["p_adj"] = adjust_pvalues(out["p"].to_numpy(dtype=float), correction, alpha)
    out["correction"] = correction
    out["significant"] = out["p_adj"] < alpha
    m = int(np.isfinite(out["p"].to_numpy(dtype=float)).sum())
    alpha_c = corrected_alpha(alpha, m)
    out["n_contrasts"] = m
    out["alpha_corrected"] = alpha_c
    out["mde_delta"] = math.nan if settings.mde_delta is None else settings.mde_delta
    out["mde_note"] = out["mde_note"].astype(object)  # text; all-NaN columns come out as float
    for i, row in out.iterrows():
        if row["status"] == PAIR_ALL_STATUS:
            for k, v in _power(row.to_dict(), settings.mde_delta, alpha_c).items():
                out.at[i, k] = v
    margin = settings.equivalence_margin
    if margin is not None:
        out["equivalence_margin"] = margin
        p_tost = [tost(r.delta, r.se, int(r.df), margin) if r.status == PAIR_ALL_STATUS
                  else math.nan for r in out.itertuples(index=False)]
        out["p_tost"] = p_tost
        # TOST at the same corrected level as the difference tests (Holm on the TOST p-values).
        out["equivalent"] = adjust_pvalues(np.asarray(p_tost, dtype=float), correction, alpha) < alpha
    return out
