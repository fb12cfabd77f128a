"""The headline verdict: the spec's falsification criterion held against the headline contrasts.

The criterion is free text, so the rule is deliberately simple and is printed with the verdict
(RULE): a contrast refutes the hypothesis when its 95% CI includes 0 or lies on the side of 0 the
criterion names ("below it" / "above it"). Only the contrasts the criterion names ("X minus Y") are
judged, or the headline contrasts when it names none the report has; anything else it says (per prompt, per group,
a subset of items) is left to the reader and the tables."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from evalsweep.report.compare import PAIR_ALL_STATUS
from evalsweep.report.render import missing, pval

RULE = ("Verdict rule: the falsification criterion is read as \"a contrast's 95% CI includes 0 or lies on the "
        "side of 0 it names\" (below 0 when it says 'below', above 0 when it says 'above'). Judged are the "
        "report's contrasts whose labels hold the names of the criterion's 'X minus Y' (X in a, Y in b; the "
        "other way round flips the sign), or the headline contrasts when it names none of them. Supported: every judged "
        "CI lies wholly on the other side of 0. Not supported: any judged CI includes 0 or lies on the named "
        "side. No verdict: no criterion, no paired contrast with a CI, or a criterion naming neither side. Only "
        "the overall contrasts of the first metric are judged: any further condition in the criterion (per "
        "prompt, per group, a subset of items) is for the reader to check in the tables.")

_MINUS = re.compile(r"([\w.=:/-]+)\s+minus\s+([\w.=:/-]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Judged:
    a: str  # the contrast as the criterion orients it: a minus b
    b: str
    low: float
    high: float
    p_adj: float
    significant: bool


def _tokens(text: str) -> set[str]:
    return {t.strip(".-").lower().replace("_", "-") for t in re.split(r"[,=\s]+", text) if t.strip(".-")}


def _names(criterion: str) -> tuple[set[str], set[str]] | None:
    m = _MINUS.search(criterion)
    return (_tokens(m.group(1)), _tokens(m.group(2))) if m else None


def refuting_side(criterion: str) -> int | None:
    """-1: a CI below 0 refutes (the hypothesis says a > b); +1: above 0 refutes; None: not said."""
    text = criterion.lower()
    below, above = "below" in text, "above" in text
    if below == above:
        return None
    return -1 if below else 1


def judged_contrasts(pairs: pd.DataFrame, criterion: str, shown: pd.DataFrame | None = None) -> list[Judged]:
    """The paired contrasts of `pairs` the criterion names, oriented as it names them; when it names
    none of them, those of `shown` (the headline's; default: all of `pairs`)."""
    rows = [r for r in pairs.itertuples(index=False)
            if r.status == PAIR_ALL_STATUS and not missing(r.ci_low) and not missing(r.ci_high)]
    names = _names(criterion)
    out: list[Judged] = []
    for r in rows:
        a, b, lo, hi = r.a, r.b, float(r.ci_low), float(r.ci_high)
        if names is not None:
            ta, tb = _tokens(a), _tokens(b)
            x, y = names
            if not (x <= ta and y <= tb):
                if not (y <= ta and x <= tb):
                    continue
                a, b, lo, hi = b, a, -hi, -lo
        out.append(Judged(a, b, lo, hi, float(r.p_adj), bool(r.significant)))
    if names is not None and not out:  # names the report's labels do not hold: judge the headline's
        return judged_contrasts(pairs if shown is None else shown, "")
    return out


def _where(j: Judged) -> str:
    if j.low > 0:
        return "lies above 0"
    if j.high < 0:
        return "lies below 0"
    return "includes 0"


def _ci(j: Judged) -> str:
    return f"[{j.low:.3f}, {j.high:.3f}]"


def verdict(pairs: pd.DataFrame, criterion: str | None, alpha: float, shown: pd.DataFrame | None = None) -> str:
    """One sentence: 'supported: ...', 'not supported: ...' or 'no verdict: ...'. pairs: every
    contrast of the report; shown: the headline's (default: all)."""
    if not criterion:
        return "no verdict: the jobs' spec states no falsification criterion"
    judged = judged_contrasts(pairs, criterion, shown)
    if not judged:
        return "no verdict: no paired contrast with a 95% CI to judge"
    side = refuting_side(criterion)
    if side is None:
        shown = "; ".join(f"the CI of {j.a} minus {j.b} {_where(j)} {_ci(j)}" for j in judged)
        return f"no verdict: the criterion does not say which side of 0 refutes the hypothesis ({shown})"
    bad = [j for j in judged if not (j.low > 0 if side < 0 else j.high < 0)]
    if bad:
        j = bad[0]
        more = f" (and {len(bad) - 1} more judged contrast(s) like it)" if len(bad) > 1 else ""
        return f"not supported: the CI of {j.a} minus {j.b} {_where(j)} {_ci(j)}{more}"
    said = "; ".join(f"the CI of {j.a} minus {j.b} {_where(j)} {_ci(j)}" for j in judged)
    weak = [j for j in judged if not j.significant]
    caveat = "".join(f"; but {j.a} minus {j.b} has corrected p {pval(j.p_adj)}, not below {alpha:g}" for j in weak)
    return f"supported: {said}{caveat}"
