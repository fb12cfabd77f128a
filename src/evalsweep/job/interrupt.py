"""Ctrl-C (or SIGTERM) during a job: the first stops sending and saves what is done, the second
quits at once. SIGTERM is what SLURM sends before pre-emption or at the time limit, so it is
handled like the first Ctrl-C, with exit code 143 (128 + 15) instead of 130.

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

from evalsweep.errors import ExitCode

T = TypeVar("T")
EXIT_INTERRUPTED = ExitCode.INTERRUPTED
_HANDLED = (signal.SIGINT, signal.SIGTERM)


def exit_code_for(signum: int) -> int:
    return 128 + signum


class Interrupted(KeyboardInterrupt):
    """The job was stopped by a signal; what was done is saved."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.signum)


class SigintGuard:
    """Installed for one job (signal handlers are per process: restore() in `finally`)."""

    def __init__(self) -> None:
        self.count = 0
        self.signum = signal.SIGINT
        self._prev: dict[int, Any] = {}
        self._installed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None

    @property
    def interrupted(self) -> bool:
        return self.count > 0

    def install(self) -> SigintGuard:
        # Only the main thread may set handlers (a launcher could run jobs in threads).
        if threading.current_thread() is threading.main_thread():
            self._prev = {sig: signal.signal(sig, self._handle) for sig in _HANDLED}
            self._installed = True
        return self

    def restore(self) -> None:
        if self._installed:
            for sig, prev in self._prev.items():
                signal.signal(sig, prev)
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        name = signal.Signals(signum).name.encode()
        # os.write, not logging: a handler may interrupt a logging call holding its lock.
        if self.count > 1:
            _say(b"\nevalsweep: second interrupt (" + name + b"): exiting now (finished samples are saved)\n")
            os._exit(exit_code_for(signum))
        self.signum = signum
        _say(b"\nevalsweep: interrupted (" + name + b"): saving finished samples; Ctrl-C again to quit at once\n")
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not task.done():
            loop.call_soon_threadsafe(task.cancel)
            return
        raise Interrupted(signum)

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
                raise Interrupted(self.signum) from None
            raise
        except KeyboardInterrupt as exc:
            if self.interrupted and not isinstance(exc, Interrupted):
                raise Interrupted(self.signum) from None
            raise


def _say(line: bytes) -> None:
    try:
        os.write(2, line)
    except OSError:
        pass  # stderr closed (a pipe whose reader went away): the exit code still tells
