"""The cache file: one sqlitedict table with JSON values (never pickle: CVE-2024-35515), WAL and a
busy timeout so several processes can share it. A file that is not a database is moved aside."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlitedict import SqliteDict
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_random_exponential

from evalsweep.config import PROJECT_ROOT, CacheConfig
from evalsweep.errors import CacheError

log = logging.getLogger(__name__)

TABLE = "responses"
ENV_PATH = "EVALSWEEP_CACHE_PATH"
DEFAULT_RELATIVE = Path(".cache") / "responses.sqlite"
# Long enough to outlast any other process's write transaction (each holds the lock for one short batch).
BUSY_TIMEOUT_S = 60.0


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


@_retry_when_locked
def _probe(path: Path) -> None:
    """Read the schema with a plain connection: raises sqlite3.DatabaseError when the file is not
    a database, before a sqlitedict thread holds it open."""
    if not path.exists() or path.stat().st_size == 0:
        return
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    finally:
        conn.close()


def move_aside(path: Path, reason: object) -> Path:
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
    log.warning("cache file %s is not a readable database (%s): moved it to %s and started an empty cache. "
                "Only cached answers are lost (they are asked again); delete the moved file when done with it.",
                path, reason, aside)
    return aside


def _check_openable(path: Path) -> None:
    """Probe the file; move it aside when corrupt, stop with a clear line when it cannot be opened."""
    try:
        _probe(path)
    except sqlite3.OperationalError as exc:
        # Permissions, a missing directory, a lock held too long: not corruption, so leave the file be.
        raise CacheError(
            f"cannot open the response cache {path}: {exc}; fix the file's permissions, point {ENV_PATH} "
            f"or cache.path elsewhere, or run with cache.enabled=false"
        ) from None
    except sqlite3.DatabaseError as exc:
        move_aside(path, exc)


@_retry_when_locked
def _open_sqlitedict(path: Path, readonly: bool) -> SqliteDict:
    return SqliteDict(str(path), tablename=TABLE, flag="r" if readonly else "c", autocommit=False,
                      journal_mode="WAL", encode=encode, decode=decode, outer_stack=False)


def open_dict(path: Path, *, readonly: bool = False) -> SqliteDict:
    """Open (creating when needed) the cache table with JSON values, WAL and a busy timeout."""
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
        d = _open_sqlitedict(path, readonly)
    except RuntimeError as exc:  # sqlitedict's "Refusing to create a new table ... in read-only DB mode"
        raise CacheError(f"{path} holds no response cache table ({exc})") from None
    except sqlite3.Error as exc:
        raise CacheError(f"cannot open the response cache {path}: {exc}; delete it or run with "
                         f"cache.enabled=false") from None
    # sqlitedict's connection waits 5 s for a lock and runs with synchronous=OFF; wait longer, and
    # keep WAL's recommended NORMAL so an OS crash cannot corrupt the file.
    d.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    d.conn.execute("PRAGMA synchronous = NORMAL")
    return d
