"""The job's async view of the cache: one batched prefetch, reads off the event loop, and writes
gathered in memory and committed in short batches.

Why batches in memory rather than a transaction left open with a commit every N puts: a write
transaction holds the file's write lock from its first insert to its commit. Opened on the first
answer and committed N answers later, it would lock out every other job for as long as N slow API
calls take (minutes on a rate-limited API) and they would fail with "database is locked". Here a
batch is written and committed at once, so the lock is held for milliseconds. A crash loses at
most the answers of the unwritten batch; a re-run asks them again.

The cache never costs a result, nor hangs a job: any sqlite failure during a job (a full disk, a
read-only file, a damaged page) returns as an error, is logged once and turns the cache off for the
rest of that job (every lookup a miss, nothing written). A file found damaged is moved aside, so
the next job starts a fresh one."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evalsweep.cache.backend import BACKEND_ERRORS, CacheBackend
from evalsweep.cache.store import decode, is_damage, open_dict
from evalsweep.llm.types import GenerateRequest, GenerateResponse

log = logging.getLogger(__name__)

FLUSH_EVERY = 64          # answers per write transaction ...
FLUSH_INTERVAL_S = 2.0    # ... or answers this old, whichever comes first
PREFETCH_CHUNK = 500      # keys per SELECT ... IN (...), under sqlite's bound-parameter limit
# Not stored: how this answer was fetched, which a cached copy replaces with its own values.
_NOT_STORED = {"cached", "latency_s", "attempts"}


class ResponseCache:
    def __init__(self, path: Path | str, ttl_s: float | None = None,
                 opener: Callable[[], CacheBackend] | None = None) -> None:
        # Where the entries live, as messages name it: the sqlite file, or the Redis store's URL.
        self.path = path
        self.ttl_s = ttl_s
        # How to open the backend (evalsweep.store.select picks it); by default the sqlite file at path.
        self._opener: Callable[[], CacheBackend] = opener or partial(open_dict, Path(path))
        # Opened on first use, in a thread: even opening (a busy timeout, a corrupt file) stays off the loop.
        self._db: CacheBackend | None = None
        self._open_lock = asyncio.Lock()
        # Prefetched keys not yet asked for: the raw entry from the file (parsed when asked for), or
        # None (absent). An entry leaves when asked for; answers written by this job are in _pending.
        self._known: dict[str, Any] = {}
        self._pending: dict[str, dict[str, Any]] = {}
        # The batch being committed right now: still this job's answers until the file has them.
        self._writing: dict[str, dict[str, Any]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self.error: str | None = None
        self.hits = 0
        self.misses = 0
        self.expired = 0
        self.written = 0

    async def open(self) -> None:
        """Open the file now, so a cache that cannot be opened stops the job before any request."""
        await self._ready()

    async def _ready(self) -> CacheBackend:
        """The open file. Raises CacheError when it cannot be opened (a corrupt one is moved aside)."""
        if self._db is None:
            async with self._open_lock:
                if self._db is None:
                    self._db = await asyncio.to_thread(self._opener)
        return self._db

    # -- reading -----------------------------------------------------------------------------

    def _response_of(self, raw: Any) -> GenerateResponse | None:
        """A stored entry as a response; None (a miss) when expired or not an entry we wrote."""
        try:
            if self.ttl_s is not None and time.time() - float(raw["created"]) > self.ttl_s:
                self.expired += 1
                return None
            return GenerateResponse.model_validate(raw["response"])
        except (KeyError, TypeError, ValueError, ValidationError):
            log.debug("ignoring a cache entry that does not parse as a response")
            return None

    def _select_sync(self, db: CacheBackend, keys: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for i in range(0, len(keys), PREFETCH_CHUNK):
            for key, value in db.select(keys[i:i + PREFETCH_CHUNK]):
                try:
                    found[key] = decode(value)
                except ValueError:  # not JSON (e.g. a pickled value from another tool): a miss
                    log.debug("ignoring a cache value that is not JSON")
        return found

    async def prefetch(self, keys: list[str]) -> None:
        """Look up every key of the job in one pass (one thread hop per 500 keys, not per key)."""
        wanted = [k for k in dict.fromkeys(keys) if k not in self._known]
        if self.error is not None or not wanted:
            return
        db = await self._ready()
        try:
            found = await asyncio.to_thread(self._select_sync, db, wanted)
        except BACKEND_ERRORS as exc:
            await self._failed("reading", exc)
            return
        for key in wanted:
            # Kept raw: the TTL is checked and the entry parsed only when the key is asked for.
            self._known[key] = found.get(key)

    async def get(self, key: str, accept: Callable[[GenerateResponse], bool] | None = None
                  ) -> GenerateResponse | None:
        """The stored answer, or None (a miss). `accept` may refuse an entry, which is then a miss."""
        if self.error is not None:
            self.misses += 1
            return None
        if key in self._known:
            # Looked up for this one ask: let go once answered, or a cached re-run would hold every
            # answer of the job. A later ask of the same key reads the file.
            value: Any = self._known.pop(key)
        elif key in self._pending or key in self._writing:
            # Answered earlier in this job and not yet committed: the entry as it will be stored.
            value = self._pending.get(key) or self._writing[key]
        else:
            db = await self._ready()
            try:
                value = (await asyncio.to_thread(self._select_sync, db, [key])).get(key)
            except BACKEND_ERRORS as exc:
                await self._failed("reading", exc)
                value = None
        if value is not None and not isinstance(value, GenerateResponse):
            value = self._response_of(value)
        if value is not None and accept is not None and not accept(value):
            value = None
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def count_miss(self) -> None:
        """An answer asked again on purpose (cache.refresh=true)."""
        self.misses += 1

    # -- writing -----------------------------------------------------------------------------

    def put(self, key: str, request: GenerateRequest, response: GenerateResponse) -> None:
        """Remember a successful answer; it reaches the file with its batch. Never called for errors."""
        if self.error is not None:
            return
        stored = response.model_dump(mode="json", exclude=_NOT_STORED)
        self._pending[key] = {"created": time.time(), "provider": request.provider, "model": request.model,
                              "response": stored}
        # A repeat of the same request later in this job is a hit: from _pending until its batch is
        # written, then from the file. Not kept here as well: a job of 10^5 answers would hold them all.
        self._known.pop(key, None)
        if len(self._pending) >= FLUSH_EVERY:
            self._start_flush()
        else:
            self._arm_timer()

    def _arm_timer(self) -> None:
        # Answers that trickle in (a slow, rate-limited API) still reach the file within FLUSH_INTERVAL_S.
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_INTERVAL_S, self._start_flush)

    def _start_flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.create_task(self._flush_pending(), name="cache-flush")
        # else: the running flush looks at what is pending when it is done

    async def _flush_pending(self) -> None:
        while self._pending and self.error is None:
            batch, self._pending = self._pending, {}
            self._writing = batch
            try:
                await self._write(batch)
            finally:
                self._writing = {}
            if len(self._pending) < FLUSH_EVERY:
                break
        if self._pending and self.error is None:
            self._arm_timer()

    async def _write(self, batch: dict[str, dict[str, Any]]) -> None:
        try:
            db = await self._ready()
            await asyncio.to_thread(self._write_sync, db, batch)
            self.written += len(batch)
        except BACKEND_ERRORS as exc:  # the answers are in results.jsonl; only the cache misses out
            await self._failed("writing", exc)

    def _write_sync(self, db: CacheBackend, batch: dict[str, dict[str, Any]]) -> None:
        # One short transaction: REPLACE every entry, then commit. REPLACE: cache.refresh=true
        # overwrites, and two jobs writing one key leave one valid entry.
        db.write(batch)

    def _fail(self, doing: str, exc: BaseException) -> None:
        if self.error is None:
            self.error = f"{doing} {self.path} failed: {exc}"
            log.warning("response cache off for the rest of this job: %s. Results are unaffected; if it "
                        "persists, run `python -m evalsweep.cache check` or delete the file.", self.error)

    async def _failed(self, doing: str, exc: BaseException) -> None:
        """_fail, and a file sqlite says is damaged moved aside, so the next job starts a fresh one
        (closed first: sqlite deletes a WAL file by name on close, which would then be the new one's)."""
        first = self.error is None
        self._fail(doing, exc)
        if not (first and is_damage(exc)) or self._db is None:
            return
        db, self._db = self._db, None
        try:
            await asyncio.to_thread(db.set_aside, exc)
        except BACKEND_ERRORS as again:
            log.warning("%s", again)

    async def close(self) -> None:
        """Write what is left, then close the file."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flush_task is not None:
            await self._flush_task
        batch, self._pending = self._pending, {}
        if batch and self.error is None:
            await self._write(batch)
        if self._db is None:
            return
        db, self._db = self._db, None
        try:
            await asyncio.to_thread(db.close)
        except BACKEND_ERRORS as exc:
            self._fail("closing", exc)
