"""The per-sample record written to results.jsonl: built in one place, read back on resume."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from evalsweep.errors import EvalsweepError
from evalsweep.llm.types import Message, Usage


T = TypeVar("T")


class ResultsFileError(EvalsweepError):
    exit_code = 2


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    message: str
    status: int | None = None


class StructuredInfo(BaseModel):
    """How a typed answer was obtained (docs/structured.md)."""

    model_config = ConfigDict(extra="forbid")

    model: str  # the response model's name
    asks: int  # 1 = valid at the first ask; each re-ask adds one
    valid: bool
    error: str | None = None  # the last validation error when no ask gave a valid object


class JudgeInfo(BaseModel):
    """A judge's grade of this row's output (scorer=judge; docs/judge.md)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    grade: str | None = None
    score: float | None = None
    explanation: str | None = None
    # Why there is no grade: the judge's reply did not parse, or its request failed for good.
    error: str | None = None
    raw: str | None = None  # the judge's last reply when it did not parse
    asks: int = 0
    cached: bool = False
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0


class ResultRecord(BaseModel):
    """One line of results.jsonl: one sample (x seed x repeat) of one job."""

    model_config = ConfigDict(extra="forbid")

    sample_id: str
    model: str
    provider: str
    prompt: str
    dataset: str
    seed: int
    repeat: int = 0
    messages: list[Message]
    output: str | None
    target: str
    score: float | None
    scorer: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_s: float = 0.0
    cached: bool = False
    attempts: int = 0
    finish_reason: str | None = None
    request_id: str | None = None
    error: ErrorInfo | None = None
    simulated: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)
    # Typed responses: the validated object (its fields can be scored and reported) and how it came.
    parsed: dict[str, Any] | None = None
    structured: StructuredInfo | None = None
    judge: JudgeInfo | None = None

    @property
    def identity(self) -> tuple[str, int, int]:
        """Stable identity used by resume: the same sample, seed and repeat is the same work."""
        return (self.sample_id, self.seed, self.repeat)


class JsonlWriter(Generic[T]):
    """Appends lines to a JSONL file from one writer task: lines are written and flushed as
    they arrive (in whatever batch is waiting), off the event loop, never held to the end.
    Used for results.jsonl (ResultRecord) and for later stages' files (plain dicts)."""

    def __init__(self, path: Path, serialize: Callable[[T], str] | None = None) -> None:
        self.path = path
        self._serialize: Callable[[T], str] = serialize or _dump_model
        self._queue: asyncio.Queue[T | None] = asyncio.Queue()
        self._file = path.open("a", encoding="utf-8")
        self._task: asyncio.Task[None] | None = None
        self.written = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._drain(), name=f"write-{self.path.name}")

    def put(self, record: T) -> None:
        self._queue.put_nowait(record)

    def _write(self, lines: list[str]) -> None:
        self._file.write("".join(lines))
        self._file.flush()

    async def _drain(self) -> None:
        done = False
        while not done:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            done = batch[-1] is None
            lines = [self._serialize(r) + "\n" for r in batch if r is not None]
            if lines:
                await asyncio.to_thread(self._write, lines)
                self.written += len(lines)

    async def close(self) -> None:
        """Flush everything queued, then close the file."""
        if self._task is not None and not self._task.done():
            self._queue.put_nowait(None)
            await asyncio.shield(self._task)
        elif self._task is None:
            # Never started: write synchronously what is queued.
            lines = []
            while not self._queue.empty():
                r = self._queue.get_nowait()
                if r is not None:
                    lines.append(self._serialize(r) + "\n")
            self._write(lines)
        self._file.close()


def _dump_model(record: Any) -> str:
    return record.model_dump_json()


def json_line(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False)


def complete_lines(path: Path, *, cut_torn_tail: bool) -> tuple[list[tuple[int, bytes]], bool]:
    """The file's complete lines as (line number, bytes), and whether a torn last line was found.
    Each line is written whole and ends in a newline, so only a last line without its newline can
    be torn by a crash; with cut_torn_tail it is cut off the file, so its work is redone cleanly."""
    raw = path.read_bytes()
    *complete, tail = raw.split(b"\n")
    lines = [(n, line) for n, line in enumerate(complete, start=1) if line.strip()]
    torn = bool(tail.strip())
    if torn and cut_torn_tail:
        with path.open("r+b") as f:
            f.truncate(len(raw) - len(tail))
    return lines, torn


def read_done(path: Path) -> tuple[dict[tuple[str, int, int], ResultRecord], int]:
    """Records already complete in results.jsonl, by identity, and the number of torn lines
    dropped (cut off the file and redone)."""
    done: dict[tuple[str, int, int], ResultRecord] = {}
    if not path.exists():
        return done, 0
    lines, torn = complete_lines(path, cut_torn_tail=True)
    for lineno, line in lines:
        try:
            rec = ResultRecord.model_validate_json(line)
        except ValueError as exc:
            raise ResultsFileError(
                f"{path}:{lineno}: not a valid result record ({str(exc).splitlines()[0]}); "
                f"move the file aside to start this job afresh"
            ) from None
        done[rec.identity] = rec
    return done, int(torn)
