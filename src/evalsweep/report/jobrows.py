"""Reading a job's JSONL files: results.jsonl lines -> row dicts of the tidy frame (one per sample),
a typed answer's and an inline judge's fields, the row's metrics (scores.<name>) and its metadata
(metadata.<field>) as extra columns."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from evalsweep.report.errors import ReportError
from evalsweep.report.metrics import METADATA_PREFIX, SCORES_PREFIX

# The loader's warnings keep the logger name they have always had in a sweep's log.
log = logging.getLogger("evalsweep.report.load")


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


def result_row(rec: dict[str, Any], job: Path, facets: dict[str, Any], path: Path) -> dict[str, Any]:
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
    row.update(_score_columns(rec, lineno, path))
    row.update(_metadata_columns(rec))
    return row


def _score_columns(rec: dict[str, Any], lineno: Any, path: Path) -> dict[str, float]:
    """Each metric of the row's scores as scores.<name> (NaN for null): a number or null, else an error."""
    scores = rec.get("scores")
    if scores is None:
        return {}
    if not isinstance(scores, dict):
        raise ReportError(f"line {lineno}: scores {scores!r} is not an object of metric name: number", path,
                          "fix the scorer output or the line")
    out: dict[str, float] = {}
    for name, value in scores.items():
        if value is not None and (isinstance(value, str) or not isinstance(value, (int, float))):
            raise ReportError(f"line {lineno}: scores.{name} {value!r} is not a number or null", path,
                              "fix the scorer output or the line")
        out[f"{SCORES_PREFIX}{name}"] = _num(value)
    return out


def _metadata_columns(rec: dict[str, Any]) -> dict[str, Any]:
    """The dataset's metadata fields as metadata.<field>, to group by (lists and dicts as JSON)."""
    meta = rec.get("metadata")
    if not isinstance(meta, dict):
        return {}
    return {f"{METADATA_PREFIX}{k}": json.dumps(v, separators=(",", ":")) if isinstance(v, (dict, list)) else v
            for k, v in meta.items()}


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
