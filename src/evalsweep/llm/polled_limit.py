"""The async side of a limit held across jobs, whatever holds its slots (a sqlite file:
evalsweep.llm.shared_limit; Redis: evalsweep.store.redis_limit): one poller per process, the take
in a worker thread so the event loop never blocks, backoff with jitter while the limit is full,
a slot handed back when its request is cancelled mid-take, and the counts of requests that waited.

A subclass gives `_try_acquire(tokens)` (in a thread: (slot, None) on success, else (None, seconds
until the rpm/tpm window lets it in, or None when concurrency is full)) and `_release_sync(slot)`."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Generic, Literal, TypeVar

S = TypeVar("S")
Keep = Literal["keep"]  # set_limits(..., tpm="keep"): the tokens limit stays as it is

POLL_MIN_S = 0.002  # a slot frees within one request's latency: short polls at first


def check_limits(max_concurrency: int, rpm: int | None, tpm: int | None) -> None:
    if max_concurrency < 1 or (rpm is not None and rpm < 1) or (tpm is not None and tpm < 1):
        raise ValueError("max_concurrency, rpm and tpm must be at least 1")


class PolledLimiter(Generic[S]):
    poll_max_s = 0.02  # the longest pause between polls while concurrency is full

    def __init__(self, max_concurrency: int, rpm: int | None, tpm: int | None) -> None:
        self.tpm: int | None = None
        self.set_limits(max_concurrency, rpm, tpm=tpm)
        self._gate: asyncio.Lock | None = None  # made on first use, inside the job's event loop
        self._rng = random.Random()  # own RNG for poll jitter: the job seeds the global one
        self._closed = False
        self.acquired = 0
        self.waited = 0  # requests the limit held back (not a turn at the gate or a slow take)
        self._full_polls = 0
        self.wait_s = 0.0

    def set_limits(self, max_concurrency: int, rpm: int | None, *, tpm: int | None | Keep = "keep") -> None:
        """Move this process's view of the limit (the adaptive limits, evalsweep.llm.adaptive, do): the
        next slot is taken under the new numbers, slots held are kept; tpm is kept unless given. No
        lock: attribute writes that the next take reads (a lock may be held by a thread waiting on
        the store, and this runs on the event loop)."""
        check_limits(max_concurrency, rpm, self.tpm if tpm == "keep" else tpm)
        self.max_concurrency = max_concurrency
        self.rpm = rpm
        if tpm != "keep":
            self.tpm = tpm

    def _try_acquire(self, tokens: float) -> tuple[S | None, float | None]:
        raise NotImplementedError

    def _release_sync(self, slot: S) -> None:
        raise NotImplementedError

    async def acquire(self, tokens: float = 0.0) -> S:
        """A slot, once the limits let this request start; `tokens`: what it reserves of tpm."""
        if self._gate is None:
            self._gate = asyncio.Lock()
        t0 = time.perf_counter()
        delay = POLL_MIN_S
        # Polls of this process that found the limit reached, up to now: when any comes while this
        # request is waiting (its own, or the poller's it queues behind), the limit held it back.
        full_before = self._full_polls
        async with self._gate:  # one poller per process; the others queue here in order
            while True:
                attempt = asyncio.ensure_future(asyncio.to_thread(self._try_acquire, tokens))
                try:
                    slot, window_wait = await asyncio.shield(attempt)
                except asyncio.CancelledError:
                    # The thread runs on and may still take a slot: hand it back when it does.
                    attempt.add_done_callback(self._give_back)
                    raise
                if slot is not None:
                    break
                self._full_polls += 1
                if self._closed:
                    raise RuntimeError("shared limiter used after close()")
                if window_wait is not None:
                    pause = window_wait + self._rng.uniform(0, POLL_MIN_S * 5)
                else:
                    pause = self._rng.uniform(delay / 2, delay)
                    delay = min(delay * 1.5, self.poll_max_s)
                await asyncio.sleep(pause)
        self.acquired += 1
        if self._full_polls != full_before:
            self.waited += 1
            self.wait_s += time.perf_counter() - t0
        return slot

    def _give_back(self, attempt: asyncio.Future[tuple[S | None, float | None]]) -> None:
        if attempt.cancelled() or attempt.exception() is not None:
            return
        slot = attempt.result()[0]
        if slot is not None:
            asyncio.get_running_loop().run_in_executor(None, self._release_sync, slot)

    async def release(self, slot: S) -> None:
        # Shielded: a cancelled job still hands its slot back (the thread finishes regardless).
        await asyncio.shield(asyncio.to_thread(self._release_sync, slot))

    @asynccontextmanager
    async def slot(self, tokens: float = 0.0) -> AsyncIterator[S]:
        slot = await self.acquire(tokens)
        try:
            yield slot
        finally:
            await self.release(slot)
