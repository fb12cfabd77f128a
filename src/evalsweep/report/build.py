"""write_report: load -> one comparison per metric -> CSV tables, PNG plots, report.md, report.html.

The score's files keep their names (variants.csv, pairwise.csv, ...); another metric's carry its
name before the extension (variants.length.csv, variants_forest.length.png), and --group-by adds
variants_by_<field>[.<metric>].csv and pairwise_by_<field>[.<metric>].csv."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

import evalsweep.report.plots as plots
from evalsweep.report.compare import PAIR_ALL_STATUS, Comparison
from evalsweep.report.document import build_document
from evalsweep.report.errors import ReportError
from evalsweep.report.load import LoadedRuns, load_runs, use_score_column
from evalsweep.report.metrics import PRIMARY, metric_frame
from evalsweep.report.options import ReportOptions
from evalsweep.report.render import to_html, to_markdown
from evalsweep.report.samples import collect_samples
from evalsweep.report.sections import compare_metrics

log = logging.getLogger(__name__)

# Files of an earlier report that this one may not rewrite (other variants, metrics or groups):
# left in place they would be read as current.
STALE = ("disagreements_*_vs_*.csv", "disagreements_*_vs_*.png", "variants.*.csv", "pairwise.*.csv",
         "prompt_sensitivity.*.csv", "variants_forest.*.png", "pairwise_forest.*.png", "seeds_strip.*.png",
         "variants_by_*.csv", "pairwise_by_*.csv")
# Held while a report writes its dir (see _one_writer).
REPORT_LOCK = ".report.lock"


@dataclass
class ReportResult:
    out_dir: Path
    files: dict[str, Path]  # name -> path of everything written
    loaded: LoadedRuns
    comparison: Comparison  # the first section's (the score's, unless --metric names others first)
    warnings: list[str] = field(default_factory=list)
    comparisons: dict[str, Comparison] = field(default_factory=dict)  # metric name -> its section's

    @property
    def markdown(self) -> Path:
        return self.files["report.md"]

    @property
    def html(self) -> Path:
        return self.files["report.html"]

    def summary(self) -> dict[str, Any]:
        """Flat numbers for a tracker (e.g. wandb.summary): per variant and per paired pair, the
        score's under report/, another metric's under report/metric/<name>/."""
        out: dict[str, Any] = {"report/n_variants": len(self.comparison.variants),
                               "report/n_missing_jobs": len(self.loaded.missing)}
        for name, comp in (self.comparisons or {PRIMARY: self.comparison}).items():
            prefix = "report" if name == PRIMARY else f"report/metric/{name}"
            for r in comp.variants.itertuples(index=False):
                for k in ("mean", "se", "ci_low", "ci_high", "n_items", "seed_sd"):
                    out[f"{prefix}/variant/{r.variant}/{k}"] = getattr(r, k)
            for r in comp.pairwise.itertuples(index=False):
                if r.status == PAIR_ALL_STATUS:
                    for k in ("delta", "se", "ci_low", "ci_high", "p", "p_adj", "mde", "n_needed"):
                        out[f"{prefix}/pair/{r.a} vs {r.b}/{k}"] = getattr(r, k)
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


def _write_section(comp: Comparison, df: pd.DataFrame, out: Path, files: dict[str, Path]) -> list[tuple[Path, str]]:
    """One metric's CSV tables and plots; the plots it made, with their captions."""
    name = comp.metric.name
    ext = "" if name == PRIMARY else f".{slug(name)}"
    of = "" if name == PRIMARY else f" ({name})"
    _write_csv(comp.variants, out / f"variants{ext}.csv", files)
    _write_csv(comp.pairwise, out / f"pairwise{ext}.csv", files, "one variant only: nothing to compare")
    _write_csv(comp.sensitivity, out / f"prompt_sensitivity{ext}.csv", files, "one prompt only")
    if comp.groups is not None and comp.group_pairwise is not None:
        by = slug(str(comp.group_by))
        _write_csv(comp.groups, out / f"variants_by_{by}{ext}.csv", files)
        _write_csv(comp.group_pairwise, out / f"pairwise_by_{by}{ext}.csv", files,
                   "one variant only: nothing to compare")
    for (a, b), dis in comp.disagreements.items():
        _write_csv(dis, out / f"disagreements_{slug(a)}_vs_{slug(b)}{ext}.csv", files)
    made = [
        (plots.forest_variants(comp.variants, out / f"variants_forest{ext}.png", name),
         f"Variant means with 95% CIs{of}"),
        (plots.forest_pairwise(comp.pairwise, out / f"pairwise_forest{ext}.png", name),
         f"Paired differences with 95% CIs{of}" + (" (against the baseline)" if comp.baseline else "")),
        (plots.seed_strip(df, comp.order, out / f"seeds_strip{ext}.png", name), f"Per-seed means{of}"),
    ]
    if comp.disagreements:
        best = [k for k in comp.disagreements if k[0] == comp.order[0]] or list(comp.disagreements)
        a, b = best[0]
        made.append((plots.item_disagreements(comp.disagreements[(a, b)], a, b,
                                              out / f"disagreements_{slug(a)}_vs_{slug(b)}{ext}.png", what=name),
                     f"Item-level differences, {a} vs {b}{of}"))
    images: list[tuple[Path, str]] = []
    for path, alt in made:
        if path is not None:
            images.append((path, alt))
            files[path.name] = path
    return images


@contextmanager
def _one_writer(out: Path) -> Iterator[None]:
    """The dir made, and one report at a time writing it. Two at once (the sweep's own report and a report command, or
    two commands with other options) removed each other's plots as stale and overwrote them, and one
    then failed embedding a plot the other had removed. A second waits for the first (a report takes
    seconds), then writes its own; the lock (flock, like a job dir's) goes with its holder's process."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = (out / REPORT_LOCK).open("a")  # the first file a report writes in its dir
    except OSError as e:
        raise ReportError(f"cannot write in the output dir ({e.strerror})", out,
                          "pass --out to a writable dir") from e
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def write_report(paths: Iterable[Path | str], out_dir: Path | str | None = None,
                 options: ReportOptions | None = None, **changes: Any) -> ReportResult:
    """Build the report for multirun dirs and/or job dirs and write it into out_dir (default: the
    first dir given). Raises ReportError (one line: what, where, how to fix) on unusable input, before
    anything is written.

    options, or the changes to its defaults (evalsweep.report.options.ReportOptions: correction,
    mde_delta, score_column, baseline, all_pairs, equivalence_margin, metrics, group_by, ...): baseline
    (else the jobs' spec.baseline) compares each variant with it; all_pairs every pair even then;
    equivalence_margin adds a TOST verdict per contrast; metrics picks the metric sections (default:
    every metric, score first); group_by adds the tables per value of a metadata field."""
    opts = ReportOptions.of(options, changes)
    roots = [Path(p) for p in paths]
    loaded = load_runs(roots)
    if opts.score_column is not None and opts.score_column != PRIMARY:
        use_score_column(loaded, opts.score_column)
    comps = compare_metrics(loaded, opts)
    out = Path(out_dir) if out_dir is not None else _default_out(roots)
    first = next(iter(comps.values()))
    files: dict[str, Path] = {}
    with _one_writer(out):
        for stale in sorted({p for pattern in STALE for p in out.glob(pattern)}):
            stale.unlink()  # from an earlier report on other variants or metrics: would be read as current
        images = {name: _write_section(comp, metric_frame(loaded.df, comp.metric), out, files)
                  for name, comp in comps.items()}
        samples = collect_samples(loaded, first.order, first.group_by)
        blocks = build_document(loaded, comps, images, [p for n, p in files.items() if n.endswith(".csv")], samples)
        (out / "report.md").write_text(to_markdown(blocks), encoding="utf-8")
        (out / "report.html").write_text(to_html(blocks), encoding="utf-8")
    files["report.md"], files["report.html"] = out / "report.md", out / "report.html"
    log.info("report written to %s", out / "report.md")
    return ReportResult(out, files, loaded, first, list(loaded.warnings), comps)
