"""A live process renews its leases (Redis limit slots, budget reservations) from one daemon
thread, so a lease can be short: a process killed with SIGKILL, or a node lost, stops renewing and
its slots and reservations lapse within one lease, while a request that takes minutes keeps its
slot for as long as its process is alive. A thread, not a task: a busy event loop must not let a
live job's leases lapse."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Calls renew() every `every_s` seconds from a daemon thread until stop(). `errors`: the store's
    failures, logged and retried next turn (the lease is the bound); any other is a bug and raises."""

    def __init__(self, renew: Callable[[], None], every_s: float, name: str,
                 errors: tuple[type[BaseException], ...]) -> None:
        self._renew = renew
        self._errors = errors
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                self._renew()
            except self._errors as exc:
                log.warning("could not renew leases (%s: %s); retrying in %.0fs", type(exc).__name__, exc,
                            self._every_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
