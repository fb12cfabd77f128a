"""Job dirs -> one tidy DataFrame (one row per sample x job), with variants labelled: today's columns
(COLUMNS), the config keys that differ, each metric of the rows' scores as scores.<name> and each
metadata field as metadata.<field> (evalsweep.report.metrics).

load_runs finds the job dirs (jobdirs), reads each (readjob), names the variants (labels) and
builds the frame here. A variant is what differs between jobs' configs, seeds excluded.

An item is a dataset's sample id. Jobs whose summaries record different dataset fingerprints
(evalsweep.task.fingerprint) under one dataset name asked different questions under the same ids: their
items are told apart by the fingerprint, so they are never paired, and the report says why.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from evalsweep.task.fingerprint import short as short_fingerprint
from evalsweep.report.errors import ReportError
from evalsweep.report.jobdirs import find_job_dirs
from evalsweep.report.labels import differing_keys, label_keys, show_value, variant_label, warn_not_sent
from evalsweep.report.metrics import METADATA_PREFIX, metadata_fields, metric_names
from evalsweep.report.readjob import JobInfo, load_job

log = logging.getLogger(__name__)

COLUMNS = [
    "job_dir", "variant", "model", "provider", "prompt", "dataset", "dataset_fingerprint", "seed", "repeat",
    "sample_id", "item", "score", "scorer", "error_type", "output", "target", "cached",
    "latency_s", "input_tokens", "output_tokens", "cost_usd", "simulated",
]


@dataclass
class LoadedRuns:
    df: pd.DataFrame
    jobs: list[JobInfo]
    missing: list[tuple[Path, str]]  # jobs left out, or only partly in, with the reason
    warnings: list[str]
    roots: list[Path]
    label_keys: list[str]  # config keys whose values name the variants
    config_columns: list[str]  # config keys that differ between jobs (columns of df)

    @property
    def simulated(self) -> bool:
        return bool(len(self.df)) and bool(self.df["simulated"].any())

    @property
    def variants(self) -> list[str]:
        return sorted(self.df["variant"].unique().tolist())

    @property
    def metrics(self) -> list[str]:
        """The metric names: score first, then the names of the rows' scores (columns scores.<name>)."""
        return metric_names(self.df)

    @property
    def metadata_fields(self) -> list[str]:
        """The rows' metadata fields (columns metadata.<field>), the values --group-by can take."""
        return metadata_fields(self.df)


def use_score_column(loaded: LoadedRuns, column: str) -> None:
    """Score every row by `column` (e.g. classify.score, judge.score, parsed.confidence) instead of
    the job's scorer; the job's own score is kept as original_score. Missing values are left out
    of the means like an errored sample."""
    df = loaded.df
    if column not in df.columns:
        candidates = sorted(c for c in df.columns
                            if "." in c and c not in ("config.seed",) and not c.startswith(METADATA_PREFIX))
        raise ReportError(f"no column {column!r} in the results", ", ".join(map(str, loaded.roots)),
                          f"choose one of: {', '.join(candidates[:20]) or 'score'} (extra columns come from "
                          f"results.<name>.jsonl files, e.g. scripts/classify.py)")
    values = df[column]
    if values.map(lambda v: isinstance(v, bool)).any():
        values = values.map(lambda v: float(v) if isinstance(v, bool) else v)
    numeric = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & numeric.isna()
    if bad.any():
        example = values[bad].iloc[0]
        raise ReportError(f"column {column!r} holds a non-number ({example!r})", ", ".join(map(str, loaded.roots)),
                          "choose a numeric column, e.g. classify.score rather than classify.grade")
    df["original_score"] = df["score"]
    df["score"] = numeric.astype(float)
    missing = int(df["score"].isna().sum() - df["original_score"].isna().sum())
    note = f"scores are the column {column}, not the jobs' own scorer"
    if missing > 0:
        note += f"; {missing} row(s) have no value there and are left out of the means"
    loaded.warnings.append(note)


def _separate_datasets(jobs: list[JobInfo], frames: dict[str, pd.DataFrame], warnings: list[str]) -> None:
    """Items of jobs whose datasets share a name but not a fingerprint are told apart: their item
    key gets the fingerprint (dataset@fp:id), so they are never compared as the same items."""
    by_name: dict[str, set[str]] = {}
    for j in jobs:
        if j.dataset_fingerprint:
            by_name.setdefault(str(j.facets.get("dataset.name")), set()).add(j.dataset_fingerprint)
    for name, fps in sorted(by_name.items()):
        if len(fps) < 2:
            continue
        shown = ", ".join(short_fingerprint(f) for f in sorted(fps))
        msg = (f"dataset {name}: its jobs asked different items under one name (fingerprints {shown}; another "
               f"file, an edited file or another subset): items are paired only between jobs with the same "
               f"fingerprint")
        log.warning(msg)
        warnings.append(msg)
        for j in jobs:
            if str(j.facets.get("dataset.name")) != name:
                continue
            df = frames[str(j.path)]
            tag = short_fingerprint(j.dataset_fingerprint)
            df["item"] = df["dataset"] + f"@{tag}:" + df["sample_id"]


def load_runs(paths: Iterable[Path | str]) -> LoadedRuns:
    """Load job dirs and multirun dirs into one tidy DataFrame, one row per sample x job."""
    roots = [Path(p) for p in paths]
    if not roots:
        raise ReportError("no dirs given", None, "pass at least one multirun dir or job dir")
    seen: set[Path] = set()
    job_dirs: list[Path] = []
    for root in roots:
        for job in find_job_dirs(root):
            if job.resolve() not in seen:
                seen.add(job.resolve())
                job_dirs.append(job)
    warnings: list[str] = []
    jobs: list[JobInfo] = []
    frames: list[pd.DataFrame] = []
    for job in job_dirs:
        info, df = load_job(job, warnings)
        jobs.append(info)
        if df is not None:
            frames.append(df)
    missing = [(j.path, j.reason) for j in jobs if j.reason]
    if not frames:
        reasons = "; ".join(f"{j.path.name}: {j.reason}" for j in jobs)
        raise ReportError(
            f"no results to report: {len(jobs)} job dir(s), none with results ({reasons})",
            ", ".join(map(str, roots)),
            "run the sweep first, or wait until its jobs write results.jsonl",
        )
    included = [j for j in jobs if j.included]
    diff = differing_keys(included)
    keys = label_keys(included, diff)
    for j in included:
        j.variant = variant_label(j, keys)
    warn_not_sent(included, warnings)
    by_job = {str(j.path): j for j in included}
    _separate_datasets(included, {df["job_dir"].iloc[0]: df for df in frames}, warnings)
    for df in frames:
        job = by_job[df["job_dir"].iloc[0]]
        df["variant"] = job.variant
        df["dataset_fingerprint"] = job.dataset_fingerprint
        for k in diff:
            col = f"config.{k}" if k in COLUMNS else k
            df[col] = show_value(job.facets[k]) if isinstance(job.facets.get(k), (list, dict)) else job.facets.get(k)
    df = pd.concat(frames, ignore_index=True)
    ordered = COLUMNS + [c for c in df.columns if c not in COLUMNS]
    df = df[ordered]
    pooled = Counter((j.variant, j.seed) for j in included if j.seed is not None)
    for (variant, seed), count in sorted(pooled.items(), key=str):
        if count > 1:
            msg = f"{count} jobs are variant {variant} with seed {seed}: their rows are pooled"
            log.warning(msg)
            warnings.append(msg)
    return LoadedRuns(df, jobs, missing, warnings, roots, keys,
                      [f"config.{k}" if k in COLUMNS else k for k in diff])
