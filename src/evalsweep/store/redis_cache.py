"""The response cache on a Redis server: the same keys (evalsweep.cache.keys) under one prefix,
the same JSON values as the sqlite file's `value` column (provider, model, created, response).

A write of a batch is one MULTI/EXEC (all or nothing, as sqlite's transaction); a lookup is one
MGET per 500 keys. No Redis TTL is set: cache.ttl is checked on read from `created`, as for sqlite,
and `evalsweep cache prune` forgets old entries. Every failure of the server is a CacheError, which
turns the cache off for the rest of the job (ResponseCache), never the job itself."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import redis

from evalsweep.cache.admin import CacheStats, Filters, ModelCount
from evalsweep.cache.store import encode
from evalsweep.errors import CacheError
from evalsweep.store.redis_client import connect
from evalsweep.store.url import redacted

PREFIX = "evalsweep:cache:"
SCAN_COUNT = 1000


class RedisCacheDB:
    """The cache's entries on one Redis server (evalsweep.cache.backend.CacheBackend)."""

    def __init__(self, url: str, client: redis.Redis | None = None) -> None:
        self.url = url
        self.client = client or connect(url)

    def _error(self, doing: str, exc: BaseException) -> CacheError:
        return CacheError(f"{doing} the cache at {redacted(self.url)} failed: {exc}")

    def select(self, keys: Sequence[str]) -> list[tuple[str, Any]]:
        try:
            values = self.client.mget([PREFIX + k for k in keys])
        except (redis.RedisError, OSError) as exc:
            raise self._error("reading", exc) from None
        return [(k, v) for k, v in zip(keys, values) if v is not None]

    def write(self, items: dict[str, Any]) -> None:
        if not items:
            return
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.mset({PREFIX + k: encode(v) for k, v in items.items()})
                pipe.execute()
        except (redis.RedisError, OSError) as exc:
            raise self._error("writing", exc) from None

    def write_raw(self, items: dict[str, str]) -> None:
        """Entries already encoded (an import): stored as given."""
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.mset({PREFIX + k: v for k, v in items.items()})
                pipe.execute()
        except (redis.RedisError, OSError) as exc:
            raise self._error("writing", exc) from None

    def close(self) -> None:
        self.client.close()

    def set_aside(self, reason: BaseException) -> None:
        self.close()  # nothing to move: a server that fails is not a file that is damaged

    # -- maintenance (evalsweep cache ... --store URL) -----------------------------------------

    def entries(self) -> Iterator[tuple[str, str]]:
        """Every (key, stored JSON text), a SCAN batch at a time (never the whole cache in memory)."""
        try:
            batch: list[str] = []
            for name in self.client.scan_iter(match=PREFIX + "*", count=SCAN_COUNT):
                batch.append(name)
                if len(batch) >= SCAN_COUNT:
                    yield from self._values(batch)
                    batch = []
            if batch:
                yield from self._values(batch)
        except (redis.RedisError, OSError) as exc:
            raise self._error("reading", exc) from None

    def _values(self, names: list[str]) -> Iterator[tuple[str, str]]:
        for name, value in zip(names, self.client.mget(names)):
            if value is not None:  # deleted between the scan and the read
                yield name[len(PREFIX):], value

    def delete(self, keys: Sequence[str]) -> int:
        try:
            return int(self.client.delete(*[PREFIX + k for k in keys])) if keys else 0
        except (redis.RedisError, OSError) as exc:
            raise self._error("deleting from", exc) from None


def parsed(value: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(value)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def matches(filters: Filters, entry: dict[str, Any] | None, now: float) -> bool:
    """Filters.where, for an entry read in Python (an unreadable entry matches no filter)."""
    if entry is None:
        return filters.model is None and filters.provider is None and filters.older_than_s is None
    if filters.model is not None and entry.get("model") != filters.model:
        return False
    if filters.provider is not None and entry.get("provider") != filters.provider:
        return False
    if filters.older_than_s is not None:
        created = entry.get("created")
        if not isinstance(created, (int, float)) or created >= now - filters.older_than_s:
            return False
    return True


def _utc(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def stats(db: RedisCacheDB, filters: Filters) -> CacheStats:
    now = time.time()
    total = unreadable = size = 0
    groups: dict[tuple[str | None, str | None], list[float | int | None]] = {}
    for _, value in db.entries():
        total += 1
        size += len(value)
        entry = parsed(value)
        if entry is None:
            unreadable += 1
        if not matches(filters, entry, now):
            continue
        e = entry or {}
        g = groups.setdefault((e.get("provider"), e.get("model")), [0, None, None])
        g[0] = int(g[0] or 0) + 1
        created = e.get("created")
        if isinstance(created, (int, float)):
            g[1] = created if g[1] is None else min(float(g[1]), created)
            g[2] = created if g[2] is None else max(float(g[2]), created)
    by_model = sorted((ModelCount(provider=p, model=m, entries=int(n or 0), oldest_utc=_utc(lo), newest_utc=_utc(hi))
                       for (p, m), (n, lo, hi) in groups.items()), key=lambda c: -c.entries)
    return CacheStats(path=redacted(db.url), size_bytes=size, entries=total,
                      matching=sum(c.entries for c in by_model), unreadable=unreadable, by_model=by_model)


def delete(db: RedisCacheDB, filters: Filters, *, dry_run: bool = False) -> int:
    now = time.time()
    doomed = [k for k, v in db.entries() if matches(filters, parsed(v), now)]
    if dry_run:
        return len(doomed)
    return sum(db.delete(doomed[i:i + SCAN_COUNT]) for i in range(0, len(doomed), SCAN_COUNT))


def check(db: RedisCacheDB) -> str:
    """The server answers and every entry is JSON; CacheError naming how many are not."""
    n = bad = 0
    for _, value in db.entries():
        n += 1
        bad += parsed(value) is None
    if bad:
        raise CacheError(f"{bad} of {n} entries at {redacted(db.url)} are not JSON cache entries; "
                         f"`evalsweep cache clear --store URL` forgets them all")
    return f"ok: {redacted(db.url)} ({n} entries) answers and every entry is a JSON cache entry"
