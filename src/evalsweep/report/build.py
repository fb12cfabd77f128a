"""write_report: load -> compare -> CSV tables, PNG plots, report.md, report.html."""

from __future__ import annotations

import hashlib
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

import evalsweep.report.plots as plots
from evalsweep.report.compare import PAIR_ALL_STATUS, Comparison, compare
from evalsweep.report.document import build_document
from evalsweep.report.errors import ReportError
from evalsweep.report.load import LoadedRuns, load_runs, use_score_column
from evalsweep.report.render import to_html, to_markdown

log = logging.getLogger(__name__)

CORRECTIONS = ("holm", "fdr_bh", "bonferroni")


@dataclass
class ReportResult:
    out_dir: Path
    files: dict[str, Path]  # name -> path of everything written
    loaded: LoadedRuns
    comparison: Comparison
    warnings: list[str] = field(default_factory=list)

    @property
    def markdown(self) -> Path:
        return self.files["report.md"]

    @property
    def html(self) -> Path:
        return self.files["report.html"]

    def summary(self) -> dict[str, Any]:
        """Flat numbers for a tracker (e.g. wandb.summary): per variant and per paired pair."""
        out: dict[str, Any] = {"report/n_variants": len(self.comparison.variants),
                               "report/n_missing_jobs": len(self.loaded.missing)}
        for r in self.comparison.variants.itertuples(index=False):
            for k in ("mean", "se", "ci_low", "ci_high", "n_items", "seed_sd"):
                out[f"report/variant/{r.variant}/{k}"] = getattr(r, k)
        for r in self.comparison.pairwise.itertuples(index=False):
            if r.status == PAIR_ALL_STATUS:
                for k in ("delta", "se", "ci_low", "ci_high", "p", "p_adj", "mde", "n_needed"):
                    out[f"report/pair/{r.a} vs {r.b}/{k}"] = getattr(r, k)
        return {k: _plain(v) for k, v in out.items()}


def _plain(v: Any) -> Any:
    """numpy scalars -> Python; NaN -> None (trackers and JSON take these as they are)."""
    if hasattr(v, "item"):
        v = v.item()
    return None if isinstance(v, float) and math.isnan(v) else v


def slug(label: str, limit: int = 60) -> str:
    """A file-name-safe form of a variant label ("model=a,prompt=b" -> "model-a_prompt-b")."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", label.replace(",", "_")).strip("-_") or "variant"
    if len(s) > limit:
        s = s[: limit - 9] + "-" + hashlib.sha1(label.encode()).hexdigest()[:8]
    return s


def _default_out(paths: list[Path]) -> Path:
    first = paths[0]
    return first.parent if first.is_file() else first


def _write_csv(df: pd.DataFrame, path: Path, files: dict[str, Path], empty_note: str = "") -> None:
    if df.empty and empty_note:
        df = pd.DataFrame({"note": [empty_note]})
    df.to_csv(path, index=False)
    files[path.name] = path


def write_report(paths: Iterable[Path | str], out_dir: Path | str | None = None,
                 correction: str = "holm", mde_delta: float = 0.05,
                 score_column: str | None = None, baseline: str | None = None, all_pairs: bool = False,
                 equivalence_margin: float | None = None) -> ReportResult:
    """Build the report for multirun dirs and/or job dirs and write it into out_dir (default: the
    first dir given). Raises ReportError (one line: what, where, how to fix) on unusable input.

    baseline (else the jobs' spec.baseline) compares each variant with it; all_pairs every pair
    even then; equivalence_margin adds a TOST verdict per contrast."""
    if correction not in CORRECTIONS:
        raise ReportError(f"unknown correction {correction!r}", None, f"use one of {', '.join(CORRECTIONS)}")
    if not (isinstance(mde_delta, (int, float)) and 0 < mde_delta <= 1):
        raise ReportError(f"mde_delta {mde_delta!r} is not in (0, 1]", None, "pass e.g. 0.05 (five points)")
    if equivalence_margin is not None and not (isinstance(equivalence_margin, (int, float))
                                               and 0 < equivalence_margin <= 1):
        raise ReportError(f"equivalence margin {equivalence_margin!r} is not in (0, 1]", None,
                          "pass e.g. 0.05: differences within five points count as none")
    roots = [Path(p) for p in paths]
    loaded = load_runs(roots)
    if score_column is not None and score_column != "score":
        use_score_column(loaded, score_column)
    comp = compare(loaded, correction=correction, mde_delta=mde_delta,  # type: ignore[arg-type]
                   baseline=baseline, all_pairs=all_pairs, equivalence_margin=equivalence_margin)
    out = Path(out_dir) if out_dir is not None else _default_out(roots)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReportError(f"cannot create the output dir ({e.strerror})", out, "pass --out to a writable dir") from e
    for stale in list(out.glob("disagreements_*_vs_*.csv")) + list(out.glob("disagreements_*_vs_*.png")):
        stale.unlink()  # from an earlier report on other variants: would be read as current

    files: dict[str, Path] = {}
    _write_csv(comp.variants, out / "variants.csv", files)
    _write_csv(comp.pairwise, out / "pairwise.csv", files, "one variant only: nothing to compare")
    _write_csv(comp.sensitivity, out / "prompt_sensitivity.csv", files, "one prompt only")
    for (a, b), dis in comp.disagreements.items():
        _write_csv(dis, out / f"disagreements_{slug(a)}_vs_{slug(b)}.csv", files)

    images: list[tuple[Path, str]] = []
    made = [
        (plots.forest_variants(comp.variants, out / "variants_forest.png"), "Variant means with 95% CIs"),
        (plots.forest_pairwise(comp.pairwise, out / "pairwise_forest.png"),
         "Paired differences with 95% CIs" + (" (against the baseline)" if comp.baseline else "")),
        (plots.seed_strip(loaded.df, comp.order, out / "seeds_strip.png"), "Per-seed means"),
    ]
    if comp.disagreements:
        best = [k for k in comp.disagreements if k[0] == comp.order[0]] or list(comp.disagreements)
        a, b = best[0]
        made.append((plots.item_disagreements(comp.disagreements[(a, b)], a, b,
                                              out / f"disagreements_{slug(a)}_vs_{slug(b)}.png"),
                     f"Item-level differences, {a} vs {b}"))
    for path, alt in made:
        if path is not None:
            images.append((path, alt))
            files[path.name] = path

    blocks = build_document(loaded, comp, images, [p for n, p in files.items() if n.endswith(".csv")])
    (out / "report.md").write_text(to_markdown(blocks), encoding="utf-8")
    (out / "report.html").write_text(to_html(blocks), encoding="utf-8")
    files["report.md"], files["report.html"] = out / "report.md", out / "report.html"
    log.info("report written to %s", out / "report.md")
    return ReportResult(out, files, loaded, comp, list(loaded.warnings))
