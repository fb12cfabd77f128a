"""Job dirs -> one tidy DataFrame (one row per sample x job), with variants labelled.

A path is a job dir (holds results.jsonl, summary.json or .hydra/) or a multirun dir whose
subdirs are job dirs. A variant is what differs between jobs' configs, seeds excluded: jobs that
differ only in seed are replicates of one variant. A parameter the provider is never sent (the real
Anthropic API's temperature and top_p, evalsweep.cache.keys.NOT_SENT) makes no variant either.

An item is a dataset's sample id. Jobs whose summaries record different dataset fingerprints
(evalsweep.task.fingerprint) under one dataset name asked different questions under the same ids: their
items are told apart by the fingerprint, so they are never paired, and the report says why.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import yaml

from evalsweep.cache.keys import not_sent
from evalsweep.task.fingerprint import short as short_fingerprint
from evalsweep.report.errors import ReportError

log = logging.getLogger(__name__)

RESULTS = "results.jsonl"
SUMMARY = "summary.json"

# Config keys that never make a new variant: seeds are replicates; the rest change how a job
# runs (paths, cache, tracking, concurrency, retries, a simulator's loopback port), not what
# the model is asked.
IGNORED_KEYS = (
    "seed", "*.seed", "hydra.*", "cache.*", "tracker", "tracker.*", "run.*", "wandb.*",
    "*.max_concurrency", "*.request_timeout_s", "*.retry.*", "*.rpm", "*.tpm",
    "*.api_key_env", "*.base_url", "*output_dir", "*out_dir", "*run_dir", "*job_dir", "*run_id",
    "*run_name", "*timestamp*", "*_utc",
)
# Keys tried first when labelling variants, shown without their ".name".
LABEL_PRIORITY = ("model.name", "prompt.name", "dataset.name", "scorer.type")

COLUMNS = [
    "job_dir", "variant", "model", "provider", "prompt", "dataset", "dataset_fingerprint", "seed", "repeat",
    "sample_id", "item", "score", "scorer", "error_type", "output", "target", "cached",
    "latency_s", "input_tokens", "output_tokens", "cost_usd", "simulated",
]
_UNSET = "<unset>"
# The value shown for a parameter the provider is never sent.
NOT_SENT_VALUE = "not sent"


@dataclass
class JobInfo:
    path: Path
    status: str  # complete | incomplete | failed | no summary | unreadable summary
    included: bool
    reason: str = ""  # why it is left out or only partly in; "" for a complete job
    n_rows: int = 0
    seed: int | None = None
    variant: str = ""
    facets: dict[str, Any] = field(default_factory=dict)  # flattened config
    git: dict[str, Any] = field(default_factory=dict)
    dataset_fingerprint: str | None = None  # summary.json's; None for older jobs
    # Parameters the provider is never sent, with the values the config gave them (facets show NOT_SENT_VALUE).
    unsent: dict[str, Any] = field(default_factory=dict)


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


# --- finding job dirs ------------------------------------------------------------------------


def _is_job_dir(p: Path) -> bool:
    return (p / RESULTS).is_file() or (p / SUMMARY).is_file() or (p / ".hydra").is_dir()


def _natural(p: Path) -> tuple[int, int | str]:
    return (0, int(p.name)) if p.name.isdigit() else (1, p.name)


def find_job_dirs(path: Path) -> list[Path]:
    """The job dirs a path stands for: itself, or its job subdirs (0/, 1/, ... in order)."""
    fix = "pass a multirun dir (multirun/<date>/<time>) or a job dir holding results.jsonl"
    if not path.exists():
        raise ReportError("no such file or directory", path, fix)
    if path.is_file():
        if path.name == RESULTS:
            return [path.parent]
        raise ReportError("not a directory", path, fix)
    if _is_job_dir(path):
        return [path]
    subdirs = sorted((c for c in path.iterdir() if c.is_dir()), key=_natural)
    jobs = [c for c in subdirs if _is_job_dir(c)]
    if jobs:
        return jobs
    if not subdirs and not any(path.iterdir()):
        raise ReportError("empty directory, no job dirs", path, fix)
    sweeps = [c.name for c in subdirs if any(g.is_dir() and _is_job_dir(g) for g in c.iterdir())]
    if sweeps:
        raise ReportError(
            "no job dirs directly", path, f"pass one sweep dir inside it: {', '.join(sweeps[:5])}"
        )
    raise ReportError("no job dirs (no subdir holds results.jsonl, summary.json or .hydra/)", path, fix)


# --- reading one job -------------------------------------------------------------------------


def read_jsonl(path: Path, warnings: list[str]) -> list[dict[str, Any]]:
    """Parse a JSONL file. A torn last line (a crash mid-write) is dropped with a warning; a bad
    line anywhere else is a ReportError naming file and line."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ReportError(f"cannot read ({e.strerror})", path, "check the file's permissions") from e
    lines = raw.split(b"\n")
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    last = numbered[-1][0] if numbered else 0
    rows: list[dict[str, Any]] = []
    for lineno, ln in numbered:
        try:
            obj = json.loads(ln.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            if lineno == last:
                msg = f"{path}: dropped torn last line {lineno} (not valid JSON: a crash mid-write)"
                log.warning(msg)
                warnings.append(msg)
                continue
            raise ReportError(
                f"line {lineno} is not valid JSON ({e})", path,
                "only a torn last line is dropped on its own; restore the file or delete that line",
            ) from e
        if not isinstance(obj, dict):
            raise ReportError(f"line {lineno} is not a JSON object", path, "each line must be one record")
        obj["__line__"] = lineno
        rows.append(obj)
    return rows


def _read_json(path: Path, warnings: list[str]) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        msg = f"{path}: unreadable ({e}); treated as missing"
        log.warning(msg)
        warnings.append(msg)
        return None
    return data if isinstance(data, dict) else None


def _read_yaml(path: Path, warnings: list[str]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        msg = f"{path}: unreadable YAML ({type(e).__name__}); ignored"
        log.warning(msg)
        warnings.append(msg)
        return None


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """{"model": {"name": "x"}} -> {"model.name": "x"}; lists stay values."""
    if not isinstance(d, dict):
        return {prefix: d} if prefix else {}
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def _facets(job: Path, summary: dict[str, Any] | None, warnings: list[str]) -> dict[str, Any]:
    """The job's config, flattened: summary.json's resolved config, else .hydra/config.yaml,
    else what .hydra/overrides.yaml says."""
    config = summary.get("config") if summary else None
    if not isinstance(config, dict) and (job / ".hydra" / "config.yaml").is_file():
        config = _read_yaml(job / ".hydra" / "config.yaml", warnings)
    if isinstance(config, dict):
        return flatten(config)
    facets: dict[str, Any] = {}
    overrides = job / ".hydra" / "overrides.yaml"
    items = _read_yaml(overrides, warnings) if overrides.is_file() else None
    for item in items if isinstance(items, list) else []:
        key, sep, value = str(item).lstrip("+~").partition("=")
        if sep:
            # A group choice ("model=sim_weak") names the group, like model.name would.
            facets[key if "." in key or key == "seed" else f"{key}.name"] = value
    return facets


def _num(value: Any, default: float = math.nan) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return default


def _int(value: Any, name: str, lineno: Any, path: Path) -> int:
    if value is None:
        return 0
    try:
        return int(value)
    except (TypeError, ValueError) as e:
        raise ReportError(f"line {lineno}: {name} {value!r} is not an integer", path,
                          "fix or delete that line") from e


def _row(rec: dict[str, Any], job: Path, facets: dict[str, Any], path: Path) -> dict[str, Any]:
    lineno = rec.get("__line__")
    if "sample_id" not in rec or "score" not in rec:
        raise ReportError(
            f"line {lineno} has no {'sample_id' if 'sample_id' not in rec else 'score'}", path,
            "is this a results.jsonl written by evalsweep?",
        )
    score = rec["score"]
    if score is not None and (isinstance(score, str) or not isinstance(score, (int, float))):
        raise ReportError(f"line {lineno}: score {score!r} is not a number or null", path,
                          "fix the scorer output or the line")
    usage = rec.get("usage") if isinstance(rec.get("usage"), dict) else {}
    error = rec.get("error") if isinstance(rec.get("error"), dict) else None
    dataset = str(rec.get("dataset") or facets.get("dataset.name") or "unknown")
    sample_id = str(rec["sample_id"])
    row = {
        "job_dir": str(job),
        "model": str(rec.get("model") or facets.get("model.name") or "unknown"),
        "provider": rec.get("provider") or facets.get("model.provider"),
        "prompt": str(rec.get("prompt") or facets.get("prompt.name") or "unknown"),
        "dataset": dataset,
        "dataset_fingerprint": None,
        "seed": _int(rec.get("seed", facets.get("seed")), "seed", lineno, path),
        "repeat": _int(rec.get("repeat"), "repeat", lineno, path),
        "sample_id": sample_id,
        "item": f"{dataset}:{sample_id}",
        "score": _num(score),
        "scorer": rec.get("scorer"),
        "error_type": error.get("type") if error else None,
        "output": rec.get("output"),
        "target": None if rec.get("target") is None else str(rec.get("target")),
        "cached": bool(rec.get("cached", False)),
        "latency_s": _num(rec.get("latency_s")),
        "input_tokens": _num(usage.get("input_tokens")),
        "output_tokens": _num(usage.get("output_tokens")),
        "cost_usd": _num(rec.get("cost_usd")),
        "simulated": bool(rec.get("simulated", False)),
    }
    row.update(_nested_columns(rec))
    return row


def _nested_columns(rec: dict[str, Any]) -> dict[str, Any]:
    """A typed answer's fields as parsed.<field> and an inline judge's grade as judge.<key>, so
    they can be report columns or, with --score-column, the score."""
    out: dict[str, Any] = {}
    for name, keys in (("parsed", None), ("judge", ("grade", "score", "error", "model", "cost_usd"))):
        block = rec.get(name)
        if not isinstance(block, dict):
            continue
        for k, v in block.items():
            if keys is None or k in keys:
                out[f"{name}.{k}"] = json.dumps(v) if isinstance(v, (dict, list)) else v
    return out


def use_score_column(loaded: LoadedRuns, column: str) -> None:
    """Score every row by `column` (e.g. classify.score, judge.score, parsed.confidence) instead of
    the job's scorer; the job's own score is kept as original_score. Missing values are left out
    of the means like an errored sample."""
    df = loaded.df
    if column not in df.columns:
        candidates = sorted(c for c in df.columns if "." in c and c not in ("config.seed",))
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


def _extra_columns(job: Path, df: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
    """Merge results.<name>.jsonl files (extra columns keyed by sample_id, seed, repeat)."""
    keys = ["sample_id", "seed", "repeat"]
    for extra in sorted(job.glob("results.*.jsonl")):
        name = extra.name[len("results."):-len(".jsonl")]
        rows = read_jsonl(extra, warnings)
        if not rows:
            continue
        add = pd.DataFrame(rows).drop(columns="__line__")
        if not set(keys) <= set(add.columns):
            msg = f"{extra}: no sample_id/seed/repeat columns to join on; ignored"
            log.warning(msg)
            warnings.append(msg)
            continue
        try:
            add["seed"] = add["seed"].astype(int)
            add["repeat"] = add["repeat"].astype(int)
        except (TypeError, ValueError):
            msg = f"{extra}: seed/repeat are not all integers; ignored"
            log.warning(msg)
            warnings.append(msg)
            continue
        add["sample_id"] = add["sample_id"].astype(str)
        add = add.drop_duplicates(keys, keep="last")
        for col in add.columns.difference(keys):
            add[col] = add[col].map(lambda v: json.dumps(v) if isinstance(v, (dict, list)) else v)
        add = add.rename(columns={c: f"{name}.{c}" for c in add.columns if c in df.columns and c not in keys})
        df = df.merge(add, on=keys, how="left")
    return df


def _load_job(job: Path, warnings: list[str]) -> tuple[JobInfo, pd.DataFrame | None]:
    summary = _read_json(job / SUMMARY, warnings) if (job / SUMMARY).is_file() else None
    if summary is None:
        status = "unreadable summary" if (job / SUMMARY).is_file() else "no summary"
    else:
        status = str(summary.get("status", "unknown"))
    facets = _facets(job, summary, warnings)
    fp = summary.get("dataset_fingerprint") if summary else None
    info = JobInfo(job, status, False, facets=facets,
                   git=summary.get("git", {}) if summary and isinstance(summary.get("git"), dict) else {},
                   dataset_fingerprint=fp if isinstance(fp, str) and fp else None,
                   unsent=_mark_not_sent(facets))
    why = (summary.get("stop_reason") or summary.get("error")) if summary else None
    detail = f" ({why.get('message', why) if isinstance(why, dict) else why})" if why else ""
    if status == "failed":
        left_out = "; its rows are left out" if (job / RESULTS).is_file() else ""
        info.reason = f"status failed{detail}{left_out}"
        return info, None
    results = job / RESULTS
    if not results.is_file():
        info.reason = "no results.jsonl (not started, or crashed before the first sample)"
        return info, None
    rows = [_row(r, job, facets, results) for r in read_jsonl(results, warnings)]
    if not rows:
        info.reason = "results.jsonl is empty"
        return info, None
    df = pd.DataFrame(rows)
    dupes = int(df.duplicated(["sample_id", "seed", "repeat"]).sum())
    if dupes:
        msg = f"{results}: {dupes} duplicate rows (same sample_id, seed, repeat); kept the last"
        log.warning(msg)
        warnings.append(msg)
        df = df.drop_duplicates(["sample_id", "seed", "repeat"], keep="last")
    df = _extra_columns(job, df, warnings)
    info.included, info.n_rows = True, len(df)
    seeds = sorted(df["seed"].unique().tolist())
    info.seed = int(seeds[0]) if len(seeds) == 1 else None
    for key, value in (("model.name", df["model"].iloc[0]), ("prompt.name", df["prompt"].iloc[0]),
                       ("dataset.name", df["dataset"].iloc[0])):
        facets.setdefault(key, value)
    if status == "no summary":
        info.reason = f"no summary.json (still running or crashed): its {len(df)} rows are included"
    elif status == "unreadable summary":
        info.reason = f"summary.json unreadable: its {len(df)} rows are included"
    elif status != "complete":
        info.reason = f"status {status}{detail}: its {len(df)} rows are included"
    return info, df


def _mark_not_sent(facets: dict[str, Any]) -> dict[str, Any]:
    """Replace, in a job's facets, the parameters its provider is never sent by NOT_SENT_VALUE, so
    they neither make variants nor label them; return what the config had set them to."""
    simulated = facets.get("model.simulated")
    if simulated is None:
        return {}  # an old or partial config: cannot tell a real model from the simulator
    unsent: dict[str, Any] = {}
    for name in not_sent(str(facets.get("model.provider")), bool(simulated), bool(facets.get("model.reasoning"))):
        key = f"model.{name}"
        if key in facets:
            unsent[key] = facets[key]
            facets[key] = NOT_SENT_VALUE
    return unsent


def _warn_not_sent(jobs: list[JobInfo], warnings: list[str]) -> None:
    """A sweep over a parameter the provider never gets is a no-op: say so once per variant."""
    by_variant: dict[str, dict[str, set[str]]] = {}
    for j in jobs:
        for key, value in j.unsent.items():
            by_variant.setdefault(j.variant, {}).setdefault(key, set()).add(_show(value))
    for variant, params in sorted(by_variant.items()):
        for key, values in sorted(params.items()):
            if len(values) > 1:
                provider = next(str(j.facets.get("model.provider")) for j in jobs if j.variant == variant)
                msg = (f"variant {variant}: {key} was set to {', '.join(sorted(values))} in its jobs, but the "
                       f"{provider} API is never sent {key.split('.', 1)[1]}: those jobs are one variant, "
                       f"not a sweep over it")
                log.warning(msg)
                warnings.append(msg)


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


# --- variants ----------------------------------------------------------------------------------


def _hashable(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def _show(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def differing_keys(jobs: list[JobInfo]) -> list[str]:
    """Config keys whose values differ between jobs, ignoring seeds and run mechanics."""
    keys = sorted({k for j in jobs for k in j.facets})
    out = []
    for k in keys:
        if any(fnmatch.fnmatchcase(k, pat) for pat in IGNORED_KEYS):
            continue
        if len({_hashable(j.facets.get(k, _UNSET)) for j in jobs}) > 1:
            out.append(k)
    return out


def label_keys(jobs: list[JobInfo], keys: list[str]) -> list[str]:
    """The fewest keys, in priority order, that tell all variants apart: a key is kept only if
    it splits jobs that the keys before it left together (model.provider adds nothing to
    model.name)."""
    ordered = [k for k in LABEL_PRIORITY if k in keys]
    ordered += sorted(k for k in keys if k.endswith(".name") and k.count(".") == 1 and k not in ordered)
    ordered += [k for k in keys if k not in ordered]
    chosen: list[str] = []
    n_classes = 1
    for k in ordered:
        trial = chosen + [k]
        classes = len({tuple(_hashable(j.facets.get(c, _UNSET)) for c in trial) for j in jobs})
        if classes > n_classes:
            chosen, n_classes = trial, classes
    return chosen


def format_label(keys: list[str], values: dict[str, Any]) -> str:
    """"model=sim-weak,prompt=cot" from label keys and their values (a group's .name shows as
    the group)."""
    parts = []
    for k in keys:
        shown = k[: -len(".name")] if k.endswith(".name") and k.count(".") == 1 else k
        parts.append(f"{shown}={_show(values.get(k))}")
    return ",".join(parts)


def _label(job: JobInfo, keys: list[str]) -> str:
    if not keys:
        return str(job.facets.get("model.name", "unknown"))
    return format_label(keys, job.facets)


# --- public --------------------------------------------------------------------------------------


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
        info, df = _load_job(job, warnings)
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
        j.variant = _label(j, keys)
    _warn_not_sent(included, warnings)
    by_job = {str(j.path): j for j in included}
    _separate_datasets(included, {df["job_dir"].iloc[0]: df for df in frames}, warnings)
    for df in frames:
        job = by_job[df["job_dir"].iloc[0]]
        df["variant"] = job.variant
        df["dataset_fingerprint"] = job.dataset_fingerprint
        for k in diff:
            col = f"config.{k}" if k in COLUMNS else k
            df[col] = _show(job.facets[k]) if isinstance(job.facets.get(k), (list, dict)) else job.facets.get(k)
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
