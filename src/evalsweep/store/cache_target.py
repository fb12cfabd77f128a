"""The store a `python -m evalsweep.cache` command works on: the sqlite file (--path, or the
default), or the Redis store (--store URL, or EVALSWEEP_STORE_URL when no --path is given), with
the same commands on both: stats, clear, prune, check, export, import."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from evalsweep.cache import admin
from evalsweep.cache.backend import CacheBackend
from evalsweep.cache.store import default_path, open_dict
from evalsweep.config.store import check_store_url
from evalsweep.errors import CacheError
from evalsweep.store.url import StoreError, redacted, store_url

if TYPE_CHECKING:
    from evalsweep.store.redis_cache import RedisCacheDB


class CacheTarget:
    """One store's cache entries, for the maintenance commands."""

    def __init__(self, path: Path | None, url: str | None) -> None:
        self.url = url
        self.path = path

    @classmethod
    def choose(cls, path: Path | None, url: str | None) -> "CacheTarget":
        if path is not None and url is not None:
            raise CacheError("give --path (a sqlite cache file) or --store (a Redis URL), not both")
        if url is not None:
            try:
                return cls(None, check_store_url(url))
            except ValueError as exc:
                raise CacheError(f"--store: {exc}") from None
        if path is None:
            env_url = store_url(None)  # EVALSWEEP_STORE_URL, when set
            if env_url is not None:
                return cls(None, env_url)
        return cls((path or default_path()).expanduser(), None)

    @property
    def name(self) -> str:
        return redacted(self.url) if self.url else str(self.path)

    def _redis(self) -> RedisCacheDB:
        from evalsweep.store.redis_cache import RedisCacheDB  # the redis client loads only for a Redis store
        from evalsweep.store.redis_client import ping

        assert self.url is not None
        try:
            return RedisCacheDB(self.url, ping(self.url))
        except StoreError as exc:
            raise CacheError(str(exc)) from None

    def stats(self, filters: admin.Filters) -> admin.CacheStats:
        if self.url is None:
            assert self.path is not None
            return admin.stats(self.path, filters)
        from evalsweep.store import redis_cache

        return redis_cache.stats(self._redis(), filters)

    def check(self) -> str:
        if self.url is None:
            assert self.path is not None
            return admin.check(self.path)
        from evalsweep.store import redis_cache

        return redis_cache.check(self._redis())

    def delete(self, filters: admin.Filters, dry_run: bool) -> int:
        if self.url is None:
            assert self.path is not None
            return admin.delete(self.path, filters, dry_run=dry_run)
        from evalsweep.store import redis_cache

        return redis_cache.delete(self._redis(), filters, dry_run=dry_run)

    def entries(self, filters: admin.Filters) -> Iterator[tuple[str, str]]:
        if self.url is None:
            assert self.path is not None
            return admin.iter_entries(self.path, filters)
        import time

        from evalsweep.store.redis_cache import matches, parsed

        now = time.time()
        return ((k, v) for k, v in self._redis().entries() if matches(filters, parsed(v), now))

    def writer(self) -> CacheBackend:
        """The store opened for writing (a sqlite file is created when missing)."""
        if self.url is None:
            assert self.path is not None
            return open_dict(self.path)
        return self._redis()
