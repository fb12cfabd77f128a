"""The simulator's batch book, shared by its OpenAI Batch, Anthropic Message Batches and Gemini
batchGenerateContent routes:
uploaded files, batches with their requests, and how a batch advances.

A batch is answered by the same code as a live request (parse, then `Simulator._respond`), once
`faults.batch_delay_s` has passed since it was created. Requests whose prompt holds
`faults.batch_error_substring` come back as errors; those holding `faults.batch_expire_substring`
are never processed, so the batch ends expired with them unanswered. A cancel before the delay
leaves every request canceled. The book counts batches created and the requests they hold, and
logs `create:<id>` / `results:<id>` events in order, so a test can see that a sweep submitted
every batch before it collected any."""

from __future__ import annotations

import json
import secrets
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Literal

from evalsweep.simulator.anthropic_wire import SEED_HEADER, parse_anthropic
from evalsweep.simulator.gemini_wire import parse_gemini
from evalsweep.simulator.handler import GEMINI, OPENAI, Simulator
from evalsweep.simulator.openai_wire import parse_openai
from evalsweep.simulator.parsing import BadRequest

Outcome = Literal["succeeded", "errored", "expired", "canceled"]


@dataclass
class Answer:
    """One request's result: its outcome and, when it has one, the reply body or error."""

    outcome: Outcome
    body: dict[str, Any] | None = None
    status: int = 200
    message: str = ""


@dataclass
class SimBatch:
    id: str
    fmt: str
    requests: list[tuple[str, dict[str, Any]]]  # (custom_id, request body)
    seed: str | None  # the x-evalsweep-seed header sent with the batch (Anthropic), if any
    created_at: float = field(default_factory=time.time)
    created_mono: float = field(default_factory=time.monotonic)
    canceled_at: float | None = None
    ended_at: float | None = None
    answers: dict[str, Answer] | None = None  # set once the batch has ended
    meta: dict[str, Any] = field(default_factory=dict)  # the wire format's own fields (input file, ...)

    @property
    def ended(self) -> bool:
        return self.answers is not None

    @property
    def expired(self) -> bool:
        return self.answers is not None and any(a.outcome == "expired" for a in self.answers.values())


class _Headers:
    """What parse_anthropic reads of an HTTP request: its headers (a batch's seed header)."""

    def __init__(self, seed: str | None) -> None:
        self.headers = {SEED_HEADER: seed} if seed is not None else {}


class BatchBook:
    """Every file and batch the simulator holds; mutated on the server's loop only."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, SimBatch] = {}

    def new_file(self, content: bytes) -> str:
        file_id = f"file-sim{secrets.token_hex(8)}"
        self.files[file_id] = content
        return file_id

    def create(self, fmt: str, requests: list[tuple[str, dict[str, Any]]], seed: str | None = None,
               prefix: str = "batch_sim") -> SimBatch:
        batch = SimBatch(id=f"{prefix}{secrets.token_hex(8)}", fmt=fmt, requests=requests, seed=seed)
        self.batches[batch.id] = batch
        self.sim.state.batch_created(batch.id, len(requests))
        return batch

    def advance(self, batch: SimBatch) -> SimBatch:
        """Answer the batch once its processing delay has passed (or cancel what was left)."""
        if batch.ended:
            return batch
        if batch.canceled_at is not None:
            batch.answers = {cid: Answer("canceled") for cid, _ in batch.requests}
            batch.ended_at = time.time()
            return batch
        if time.monotonic() - batch.created_mono >= self.sim.config.faults.batch_delay_s:
            batch.answers = {cid: self._answer(batch, body) for cid, body in batch.requests}
            batch.ended_at = time.time()
        return batch

    def cancel(self, batch: SimBatch) -> SimBatch:
        if not batch.ended and batch.canceled_at is None:
            batch.canceled_at = time.time()
        return self.advance(batch)

    def results_read(self, batch: SimBatch) -> None:
        self.sim.state.batch_event(f"results:{batch.id}")

    def _answer(self, batch: SimBatch, body: dict[str, Any]) -> Answer:
        sim = self.sim
        faults = sim.config.faults
        model = body.get("model")
        if batch.fmt == GEMINI and isinstance(model, str):
            model = model.removeprefix("models/")
        if not isinstance(model, str) or not model:
            return Answer("errored", status=400, message="`model` is required and must be a string.")
        try:
            if batch.fmt == OPENAI:
                parsed = parse_openai(body)
            elif batch.fmt == GEMINI:  # the batch's model is the request's ("models/..." as the SDK sends it)
                parsed = parse_gemini(body)
            else:  # parse_anthropic reads only the request's headers (the seed)
                parsed = parse_anthropic(body, _Headers(batch.seed))  # type: ignore[arg-type]
        except BadRequest as exc:
            return Answer("errored", status=400, message=str(exc))
        texts = parsed.all_texts
        if faults.batch_expire_substring is not None and any(faults.batch_expire_substring in t for t in texts):
            return Answer("expired")
        if (faults.batch_error_substring is not None and any(faults.batch_error_substring in t for t in texts)) or (
                faults.poison_substring is not None and faults.poison_substring in parsed.last_user):
            return Answer("errored", status=500,
                          message="The server had an error while processing your request (simulated by evalsweep).")
        if faults.max_prompt_chars is not None and parsed.chars > faults.max_prompt_chars:
            return Answer("errored", status=400, message=f"The prompt is too long: {parsed.chars} characters, "
                                                         f"the maximum is {faults.max_prompt_chars}.")
        request_id = secrets.token_hex(12)
        headers = {"x-request-id" if batch.fmt in (OPENAI, GEMINI) else "request-id": request_id}
        reply = sim._respond(batch.fmt, model, parsed, headers)
        assert isinstance(reply.body, bytes)
        return Answer("succeeded", body=json.loads(reply.body))


_BOOKS: weakref.WeakKeyDictionary[Simulator, BatchBook] = weakref.WeakKeyDictionary()


def book_for(sim: Simulator) -> BatchBook:
    """The simulator's batch book (one per Simulator, kept across a server restart like its counters)."""
    book = _BOOKS.get(sim)
    if book is None:
        book = _BOOKS[sim] = BatchBook(sim)
    return book
