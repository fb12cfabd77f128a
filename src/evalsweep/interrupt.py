"""Ctrl-C during a job: the first stops sending and saves what is done, the second quits at once.

While the async loop runs, the first SIGINT cancels the job's main task instead of raising
inside whatever code happens to run: the runner's `finally` blocks then flush results.jsonl
and close the cache, and the job writes a summary marked incomplete (KeyboardInterrupt ->
exit 130 at the entry point). Outside the loop the first SIGINT raises KeyboardInterrupt, as
Python does by default. A second SIGINT calls os._exit: nothing written so far is lost (each
record is one flushed line, a torn last line is dropped on resume; summary.json is replaced
atomically), so waiting for wandb or the cache to close is not worth the user's patience.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Coroutine
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")
EXIT_INTERRUPTED = 130


class SigintGuard:
    """Installed for one job (signal handlers are per process: restore() in `finally`)."""

    def __init__(self) -> None:
        self.count = 0
        self._prev: Any = None
        self._installed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None

    @property
    def interrupted(self) -> bool:
        return self.count > 0

    def install(self) -> SigintGuard:
        # Only the main thread may set handlers (a launcher could run jobs in threads).
        if threading.current_thread() is threading.main_thread():
            self._prev = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._prev)
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        # os.write, not logging: a handler may interrupt a logging call holding its lock.
        if self.count > 1:
            os.write(2, b"\nevalsweep: second interrupt: exiting now (finished samples are saved)\n")
            os._exit(EXIT_INTERRUPTED)
        os.write(2, b"\nevalsweep: interrupted: saving finished samples; Ctrl-C again to quit at once\n")
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not task.done():
            loop.call_soon_threadsafe(task.cancel)
            return
        raise KeyboardInterrupt

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """asyncio.run(coro), cancelled cleanly by the first Ctrl-C (then KeyboardInterrupt)."""

        async def main() -> T:
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
            try:
                return await coro
            finally:
                self._loop = self._task = None

        try:
            return asyncio.run(main())
        except asyncio.CancelledError:
            if self.interrupted:
                raise KeyboardInterrupt from None
            raise
