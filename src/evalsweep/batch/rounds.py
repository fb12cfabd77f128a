"""Rounds: the requests every sample of a job is waiting on, gathered into batches.

Each sample runs as in live mode (solver, typed answer, scorer), all at once. When a sample asks
the model and misses the cache, its request reaches `BatchClient.generate` (the model service's
provider client) and waits. Once every running sample waits (none is between two steps), the
requests not yet in a batch are placed: a request a batch in the job dir already holds (a re-run)
is attached to it; the others are submitted as new batches, each saved in the job dir before
anything else happens (evalsweep.batch.state). Then the batches are polled with backoff; when one
ends its answers are handed out, the samples go on (a solver's next step, a typed answer's re-ask
are the next round) and the cycle repeats until every sample is done.

A request the batch did not answer (expired, canceled, or still in flight when the job does not
wait) ends its sample as not-run (NotRun: no row), asked again by the next run; an errored one is
the sample's error, as in live mode. No new batch is submitted once the budget is spent."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from evalsweep.batch.common import Backend, BatchLost, Result, Status
from evalsweep.batch.state import BatchEntry, BatchStore, now
from evalsweep.llm.errors import TransientError
from evalsweep.llm.types import GenerateRequest, GenerateResponse

log = logging.getLogger(__name__)


class NotRun(Exception):
    """A sample the batches did not answer in this run (why: expired, canceled, in_flight, budget)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@dataclass
class _Ask:
    request: GenerateRequest
    futures: list[asyncio.Future[GenerateResponse]] = field(default_factory=list)


@dataclass
class Pacing:
    """How rounds wait: for the batches to end (polling from poll_s, backing off to poll_max_s), or
    not at all (each open batch polled once: what has ended is collected, the rest left in flight)."""

    wait: bool
    poll_s: float
    poll_max_s: float
    max_requests: int | None = None


class Rounds:
    def __init__(self, backend: Backend, store: BatchStore, key_of: Callable[[GenerateRequest], str], pacing: Pacing,
                 *, budget_spent: Callable[[float], bool], cost_of: Callable[[GenerateResponse], float],
                 on_change: Callable[[Rounds], None] | None = None) -> None:
        self.backend = backend
        self.store = store
        self.key_of = key_of
        self.pacing = pacing
        self.budget_spent = budget_spent  # given what this run's answers cost so far
        self.cost_of = cost_of
        self.spent = 0.0  # of the answers handed out (a solver's earlier steps too, before any row)
        self.on_change = on_change
        self.active = 0  # samples started and not finished
        self._waiting = 0  # of them, those waiting on an answer
        self._new: dict[str, _Ask] = {}  # asked, in no batch yet
        self._on: dict[str, dict[str, _Ask]] = {}  # batch id -> the asks it answers
        self._changed = asyncio.Event()
        self.submitted = 0  # batches this run submitted
        self.attached = 0  # requests answered by batches an earlier run submitted
        self.not_run: Counter[str] = Counter()
        self.budget_blocked = False
        self.round = store.next_round()

    # -- what the samples call ----------------------------------------------------------------

    async def ask(self, request: GenerateRequest) -> GenerateResponse:
        cid = self.key_of(request)
        fut: asyncio.Future[GenerateResponse] = asyncio.get_running_loop().create_future()
        for asks in self._on.values():  # the same request is in a batch of this run already
            if cid in asks:
                asks[cid].futures.append(fut)
                break
        else:
            self._new.setdefault(cid, _Ask(request)).futures.append(fut)
        self._waiting += 1
        self._changed.set()
        return await fut

    def started(self) -> None:
        self.active += 1

    def finished(self, exc: BaseException | None = None) -> None:
        self.active -= 1
        if isinstance(exc, NotRun):
            self.not_run[exc.why] += 1
        self._changed.set()

    @property
    def in_flight(self) -> int:
        return len(self._on)

    # -- the loop ---------------------------------------------------------------------------------

    async def drive(self) -> None:
        """Until every sample is done: wait until all running samples wait, place their requests,
        then wait for batches (or, not waiting, poll once)."""
        await self.adopt()
        while True:
            await self._quiet()
            if not self.active:
                return
            await self._place()
            if not self._on:
                continue
            if self.pacing.wait:
                await self._wait_some()
            else:
                await self._poll_once()

    async def adopt(self) -> None:
        """Uploads an earlier run made without saving the batch create made of them (a crash in
        between): the batch is looked for and kept if it exists; otherwise its requests are asked anew."""
        for intent in self.store.intents():
            found = await self.backend.find(intent.input_file_id) if intent.input_file_id else None
            if found is not None and found not in self.store.entries:
                await self._save(intent.model_copy(update={"id": found, "state": "in_progress", "seq": 0}))
                log.info("found batch %s, made of upload %s by an earlier run that stopped before saving it",
                         found, intent.input_file_id)
            await self._drop(intent.id)

    async def _save(self, entry: BatchEntry) -> None:
        # The write and its fsyncs off the event loop (the samples' own work goes on meanwhile).
        await asyncio.to_thread(self.store.save, entry)

    async def _drop(self, entry_id: str) -> None:
        await asyncio.to_thread(self.store.drop, entry_id)

    async def _quiet(self) -> None:
        while self.active and self._waiting < self.active:
            self._changed.clear()
            await self._changed.wait()

    def _resolve(self, ask: _Ask, response: GenerateResponse | None = None, exc: BaseException | None = None) -> None:
        for i, fut in enumerate(ask.futures):
            if fut.done():
                continue
            if exc is not None:
                fut.set_exception(exc)
            else:
                assert response is not None
                # Samples asking the very same request share one line of the batch, paid once: the
                # others get it as a cache hit would give it (no cost of their own).
                fut.set_result(response if i == 0 else response.model_copy(update={"cached": True}))
        self._waiting -= len(ask.futures)
        self._changed.set()

    async def _place(self) -> None:
        new, self._new = self._new, {}
        fresh: list[tuple[str, _Ask]] = []
        for cid, ask in new.items():
            entry = self.store.holder(cid)
            if entry is None:
                fresh.append((cid, ask))
            else:
                held = self._on.setdefault(entry.id, {})
                if cid in held:  # already waited on in this run: one more sample waits with it
                    held[cid].futures.extend(ask.futures)
                else:
                    held[cid] = ask
                self.attached += 1
        if not fresh:
            return
        if self.budget_spent(self.spent):
            if not self.budget_blocked:
                log.warning("budget reached: %d request(s) not submitted (no new batch once it is spent)", len(fresh))
            self.budget_blocked = True
            for _, ask in fresh:
                self._resolve(ask, exc=NotRun("budget"))
            return
        for chunk in self._split(fresh):
            items = [(cid, ask.request) for cid, ask in chunk]
            cids = [cid for cid, _ in chunk]
            file_id = await self.backend.upload(items)
            intent = None
            if file_id is not None:  # a crash before create's reply is saved: the next run finds the batch
                intent = BatchEntry(id=f"upload-{file_id}", provider=self.backend.provider, custom_ids=cids,
                                    state="submitting", round=self.round, input_file_id=file_id)
                await self._save(intent)
            batch_id = await self.backend.create(items, file_id)
            entry = BatchEntry(id=batch_id, provider=self.backend.provider, custom_ids=cids, round=self.round,
                               input_file_id=file_id)
            await self._save(entry)  # before any answer is handed out: a crash from here on re-attaches
            if intent is not None:
                await self._drop(intent.id)
            self._on[batch_id] = dict(chunk)
            self.submitted += 1
            log.info("submitted batch %s: %d request(s) (round %d)", batch_id, len(chunk), self.round)
            self._changed_view()
        self.round += 1

    def _split(self, fresh: list[tuple[str, _Ask]]) -> list[list[tuple[str, _Ask]]]:
        """Within the provider's requests and bytes per batch (and run.batch_max_requests); one seed a batch."""
        cap = min(self.backend.max_requests, self.pacing.max_requests or self.backend.max_requests)
        chunks: list[list[tuple[str, _Ask]]] = []
        by_seed: dict[int | None, list[tuple[str, _Ask]]] = {}
        for item in fresh:
            by_seed.setdefault(item[1].request.seed, []).append(item)
        for items in by_seed.values():
            chunk: list[tuple[str, _Ask]] = []
            size = 0
            for cid, ask in items:
                n = self.backend.line_bytes(cid, ask.request)
                if chunk and (len(chunk) >= cap or size + n > self.backend.max_bytes):
                    chunks.append(chunk)
                    chunk, size = [], 0
                chunk.append((cid, ask))
                size += n
            if chunk:
                chunks.append(chunk)
        return chunks

    async def _status(self, batch_id: str) -> Status | None:
        """The batch's state; None when the provider does not know it (its requests are asked anew)."""
        try:
            return await self.backend.poll(batch_id)
        except TransientError as exc:  # a blip while polling (after the SDK's own retries): poll again later
            log.warning("could not poll batch %s (%s); trying again at the next poll", batch_id, exc)
            entry = self.store.entries[batch_id]
            return Status("canceling" if entry.state == "canceling" else "in_progress", entry.counts)
        except BatchLost as exc:
            await self._lose(batch_id, exc)
            return None

    async def _lose(self, batch_id: str, exc: BatchLost) -> None:
        """A batch its provider does not know (or whose results are gone): its requests are asked anew."""
        entry = self.store.entries[batch_id]
        log.warning("batch %s is unknown to %s or its results are gone (%s): its %d request(s) are submitted "
                    "again", batch_id, entry.provider, exc, len(entry.custom_ids))
        entry.state = "lost"
        await self._save(entry)
        for cid, ask in self._on.pop(batch_id, {}).items():
            self._new.setdefault(cid, _Ask(ask.request)).futures.extend(ask.futures)

    async def _wait_some(self) -> None:
        delay = self.pacing.poll_s
        while self._on:
            ended = []
            for batch_id in list(self._on):
                status = await self._status(batch_id)
                if status is not None:
                    await self._note(batch_id, status)
                    if status.state == "ended":
                        ended.append(batch_id)
            if ended or self._new:
                for batch_id in ended:
                    await self._collect(batch_id)
                return
            self._changed_view()
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, max(self.pacing.poll_max_s, self.pacing.poll_s))

    async def _poll_once(self) -> None:
        for batch_id in list(self._on):
            status = await self._status(batch_id)
            if status is not None:
                await self._note(batch_id, status)
                if status.state == "ended":
                    await self._collect(batch_id)
        for asks in self._on.values():
            for ask in asks.values():
                self._resolve(ask, exc=NotRun("in_flight"))
        self._on.clear()

    async def _note(self, batch_id: str, status: Status) -> None:
        entry = self.store.entries[batch_id]
        if status.state != "ended" and entry.state != status.state:
            entry.state = status.state
            await self._save(entry)

    async def _collect(self, batch_id: str) -> None:
        asks = self._on[batch_id]
        try:
            results = await self.backend.results(batch_id, {cid: ask.request for cid, ask in asks.items()})
        except BatchLost as exc:  # e.g. an output file the provider no longer keeps (OpenAI: 30 days)
            await self._lose(batch_id, exc)
            return
        del self._on[batch_id]
        entry = self.store.entries[batch_id]
        entry.counts = dict(Counter(r.outcome for r in results.values()))
        entry.retry = [cid for cid in entry.custom_ids if cid not in results or results[cid].outcome != "succeeded"]
        entry.state, entry.ended_at = "ended", now()
        await self._save(entry)
        log.info("batch %s ended: %s", batch_id, ", ".join(f"{n} {k}" for k, n in sorted(entry.counts.items())))
        for cid, ask in asks.items():
            self._hand_out(ask, results.get(cid))
        self._changed_view()

    def _hand_out(self, ask: _Ask, result: Result | None) -> None:
        if result is None:  # the batch ended without a line for it: not run, asked again next time
            self._resolve(ask, exc=NotRun("expired"))
        elif result.outcome == "succeeded" and result.response is not None:
            self.spent += self.cost_of(result.response)
            self._resolve(ask, result.response)
        elif result.outcome == "errored" and result.error is not None:
            self._resolve(ask, exc=result.error)
        else:
            self._resolve(ask, exc=NotRun(result.outcome))

    def _changed_view(self) -> None:
        if self.on_change is not None:
            self.on_change(self)


class BatchClient:
    """The model service's provider client in batch mode: a request waits for its batch's answer."""

    def __init__(self, rounds: Rounds) -> None:
        self._rounds = rounds

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        return await self._rounds.ask(request)

    async def aclose(self) -> None:
        return None
