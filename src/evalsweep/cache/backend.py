"""What the response cache needs of the place its entries live: a small protocol that the sqlite
file (evalsweep.cache.store.CacheDB) and a Redis server (evalsweep.store.redis_cache) both implement,
so ResponseCache never asks which one it has.

Every call is blocking (ResponseCache runs it in a thread) and raises one of BACKEND_ERRORS on a
failure of the store, which turns the cache off for the rest of the job, never the job itself."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol

from evalsweep.errors import CacheError

# sqlite's own errors, and CacheError, which the Redis backend raises for any of its failures.
BACKEND_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, CacheError)


class CacheBackend(Protocol):
    def select(self, keys: Sequence[str]) -> list[tuple[str, Any]]:
        """(key, stored JSON text) of the keys present; at most ~500 keys a call."""
        ...

    def write(self, items: dict[str, Any]) -> None:
        """Store every entry (replacing one already there), all or nothing."""
        ...

    def close(self) -> None: ...

    def set_aside(self, reason: BaseException) -> None:
        """Close, and keep the damaged store from the next job (sqlite: the file is moved aside)."""
        ...
