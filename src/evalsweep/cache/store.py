"""The cache file: one table of JSON values (never pickle: CVE-2024-35515) in WAL mode with a busy
timeout, so several processes can share it. Its health is checked at open: a file that is not a
database, or one that PRAGMA quick_check finds damaged, is moved aside and a fresh one started.

The table is the one sqlitedict made (key TEXT PRIMARY KEY, value BLOB), so existing caches keep
working, but it is no longer reached through sqlitedict's writer thread: when a commit failed
there (a full disk, a read-only file), the thread died and every later call waited on it forever
(piskvorky/sqlitedict#108), which hung the whole job. Here every call returns or raises in the
thread that made it, and the cache turns itself off with a warning."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_random_exponential

from evalsweep.config.base import PROJECT_ROOT
from evalsweep.config.run import CacheConfig
from evalsweep.errors import CacheError

log = logging.getLogger(__name__)

TABLE = "responses"
ENV_PATH = "EVALSWEEP_CACHE_PATH"
DEFAULT_RELATIVE = Path(".cache") / "responses.sqlite"
# Long enough to outlast any other process's write transaction (each holds the lock for one short batch).
BUSY_TIMEOUT_S = 60.0
# quick_check reads every page: ~0.5 ms per MB from the page cache, so up to ~0.5 s at this size.
# A larger file is checked when an error says it is damaged (see ResponseCache).
QUICK_CHECK_MAX_BYTES = 1 << 30


class DamagedCache(Exception):
    """PRAGMA quick_check found the file damaged: its first findings, on one line."""

    def __init__(self, findings: list[str]) -> None:
        lines = [ln.strip() for f in findings for ln in f.splitlines() if ln.strip() and not ln.startswith("***")]
        super().__init__("; ".join(lines[:3]) + ("; ..." if len(lines) > 3 else ""))


def is_damage(exc: BaseException) -> bool:
    """sqlite's own word that the file is damaged or not a database, not merely busy or unwritable."""
    if isinstance(exc, DamagedCache):
        return True
    return isinstance(exc, sqlite3.DatabaseError) and _code(exc) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF  # the primary code of an extended one


def default_path(cfg: CacheConfig | None = None) -> Path:
    """EVALSWEEP_CACHE_PATH, else cache.path (relative to the project root), else .cache/responses.sqlite."""
    env = os.environ.get(ENV_PATH, "").strip()
    if env:
        return Path(env).expanduser()
    if cfg is not None and cfg.path:
        p = Path(cfg.path).expanduser()
        return p if p.is_absolute() else PROJECT_ROOT / p
    return PROJECT_ROOT / DEFAULT_RELATIVE


def encode(value: Any) -> str:
    # Stored as TEXT, so sqlite's json_extract can filter on it (the cache CLI does).
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def decode(blob: str | bytes) -> Any:
    return json.loads(blob)


# Two jobs opening a new file at once race on creating it and switching it to WAL; sqlite can
# answer "database is locked" at once there instead of waiting, and a moment later it opens fine.
_retry_when_locked = retry(
    retry=retry_if_exception(lambda e: isinstance(e, sqlite3.OperationalError) and "locked" in str(e)),
    stop=stop_after_attempt(8), wait=wait_random_exponential(multiplier=0.05, max=2), reraise=True)


def _size(path: Path) -> int:
    side = [path.with_name(path.name + s) for s in ("-wal", "-shm")]
    return sum(p.stat().st_size for p in (path, *side) if p.exists())


@_retry_when_locked
def _probe(path: Path, *, check_up_to: int | None) -> None:
    """Read the schema, then (for files up to check_up_to bytes; None: any size) run PRAGMA
    quick_check: raises sqlite3.DatabaseError when the file is not a database, DamagedCache when
    it is damaged. Reading the schema alone missed damage, e.g. a WAL file overwritten mid-run."""
    if not path.exists() or path.stat().st_size == 0:
        return
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if check_up_to is None or _size(path) <= check_up_to:
            found = [str(row[0]) for row in conn.execute("PRAGMA quick_check(3)")]
            if found != ["ok"]:
                raise DamagedCache(found)
        else:
            log.debug("cache %s is over %d bytes: not checked at open", path, check_up_to)
    finally:
        conn.close()


def move_aside(path: Path, reason: object, *, fresh_now: bool = True) -> Path:
    """Rename a broken cache file (and its WAL side files) so a fresh one can start."""
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    try:
        path.replace(aside)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.replace(aside.with_name(aside.name + suffix))
    except OSError as exc:
        raise CacheError(
            f"cache file {path} is unreadable ({reason}) and could not be moved aside ({exc}); "
            f"delete it, point {ENV_PATH} elsewhere, or run with cache.enabled=false"
        ) from None
    damaged = isinstance(reason, DamagedCache) or (isinstance(reason, BaseException)
                                                   and _code(reason) == sqlite3.SQLITE_CORRUPT)
    what = "damaged" if damaged else "not a readable database"
    then = "started an empty cache" if fresh_now else "the next job starts an empty cache"
    log.warning("cache file %s is %s (%s): moved it to %s and %s. Only cached answers are lost (they are "
                "asked again); `sqlite3 <moved file> .recover` may save some, else delete it when done with it.",
                path, what, reason, aside, then)
    return aside


def _check_openable(path: Path) -> None:
    """Probe the file; move it aside when corrupt, stop with a clear line when it cannot be opened."""
    try:
        _probe(path, check_up_to=QUICK_CHECK_MAX_BYTES)
    except sqlite3.OperationalError as exc:
        # Permissions, a missing directory, a lock held too long: not corruption, so leave the file be.
        raise CacheError(
            f"cannot open the response cache {path}: {exc}; fix the file's permissions, point {ENV_PATH} "
            f"or cache.path elsewhere, or run with cache.enabled=false"
        ) from None
    except (sqlite3.DatabaseError, DamagedCache) as exc:
        move_aside(path, exc)


class CacheDB:
    """The open cache file: one sqlite3 connection, used from worker threads one call at a time."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._lock = threading.Lock()

    def select(self, keys: Sequence[str]) -> list[tuple[str, Any]]:
        """(key, stored value) of the keys present; at most ~500 keys a call (sqlite's parameter limit)."""
        sql = f'SELECT key, value FROM "{TABLE}" WHERE key IN ({",".join("?" * len(keys))})'
        with self._lock:
            return self.conn.execute(sql, tuple(keys)).fetchall()

    def write(self, items: dict[str, Any]) -> None:
        """REPLACE every entry in one short transaction; on any failure nothing is written."""
        rows = [(k, encode(v)) for k, v in items.items()]
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.executemany(f'REPLACE INTO "{TABLE}" (key, value) VALUES (?, ?)', rows)
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    try:
                        self.conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # the first error is the one to report
                raise

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def set_aside(self, reason: BaseException) -> None:
        # Closed first: sqlite deletes a WAL file by name on close, which would then be the new one's.
        self.close()
        move_aside(self.path, reason, fresh_now=False)


@_retry_when_locked
def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; CacheDB.write opens and commits its own.
    if readonly:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S,
                               isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    try:
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f'CREATE TABLE IF NOT EXISTS "{TABLE}" (key TEXT PRIMARY KEY, value BLOB)')
        # WAL's recommended NORMAL: an OS crash cannot corrupt the file, and commits stay cheap.
        conn.execute("PRAGMA synchronous = NORMAL")
        found = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (TABLE,)).fetchone()
    except BaseException:
        conn.close()
        raise
    if found is None:
        conn.close()
        raise CacheError(f"{path} holds no '{TABLE}' table: not an evalsweep response cache")
    return conn


def open_dict(path: Path, *, readonly: bool = False) -> CacheDB:
    """Open (creating when needed) the cache table, after checking the file's health."""
    if readonly and not path.exists():
        raise CacheError(f"no response cache at {path}; run a job first, or pass --path / set {ENV_PATH}")
    if not readonly:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot create the cache directory {path.parent}: {exc}; "
                             f"point {ENV_PATH} or cache.path elsewhere") from None
        _check_openable(path)
    try:
        return CacheDB(_connect(path, readonly), path)
    except sqlite3.Error as exc:
        raise CacheError(f"cannot open the response cache {path}: {exc}; delete it or run with "
                         f"cache.enabled=false") from None
