"""Response cache on sqlitedict: JSON values (never pickle), WAL, busy timeout, batched commits.

The key is a sha256 of canonical JSON of everything that decides a response and nothing else:
no retries, timeouts or concurrency. Errors are never stored."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlitedict import SqliteDict

from evalsweep.config import PROJECT_ROOT, CacheConfig
from evalsweep.llm.types import GenerateRequest, GenerateResponse

log = logging.getLogger(__name__)

# Bump when the key's contents change, so old entries can never be served under a new meaning.
KEY_SCHEMA_VERSION = 1
TABLE = "responses"
ENV_PATH = "EVALSWEEP_CACHE_PATH"
COMMIT_EVERY = 64
BUSY_TIMEOUT_MS = 60_000


def default_path(cfg: CacheConfig | None = None) -> Path:
    if os.environ.get(ENV_PATH):
        return Path(os.environ[ENV_PATH]).expanduser()
    if cfg is not None and cfg.path:
        p = Path(cfg.path).expanduser()
        return p if p.is_absolute() else PROJECT_ROOT / p
    return PROJECT_ROOT / ".cache" / "responses.sqlite"


def cache_key(request: GenerateRequest, extra: dict[str, Any] | None = None) -> str:
    payload = {
        "v": KEY_SCHEMA_VERSION,
        "provider": request.provider,
        "model": request.model,
        "base_url": request.base_url,
        "messages": [[m.role, m.content] for m in request.messages],
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "top_p": request.top_p,
        "stop": request.stop,
        "seed": request.seed,
        "repeat": request.repeat,
        "extra": extra or {},
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _encode(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _decode(blob: str | bytes) -> Any:
    return json.loads(blob)


def open_dict(path: Path, flag: str = "c") -> SqliteDict:
    """Open the cache file; a file that is not a database is moved aside with a warning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        d = SqliteDict(str(path), tablename=TABLE, flag=flag, autocommit=False, journal_mode="WAL",
                       encode=_encode, decode=_decode, outer_stack=False)
    except sqlite3.DatabaseError as exc:
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        path.replace(aside)
        log.warning("cache file %s is unreadable (%s); moved it to %s and started an empty cache. "
                    "Nothing but cached answers is lost; delete the moved file when you no longer need it.",
                    path, exc, aside)
        d = SqliteDict(str(path), tablename=TABLE, flag=flag, autocommit=False, journal_mode="WAL",
                       encode=_encode, decode=_decode, outer_stack=False)
    d.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return d


class ResponseCache:
    """Async facade: reads run in a thread, writes are queued to sqlitedict's writer thread and
    committed every COMMIT_EVERY puts and at close, so a crash loses only the last few answers."""

    def __init__(self, path: Path, ttl_s: float | None = None) -> None:
        self.path = path
        self.ttl_s = ttl_s
        self._db = open_dict(path)
        self._pending = 0
        self.hits = 0
        self.misses = 0
        self.expired = 0

    def _get_sync(self, key: str) -> GenerateResponse | None:
        entry = self._db.get(key)
        if entry is None:
            return None
        if self.ttl_s is not None and time.time() - float(entry.get("created", 0)) > self.ttl_s:
            self.expired += 1
            return None
        return GenerateResponse.model_validate(entry["response"])

    async def get(self, key: str) -> GenerateResponse | None:
        found = await asyncio.to_thread(self._get_sync, key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: str, request: GenerateRequest, response: GenerateResponse) -> None:
        """Queue a write (non-blocking: sqlitedict hands it to its own thread)."""
        self._db[key] = {
            "created": time.time(),
            "provider": request.provider,
            "model": request.model,
            "response": response.model_dump(mode="json", exclude={"cached", "latency_s", "attempts"}),
        }
        self._pending += 1
        if self._pending >= COMMIT_EVERY:
            self._db.commit(blocking=False)
            self._pending = 0

    async def close(self) -> None:
        await asyncio.to_thread(self._close_sync)

    def _close_sync(self) -> None:
        self._db.commit(blocking=True)
        self._db.close()
