"""Maintenance of the cache file for `python -m evalsweep.cache`: stats, clear, prune, check.

Filters run in SQL on the JSON values (json_extract), so a large cache is never loaded into memory.
Entries are written with a `created` time, a provider and a model next to the response.
Every sqlite failure (a damaged file, a lock held too long) is a CacheError: one line, never a
traceback, and nothing is deleted from a file that is not healthy."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from evalsweep.cache.store import BUSY_TIMEOUT_S, ENV_PATH, TABLE, DamagedCache, _probe, _size, is_damage
from evalsweep.errors import CacheError

T = TypeVar("T")

_VALID = "json_valid(value)"
_MODEL = f"CASE WHEN {_VALID} THEN json_extract(value, '$.model') END"
_PROVIDER = f"CASE WHEN {_VALID} THEN json_extract(value, '$.provider') END"
_CREATED = f"CASE WHEN {_VALID} THEN json_extract(value, '$.created') END"


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    provider: str | None = None
    older_than_s: float | None = Field(None, ge=0)

    def where(self, now: float) -> tuple[str, list[object]]:
        clauses: list[str] = []
        args: list[object] = []
        if self.model is not None:
            clauses.append(f"{_MODEL} = ?")
            args.append(self.model)
        if self.provider is not None:
            clauses.append(f"{_PROVIDER} = ?")
            args.append(self.provider)
        if self.older_than_s is not None:
            clauses.append(f"{_CREATED} < ?")
            args.append(now - self.older_than_s)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


class ModelCount(BaseModel):
    provider: str | None
    model: str | None
    entries: int
    oldest_utc: str | None
    newest_utc: str | None


class CacheStats(BaseModel):
    path: str
    size_bytes: int
    entries: int
    matching: int
    unreadable: int
    by_model: list[ModelCount]


def _utc(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _unusable(path: Path, exc: BaseException) -> CacheError:
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
        return CacheError(f"{path} is not a readable cache ({exc}); delete it or move it aside, "
                          f"a job then starts an empty one")
    if is_damage(exc):
        return CacheError(f"{path} is damaged ({exc}); move it aside or delete it (a job then starts an empty "
                          f"one), or try `sqlite3 {path} .recover` to save what is readable")
    return CacheError(f"{path}: {exc}; is a job holding it, or the disk full? Try again, or run with --path "
                      f"on a copy")


@contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    """Any sqlite (or file) failure of a command, as one CacheError line."""
    try:
        yield
    except (sqlite3.Error, DamagedCache, OSError) as exc:
        raise _unusable(path, exc) from None


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to a healthy cache file: PRAGMA quick_check passed, whatever the size (a
    command that writes must not write into a damaged file)."""
    if not path.is_file():
        raise CacheError(f"no response cache at {path}; run a job first, or pass --path / set {ENV_PATH}")
    try:
        _probe(path, check_up_to=None)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
        has_table = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (TABLE,)).fetchone()
    except (sqlite3.Error, DamagedCache) as exc:
        raise _unusable(path, exc) from None
    if has_table is None:
        conn.close()
        raise CacheError(f"{path} holds no '{TABLE}' table: not an evalsweep response cache")
    return conn


def _with(path: Path, work: Callable[[sqlite3.Connection], T]) -> T:
    conn = _connect(path)
    try:
        with _sqlite_errors(path):
            return work(conn)
    finally:
        conn.close()


def check(path: Path) -> str:
    """PRAGMA integrity_check (thorough, unlike the quick_check at open): one line when healthy;
    CacheError naming the first problems when not."""
    def work(conn: sqlite3.Connection) -> str:
        found = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(5)")]
        if found != ["ok"]:
            raise DamagedCache(found)
        n = conn.execute(f'SELECT count(*) FROM "{TABLE}"').fetchone()[0]
        return f"ok: {path} ({_size(path) / 1e6:.2f} MB, {n} entries) passed sqlite's integrity check"

    return _with(path, work)


def stats(path: Path, filters: Filters) -> CacheStats:
    return _with(path, lambda conn: _stats(conn, path, filters))


def _stats(conn: sqlite3.Connection, path: Path, filters: Filters) -> CacheStats:
    where, args = filters.where(time.time())
    total = conn.execute(f'SELECT count(*) FROM "{TABLE}"').fetchone()[0]
    unreadable = conn.execute(f'SELECT count(*) FROM "{TABLE}" WHERE NOT {_VALID}').fetchone()[0]
    rows = conn.execute(
        f'SELECT {_PROVIDER} AS p, {_MODEL} AS m, count(*), min({_CREATED}), max({_CREATED}) '
        f'FROM "{TABLE}"{where} GROUP BY p, m ORDER BY count(*) DESC', args).fetchall()
    by_model = [ModelCount(provider=p, model=m, entries=n, oldest_utc=_utc(lo), newest_utc=_utc(hi))
                for p, m, n, lo, hi in rows]
    return CacheStats(path=str(path), size_bytes=_size(path), entries=total,
                      matching=sum(c.entries for c in by_model), unreadable=unreadable, by_model=by_model)


def delete(path: Path, filters: Filters, *, dry_run: bool = False) -> int:
    """Delete the entries matching the filters (all of them without filters); return how many."""
    def work(conn: sqlite3.Connection) -> int:
        where, args = filters.where(time.time())
        if dry_run:
            return int(conn.execute(f'SELECT count(*) FROM "{TABLE}"{where}', args).fetchone()[0])
        with conn:  # one short write transaction; running jobs wait for it (busy timeout)
            n = conn.execute(f'DELETE FROM "{TABLE}"{where}', args).rowcount
        _compact(conn)
        return int(n)

    return _with(path, work)


def _compact(conn: sqlite3.Connection) -> None:
    """Give the freed pages back to the disk when nobody else has the file open; else leave it."""
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
    except sqlite3.OperationalError:
        pass  # another process is using the cache: the space is reused by later writes instead


def iter_entries(path: Path, filters: Filters, batch: int = 1000) -> Iterator[tuple[str, str]]:
    """Every (key, stored JSON text) matching the filters, read in batches (an export)."""
    conn = _connect(path)
    try:
        with _sqlite_errors(path):
            where, args = filters.where(time.time())
            cursor = conn.execute(f'SELECT key, value FROM "{TABLE}"{where}', args)
            while rows := cursor.fetchmany(batch):
                for key, value in rows:
                    yield str(key), value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    finally:
        conn.close()
