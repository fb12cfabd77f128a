"""The rows the report's sample browser shows: every included job's results.jsonl, one entry per
sample with its variant, transcript (messages, output, turns), scores, error and metadata.

A huge sweep would make report.html unusable, so each variant keeps its first PER_VARIANT rows by
item, seed and repeat (the same items in every variant, so two can be read side by side) and every
text is cut at TEXT_CHARS; the page says so (SampleSet.cap_note)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from evalsweep.report.jobrows import read_jsonl
from evalsweep.report.jobdirs import RESULTS
from evalsweep.report.load import LoadedRuns

PER_VARIANT = 500
TEXT_CHARS = 20_000


@dataclass
class SampleSet:
    rows: list[dict[str, Any]]
    variants: list[str]  # in the report's order
    total: dict[str, int]  # variant -> rows it has (before the cap)
    group_by: str | None = None  # the metadata field the report groups by: the browser's first choice
    metadata_fields: list[str] = field(default_factory=list)

    @property
    def capped(self) -> dict[str, int]:
        shown: dict[str, int] = {}
        for r in self.rows:
            shown[r["variant"]] = shown.get(r["variant"], 0) + 1
        return {v: n for v, n in self.total.items() if n > shown.get(v, 0)}

    @property
    def cap_note(self) -> str:
        n = sum(self.total.values())
        said = (f"{len(self.rows)} sample(s) of {len(self.variants)} variant(s); texts longer than {TEXT_CHARS} "
                f"characters are cut")
        capped = self.capped
        if not capped:
            return f"All {said}."
        which = ", ".join(f"{v} ({t})" for v, t in capped.items())
        return (f"{said}. Capped at the first {PER_VARIANT} rows per variant by item, seed and repeat, of {n} in "
                f"all: {which} have more; the full rows are in each job's results.jsonl.")


def _clip(value: Any) -> Any:
    """JSON-ready: long texts cut, NaN as null (JSON has no NaN), nested lists and dicts alike."""
    if isinstance(value, str):
        return value if len(value) <= TEXT_CHARS else value[:TEXT_CHARS] + f"… [cut: {len(value)} characters]"
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clip(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clip(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def _row(rec: dict[str, Any], variant: str, job: str, item: str) -> dict[str, Any]:
    score = rec.get("score")
    return _clip({
        "variant": variant, "job": job, "item": item, "sample_id": str(rec.get("sample_id")),
        "seed": rec.get("seed"), "repeat": rec.get("repeat") or 0,
        "score": score if isinstance(score, (int, float)) and not isinstance(score, bool) else None,
        "scores": rec.get("scores") if isinstance(rec.get("scores"), dict) else {},
        "target": rec.get("target"), "output": rec.get("output"), "messages": rec.get("messages") or [],
        "turns": rec.get("turns"), "error": rec.get("error"),
        "metadata": rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {},
    })


def _order(r: dict[str, Any]) -> tuple[str, int, int]:
    seed = r["seed"] if isinstance(r["seed"], int) else 0
    return (r["item"], seed, r["repeat"] if isinstance(r["repeat"], int) else 0)


def collect_samples(loaded: LoadedRuns, order: list[str], group_by: str | None = None) -> SampleSet:
    """The browser's rows for the included jobs, variants in `order` (the report's ranking)."""
    df = loaded.df
    items = {(str(j), str(s)): str(i) for j, s, i in zip(df["job_dir"], df["sample_id"], df["item"])}
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for job in (j for j in loaded.jobs if j.included):
        for rec in read_jsonl(job.path / RESULTS, []):  # its warnings were given when it was loaded
            sid = str(rec.get("sample_id"))
            item = items.get((str(job.path), sid), f"{rec.get('dataset')}:{sid}")
            by_variant.setdefault(job.variant, []).append(_row(rec, job.variant, job.path.name, item))
    variants = [v for v in order if v in by_variant] + sorted(v for v in by_variant if v not in order)
    rows: list[dict[str, Any]] = []
    for v in variants:
        rows += sorted(by_variant[v], key=_order)[:PER_VARIANT]
    fields = sorted({k for r in rows for k in r["metadata"]})
    return SampleSet(rows, variants, {v: len(by_variant[v]) for v in variants}, group_by, fields)


def to_json(samples: SampleSet) -> str:
    """The rows as JSON safe inside <script type="application/json">: no '<', '>' or '&' left raw,
    so no text (a transcript quoting '</script>') can close the tag or open a comment."""
    payload = {"rows": samples.rows, "variants": samples.variants, "group_by": samples.group_by,
               "fields": samples.metadata_fields, "note": samples.cap_note}
    text = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
