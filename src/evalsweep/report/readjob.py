"""Reading one job dir: its summary.json, its config (summary, else .hydra/), its results.jsonl
and results.<name>.jsonl files -> a JobInfo and the job's frame.

A parameter the provider is never sent (the real Anthropic API's temperature and top_p,
evalsweep.cache.keys.NOT_SENT) is shown as NOT_SENT_VALUE in the job's facets, so it makes no
variant; JobInfo.unsent keeps what the config had set it to.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from evalsweep.cache.keys import not_sent
from evalsweep.report.jobdirs import RESULTS, SUMMARY
from evalsweep.report.jobrows import read_jsonl, result_row

# The loader's warnings keep the logger name they have always had in a sweep's log.
log = logging.getLogger("evalsweep.report.load")

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
    stop_reason: str | None = None  # summary.json's: why an incomplete job stopped (a budget, an interrupt)


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


def load_job(job: Path, warnings: list[str]) -> tuple[JobInfo, pd.DataFrame | None]:
    """The job's JobInfo, and its frame (None when it is left out: failed, no results, empty)."""
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
    info.stop_reason = summary.get("stop_reason") if summary and isinstance(summary.get("stop_reason"), str) else None
    if status == "failed":
        left_out = "; its rows are left out" if (job / RESULTS).is_file() else ""
        info.reason = f"status failed{detail}{left_out}"
        return info, None
    results = job / RESULTS
    if not results.is_file():
        info.reason = "no results.jsonl (not started, or crashed before the first sample)"
        return info, None
    rows = [result_row(r, job, facets, results) for r in read_jsonl(results, warnings)]
    if not rows:
        info.reason = f"results.jsonl is empty{detail}"
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
