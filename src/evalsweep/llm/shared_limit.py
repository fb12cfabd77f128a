"""One model's limits (requests in flight, requests and tokens per minute) held across every job on this
machine, through a small sqlite file the jobs' processes share.

Why: each job already keeps its own limits (the runner's max_concurrency workers, aiolimiter for
rpm), but parallel jobs multiply them: 4 joblib jobs with max_concurrency 50 send 200 requests at
once. With the shared limit on, every provider attempt first takes a slot here.

How:
- A slot is a row (key, host, pid, process start time, lease expiry). Taking one is a single
  `BEGIN IMMEDIATE` transaction (count the key's rows, insert if below the limit), so two processes
  can never both take the last slot. Releasing deletes the row.
- rpm is a sliding window: one row per request start; a new start waits while `rpm` starts lie in
  the last `window_s` seconds.
- tpm is the same window counted in tokens: each start's row holds the tokens it reserved (what the
  service estimates: the prompt at ~4 characters a token plus max_tokens); a start waits while its
  tokens and those of the window's rows exceed `tpm`. A request above the whole `tpm` is clipped to
  it (as aiolimiter does per job): it waits for an empty window, then takes all of it. The rows age
  out with the window, so a dead process's tokens free themselves as a live one's do.
- A job killed with SIGKILL cannot release its slots: rows whose process is gone (no such pid, a
  zombie, or a pid reused by a newer process) are deleted by the next process that finds the limit
  full. Rows also carry a lease (longer than any attempt may take: the service bounds each attempt
  by request_timeout_s) after which anyone deletes them, e.g. rows of another host.
- Nothing blocks the event loop: every sqlite call runs in a thread, and a full limit is polled
  with asyncio.sleep (a short backoff with jitter; for rpm, until the window frees a start). Only
  one coroutine per process polls at a time, so 50 waiting workers cost one query, not 50.

The file is machine-local on purpose (default /tmp/evalsweep-<uid>/shared_limits.sqlite): pids mean
nothing on another host and sqlite locking over NFS is unreliable. On a cluster the limit is per
node (docs/scaling.md).
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import psutil

from evalsweep.config.model import ModelConfig, SharedLimitConfig
from evalsweep.errors import ConfigError
from evalsweep.llm.polled_limit import PolledLimiter

log = logging.getLogger(__name__)

ENV_PATH = "EVALSWEEP_LIMITS_PATH"
BUSY_TIMEOUT_S = 30.0
# Poll backoff while the limit is full: short at first (a slot frees within one request's latency).
# Dead-owner checks cost a few psutil calls; once a second per process is plenty.
REAP_EVERY_S = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS slots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, pid_start REAL NOT NULL,
    acquired REAL NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS slots_key ON slots (key);
CREATE TABLE IF NOT EXISTS starts (key TEXT NOT NULL, t REAL NOT NULL, tokens REAL NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS starts_key_t ON starts (key, t);
"""


def _add_tokens_column(conn: sqlite3.Connection) -> None:
    """A file made before tpm was shared has no `tokens` column: add it (once, under a write lock)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        names = {row[1] for row in conn.execute("PRAGMA table_info(starts)")}
        if "tokens" not in names:
            conn.execute("ALTER TABLE starts ADD COLUMN tokens REAL NOT NULL DEFAULT 0")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def default_path(cfg: SharedLimitConfig | None = None) -> Path:
    """shared_limit.path, else $EVALSWEEP_LIMITS_PATH, else a per-user file under /tmp (not
    $TMPDIR: SLURM often sets it per job, and jobs on one node must find the same file)."""
    if cfg is not None and cfg.path:
        return Path(cfg.path).expanduser()
    if os.environ.get(ENV_PATH):
        return Path(os.environ[ENV_PATH]).expanduser()
    base = Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return base / f"evalsweep-{uid}" / "shared_limits.sqlite"


def limit_key(model: ModelConfig) -> str:
    """Jobs share a limit when they talk to the same model at the same endpoint."""
    return f"{model.provider}|{model.base_url or 'default'}|{model.name}"


def _process_start(pid: int) -> float | None:
    """The process's start time, or None when it is gone (zombies count as gone: a SIGKILLed
    child stays a zombie until its parent reaps it, and it holds nothing any more)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return -1.0  # another user's live process: treat as alive, its lease still bounds it


class SharedLimiter(PolledLimiter[int]):
    """Created per job (never module-level: joblib reuses worker processes) and closed in `finally`.
    Slots are rows of the sqlite file; the polling is PolledLimiter's."""

    def __init__(self, path: Path, key: str, max_concurrency: int, rpm: int | None = None, *,
                 tpm: int | None = None, lease_s: float = 300.0, window_s: float = 60.0) -> None:
        super().__init__(max_concurrency, rpm, tpm)
        self.path = path
        self.key = key
        self.lease_s = lease_s
        self.window_s = window_s
        self._host = socket.gethostname()
        self._pid = os.getpid()
        self._pid_start = _process_start(self._pid) or 0.0
        self._lock = threading.Lock()  # one sqlite connection, used from worker threads in turn
        self._held: set[int] = set()
        self._next_reap = 0.0
        self._conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            _add_tokens_column(conn)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"shared_limit: cannot use {self.path} ({exc}); point shared_limit.path (or "
                f"{ENV_PATH}) at a writable file on a local disk, or set shared_limit.enabled=false"
            ) from None
        return conn

    # -- sqlite side (runs in a worker thread) ---------------------------------------------

    def _reap_dead(self, now: float) -> int:
        """Delete slots of this host's processes that no longer exist. Caller holds a transaction."""
        if now < self._next_reap:
            return 0
        self._next_reap = now + REAP_EVERY_S
        owners = self._conn.execute("SELECT DISTINCT pid, pid_start FROM slots WHERE host = ?",
                                    (self._host,)).fetchall()
        dead = 0
        for pid, started in owners:
            actual = _process_start(pid)
            # A different start time: the pid was reused by a newer process.
            if actual is None or (actual >= 0 and abs(actual - started) > 1e-3):
                dead += self._conn.execute("DELETE FROM slots WHERE host = ? AND pid = ? AND pid_start = ?",
                                           (self._host, pid, started)).rowcount
        if dead:
            log.warning("shared limit %s: freed %d slot(s) of job processes that died without releasing them",
                        self.key, dead)
        return dead

    def _try_acquire(self, tokens: float = 0.0) -> tuple[int | None, float | None]:
        """(slot id, None) on success; else (None, seconds until the window frees a start or the
        tokens asked, or None when the concurrency limit is full)."""
        with self._lock:
            if self._closed:  # a cancelled acquire finishing after close(): take nothing
                return None, None
            now = time.time()
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM slots WHERE expires < ?", (now,))
                count = conn.execute("SELECT COUNT(*) FROM slots WHERE key = ?", (self.key,)).fetchone()[0]
                if count >= self.max_concurrency and self._reap_dead(now):
                    count = conn.execute("SELECT COUNT(*) FROM slots WHERE key = ?", (self.key,)).fetchone()[0]
                if count >= self.max_concurrency:
                    conn.execute("COMMIT")
                    return None, None
                rpm, tpm = self.rpm, self.tpm
                if rpm is not None or tpm is not None:
                    conn.execute("DELETE FROM starts WHERE key = ? AND t <= ?", (self.key, now - self.window_s))
                    wait = self._window_wait(conn, now, rpm, tpm, tokens)
                    if wait is not None:
                        conn.execute("COMMIT")
                        return None, wait
                    conn.execute("INSERT INTO starts (key, t, tokens) VALUES (?, ?, ?)",
                                 (self.key, now, min(tokens, tpm) if tpm is not None else tokens))
                slot = conn.execute(
                    "INSERT INTO slots (key, host, pid, pid_start, acquired, expires) VALUES (?, ?, ?, ?, ?, ?)",
                    (self.key, self._host, self._pid, self._pid_start, now, now + self.lease_s)).lastrowid
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            assert slot is not None
            self._held.add(slot)
            return slot, None

    def _window_wait(self, conn: sqlite3.Connection, now: float, rpm: int | None, tpm: int | None,
                     tokens: float) -> float | None:
        """Seconds until the window lets this start in (its rpm and its tpm), or None: it may start now."""
        if rpm is not None:
            n, oldest = conn.execute("SELECT COUNT(*), MIN(t) FROM starts WHERE key = ?", (self.key,)).fetchone()
            if n >= rpm:
                return max(0.0, oldest + self.window_s - now)
        if tpm is None:
            return None
        rows = conn.execute("SELECT t, tokens FROM starts WHERE key = ? ORDER BY t", (self.key,)).fetchall()
        over = sum(r[1] for r in rows) + min(tokens, tpm) - tpm
        if over <= 1e-9:
            return None
        for t, freed in rows:  # the oldest starts leave first: wait until enough of their tokens have
            over -= freed
            if over <= 1e-9:
                return max(0.0, t + self.window_s - now)
        return 0.0  # not reached: the rows hold more than `over`

    def _release_sync(self, slot: int) -> None:
        with self._lock:
            if slot not in self._held or self._closed:
                return
            self._conn.execute("DELETE FROM slots WHERE id = ?", (slot,))
            self._held.discard(slot)

    def in_use(self) -> int:
        """Slots of this key taken right now, by any process (for tests and logs)."""
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM slots WHERE key = ?", (self.key,)).fetchone()[0]

    # -- async side ------------------------------------------------------------------------

    def close(self) -> None:
        """Give back every slot this job still holds (e.g. an acquire cancelled mid-flight) and
        close the file. Blocking: call it through asyncio.to_thread from async code."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._held:
                self._conn.executemany("DELETE FROM slots WHERE id = ?", [(s,) for s in self._held])
                self._held.clear()
            self._conn.close()
        if self.waited:
            log.info("shared limit %s: %d of %d requests waited for a slot, %.1fs in total",
                     self.key, self.waited, self.acquired, self.wait_s)


def open_shared_limiter(model: ModelConfig, cfg: SharedLimitConfig) -> SharedLimiter:
    """The job's view of the machine-wide limit; unset numbers are the model's own."""
    max_concurrency, rpm, tpm = shared_numbers(model, cfg)
    # Longer than any attempt can hold a slot (the service cuts each attempt at request_timeout_s).
    lease_s = 2 * model.request_timeout_s + 60
    limiter = SharedLimiter(default_path(cfg), limit_key(model), max_concurrency, rpm, tpm=tpm, lease_s=lease_s)
    log.info("shared limit for %s: %d in flight%s across all jobs on this machine (%s)", limiter.key,
             max_concurrency, per_minute(rpm, tpm), limiter.path)
    return limiter


def shared_numbers(model: ModelConfig, cfg: SharedLimitConfig) -> tuple[int, int | None, int | None]:
    """(max_concurrency, rpm, tpm) held across jobs: shared_limit's, else the model's own."""
    return (cfg.max_concurrency or model.max_concurrency, cfg.rpm if cfg.rpm is not None else model.rpm,
            cfg.tpm if cfg.tpm is not None else model.tpm)


def per_minute(rpm: int | None, tpm: int | None) -> str:
    """The per-minute part of the log line that says what a shared limit holds."""
    return (f", {rpm} requests/min" if rpm else "") + (f", {tpm} tokens/min" if tpm else "")
