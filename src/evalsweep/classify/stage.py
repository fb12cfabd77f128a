"""Classify the rows of finished jobs: for each job dir, every results.jsonl row not yet in
results.<name>.jsonl is graded by the classifier (through the same typed-response, cache, retry
and cost path as an inline judge) and appended there as soon as its grade is back."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evalsweep.classify.store import read_done, read_results, read_rows
from evalsweep.results.rows import JsonlWriter, json_line
from evalsweep.config.model import ModelConfig
from evalsweep.judge.scorer import JudgeScorer
from evalsweep.results.rows import JudgeInfo, ResultRecord

log = logging.getLogger(__name__)


class StageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    rubric: str
    grades: dict[str, float]
    classifier: ModelConfig

    @property
    def prefix(self) -> str:
        return f"{self.name}."

    def stamp(self) -> dict[str, Any]:
        """What must not change between a run and its resume: who classified, with what rubric."""
        text = json.dumps({"rubric": self.rubric, "grades": self.grades}, sort_keys=True)
        return {"classifier": self.classifier.name, "rubric": hashlib.sha256(text.encode()).hexdigest()[:12]}


class JobResult(BaseModel):
    """One job dir after the stage (counted from its file, so resumed rows count too)."""

    job_dir: str
    rows: int
    already: int  # classified by an earlier, interrupted run
    classified: int  # classified by this run
    errors: int
    grades: dict[str, int]
    mean_score: float | None
    # Share of rows where the classifier's score equals the job's own score (both present).
    agreement: float | None
    cost_usd: float
    cached: int
    torn: bool


def _question(rec: ResultRecord) -> str:
    return next((m.content for m in reversed(rec.messages) if m.role == "user"), "")


def row_for(rec: ResultRecord, info: JudgeInfo | None, settings: StageSettings, error: str | None = None) -> dict[str, Any]:
    p = settings.prefix
    row: dict[str, Any] = {"sample_id": rec.sample_id, "seed": rec.seed, "repeat": rec.repeat}
    row.update({p + k: v for k, v in settings.stamp().items()})
    if info is None:
        row.update({p + "grade": None, p + "score": None, p + "explanation": None, p + "error": error,
                    p + "cached": False, p + "asks": 0, p + "cost_usd": 0.0})
        return row
    row.update({
        p + "grade": info.grade, p + "score": info.score, p + "explanation": info.explanation,
        p + "error": info.error, p + "cached": info.cached, p + "asks": info.asks, p + "cost_usd": info.cost_usd,
        p + "input_tokens": info.usage.input_tokens, p + "output_tokens": info.usage.output_tokens,
    })
    if info.raw is not None:
        row[p + "raw"] = info.raw
    return row


async def classify_job(job_dir: Path, judge: JudgeScorer, settings: StageSettings,
                       on_row: Callable[[dict[str, Any]], None]) -> JobResult:
    records = read_results(job_dir / "results.jsonl")
    out = job_dir / f"results.{settings.name}.jsonl"
    done, torn = read_done(out, settings.prefix, settings.stamp())
    if torn:
        log.warning("dropped a torn last line from %s (a crash mid-write); that row is classified again", out)
    todo = [r for r in records if r.identity not in done]
    writer: JsonlWriter[dict[str, Any]] = JsonlWriter(out, serialize=json_line)
    writer.start()
    work: Iterator[ResultRecord] = iter(todo)

    async def one(rec: ResultRecord) -> None:
        if rec.output is None:
            why = rec.error.message if rec.error else "no output"
            row = row_for(rec, None, settings, error=f"nothing to classify: the sample has no output ({why})"[:500])
        else:
            info = await judge.grade(sample_id=rec.sample_id, question=_question(rec), target=rec.target,
                                     output=rec.output, metadata=rec.metadata, seed=rec.seed, repeat=rec.repeat)
            row = row_for(rec, info, settings)
        writer.put(row)
        on_row(row)

    async def worker() -> None:
        for rec in work:  # workers share one iterator: at most max_concurrency rows in flight
            await one(rec)

    try:
        async with asyncio.TaskGroup() as tg:
            for _ in range(min(settings.classifier.max_concurrency, max(1, len(todo)))):
                tg.create_task(worker())
    finally:
        await writer.close()
    return tally(job_dir, records, out, settings, already=len(done), classified=len(todo), torn=torn)


def tally(job_dir: Path, records: list[ResultRecord], out: Path, settings: StageSettings, *, already: int,
          classified: int, torn: bool) -> JobResult:
    p = settings.prefix
    rows, _ = read_rows(out)
    grades: dict[str, int] = {}
    scores: list[float] = []
    agree: list[bool] = []
    for rec in records:
        r = rows.get(rec.identity)
        if r is None:
            continue
        if r.get(p + "grade") is not None:
            grades[r[p + "grade"]] = grades.get(r[p + "grade"], 0) + 1
        if r.get(p + "score") is not None:
            scores.append(float(r[p + "score"]))
            if rec.score is not None:
                agree.append(float(r[p + "score"]) == float(rec.score))
    return JobResult(
        job_dir=str(job_dir), rows=len(rows), already=already, classified=classified,
        errors=sum(1 for r in rows.values() if r.get(p + "error")), grades=grades,
        mean_score=sum(scores) / len(scores) if scores else None,
        agreement=sum(agree) / len(agree) if agree else None,
        cost_usd=round(sum(float(r.get(p + "cost_usd") or 0.0) for r in rows.values()), 8),
        cached=sum(1 for r in rows.values() if r.get(p + "cached")), torn=torn,
    )
