"""The per-sample record written to results.jsonl: built in one place, read back on resume."""

from __future__ import annotations

import asyncio
import errno
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from evalsweep.errors import EvalsweepError, ExitCode
from evalsweep.llm.logprobs import TokenLogprobs
from evalsweep.llm.types import Message, Usage, without_none


T = TypeVar("T")


class ResultsFileError(EvalsweepError):
    exit_code = ExitCode.BAD_INPUT


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


class TurnInfo(BaseModel):
    """One generate of a solver that may ask more than once (docs/experiments.md, "Solvers")."""

    model_config = ConfigDict(extra="forbid")

    output: str  # the reply as recorded: after an assistant_prefill, the prefill + the continuation
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None
    cached: bool = False
    attempts: int = 0


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
    # The output was cut at model.max_output_chars (what the model sent was longer).
    output_truncated: bool = False
    target: str | None  # None: the dataset has no targets (dataset.fields.target=null)
    score: float | None  # the primary metric (scorer.primary), as reports read it
    # Every metric of the job's scorers for this row, by name, on any scale; None: not scored.
    scores: dict[str, float] | None = None
    scorer: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_s: float = 0.0
    cached: bool = False
    attempts: int = 0
    finish_reason: str | None = None
    request_id: str | None = None
    # The model the server says answered (evalsweep.job.answers.same_model compares it with `model`)
    # and OpenAI's system_fingerprint; None when the server sent none, or the sample failed.
    served_model: str | None = None
    system_fingerprint: str | None = None
    error: ErrorInfo | None = None
    simulated: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)
    # Typed responses: the validated object (its fields can be scored and reported) and how it came.
    parsed: dict[str, Any] | None = None
    structured: StructuredInfo | None = None
    judge: JudgeInfo | None = None
    # Every generate of a solver that may ask more than once, in order (`output` is the last one's);
    # None for one that asks once (the default solver).
    turns: list[TurnInfo] | None = None
    # The reply's token logprobs (model.logprobs; evalsweep.llm.logprobs): written only when asked for.
    logprobs: TokenLogprobs | None = None

    @model_serializer(mode="wrap")
    def _without_unset_logprobs(self, handler: SerializerFunctionWrapHandler) -> Any:
        return without_none(handler(self), "logprobs")

    @property
    def identity(self) -> tuple[str, int, int]:
        """Stable identity used by resume: the same sample, seed and repeat is the same work."""
        return (self.sample_id, self.seed, self.repeat)


class OutputWriteError(EvalsweepError):
    """A job's output file could not be written (full disk, file-size limit, permissions)."""

    exit_code = ExitCode.OUTPUT


class JsonlWriter(Generic[T]):
    """Appends lines to a JSONL file from one writer task: lines are written and flushed as
    they arrive (in whatever batch is waiting), off the event loop, never held to the end.
    Used for results.jsonl (ResultRecord) and for later stages' files (plain dicts).

    A write that fails is never lost silently: the batch is cut off the file again (every line
    already there stays whole), the writer stops, and the next put() or close() raises
    OutputWriteError, which ends the job."""

    def __init__(self, path: Path, serialize: Callable[[T], str] | None = None) -> None:
        self.path = path
        self._serialize: Callable[[T], str] = serialize or _dump_model
        self._queue: asyncio.Queue[T | None] = asyncio.Queue()
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _write_error(path, exc) from None
        self._task: asyncio.Task[None] | None = None
        self.error: OutputWriteError | None = None
        self.written = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._drain(), name=f"write-{self.path.name}")

    def put(self, record: T) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put_nowait(record)

    def _write(self, lines: list[str]) -> None:
        data = "".join(lines).encode("utf-8")
        start = os.fstat(self._fd).st_size
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            try:  # leave only whole lines: a torn batch would claim a sample it does not hold
                os.ftruncate(self._fd, start)
            except OSError:
                pass  # the torn tail is cut on the next read (complete_lines) instead
            raise _write_error(self.path, exc) from None

    async def _drain(self) -> None:
        done = False
        while not done:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            done = batch[-1] is None
            lines = [self._serialize(r) + "\n" for r in batch if r is not None]
            if lines:
                try:
                    await asyncio.to_thread(self._write, lines)
                except OutputWriteError as exc:
                    self.error = exc
                    raise
                self.written += len(lines)

    async def close(self) -> None:
        """Flush everything queued, then close the file; raises the writer's error, if any."""
        try:
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
                if lines:
                    self._write(lines)
                    self.written += len(lines)
            if self.error is not None:
                raise self.error
        finally:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def _write_error(path: Path, exc: OSError) -> OutputWriteError:
    why = exc.strerror or type(exc).__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        fix = "free disk space (or raise the file-size limit)"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "make the dir writable"
    else:
        fix = "fix the output dir"
    return OutputWriteError(f"cannot write {path}: {why}; every row written before is kept: {fix}, then "
                            f"re-run into the same dir to resume")


def count_lines(path: Path) -> int:
    """Complete (newline-ended, non-blank) lines: what a file really holds, for the final check."""
    if not path.exists():
        return 0
    n = 0
    with path.open("rb") as f:
        for line in f:
            if line.endswith(b"\n") and line.strip():
                n += 1
    return n


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


def _parse(path: Path, lineno: int, line: bytes, fix: str) -> ResultRecord:
    try:
        return ResultRecord.model_validate_json(line)
    except ValueError as exc:
        raise ResultsFileError(f"{path}:{lineno}: not a valid result record ({str(exc).splitlines()[0]}); {fix}") from None


def iter_records(path: Path, *, limit: int | None = None) -> Iterator[ResultRecord]:
    """The complete records of a results.jsonl in file order, read only: a torn last line (a crash
    mid-write) is not a record and is left in place. The one reader of results rows besides resume's
    read_done (classify, the wandb table)."""
    lines, _ = complete_lines(path, cut_torn_tail=False)
    for lineno, line in lines[:limit]:
        yield _parse(path, lineno, line, "is this a results.jsonl written by evalsweep?")


def read_done(path: Path, *, cut_torn_tail: bool = True) -> tuple[dict[tuple[str, int, int], ResultRecord], int]:
    """Records already complete in results.jsonl, by identity, and the number of torn lines
    dropped (cut off the file and redone; left in place with cut_torn_tail=False, for the checks
    of a start that may still be refused)."""
    done: dict[tuple[str, int, int], ResultRecord] = {}
    if not path.exists():
        return done, 0
    lines, torn = complete_lines(path, cut_torn_tail=cut_torn_tail)
    for lineno, line in lines:
        rec = _parse(path, lineno, line, "move the file aside to start this job afresh")
        if rec.identity in done:
            raise ResultsFileError(
                f"{path}:{lineno}: a second record of sample {rec.sample_id!r} (seed {rec.seed}, repeat "
                f"{rec.repeat}): two runs wrote into this file; move it aside to start this job afresh")
        done[rec.identity] = rec
    return done, int(torn)


def drop_rows(path: Path, identities: set[tuple[str, int, int]], aside: Path) -> int:
    """Take the rows of these identities out of results.jsonl (they are asked again: resume with
    run.retry_errors), appending them to `aside` so the earlier attempt stays on record. The file
    is replaced atomically: a crash leaves either the old or the new file, never half of one."""
    if not identities or not path.exists():
        return 0
    lines, _ = complete_lines(path, cut_torn_tail=True)
    keep: list[bytes] = []
    moved: list[bytes] = []
    for _, line in lines:
        rec = ResultRecord.model_validate_json(line)
        (moved if rec.identity in identities else keep).append(line + b"\n")
    with aside.open("ab") as f:
        f.write(b"".join(moved))
        f.flush()
        os.fsync(f.fileno())
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("wb") as f:
        f.write(b"".join(keep))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return len(moved)
