"""Cache lookups a window ahead of the workers, instead of the whole job's at once.

One lookup for the whole job holds a key for every sample from the start, and a cached re-run holds
every answer: memory in proportion to the job (0.25 KB a sample uncached, ~2 KB cached). Here the
keys of the next WINDOW items are looked up (one SELECT per 500 keys, off the event loop) while the
workers answer the current ones, so a cached re-run still never waits on sqlite per sample and
memory stays flat. A key the lookups have not reached yet is read on its own: slower, still right."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from evalsweep.llm.service import ModelService
from evalsweep.llm.types import GenerateRequest
from evalsweep.job.runner import WorkItem

WINDOW = 4096


class AheadPrefetch:
    def __init__(self, service: ModelService, work: Iterable[WorkItem],
                 request_of: Callable[[WorkItem], GenerateRequest], window: int = WINDOW) -> None:
        if iter(work) is work:
            raise TypeError("AheadPrefetch needs work it can iterate twice (e.g. JobWork), not an iterator")
        self._service = service
        self._work = work
        self._ahead = iter(work)  # a second pass over the work, `window` items ahead of the workers
        self._request_of = request_of
        self._window = window
        self._fetched = 0
        self._taken = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> Iterator[WorkItem]:
        """Look up the first window now (a cache file that cannot be used stops the job here, before
        any request), keep looking ahead in the background; the items for the workers."""
        if self._service.cache is None or self._service.cache_cfg.refresh:
            await self._service.prefetch(())  # nothing to look up; a refresh still opens the file now
            return iter(self._work)
        if await self._fetch_window():
            self._task = asyncio.create_task(self._keep_ahead(), name="cache-prefetch")
        return self._items()

    async def _fetch_window(self) -> bool:
        chunk = list(islice(self._ahead, self._window))
        await self._service.prefetch(self._request_of(w) for w in chunk)
        self._fetched += len(chunk)
        return len(chunk) == self._window

    async def _keep_ahead(self) -> None:
        while True:
            # Wait until the workers are half a window from the end of what has been looked up.
            while self._fetched - self._taken > self._window // 2:
                self._wake.clear()
                await self._wake.wait()
            if not await self._fetch_window():
                return

    def _items(self) -> Iterator[WorkItem]:
        for item in self._work:
            self._taken += 1
            if self._fetched - self._taken <= self._window // 2:
                self._wake.set()
            yield item

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
