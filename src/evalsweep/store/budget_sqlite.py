"""The sweep's budget on one machine: a small sqlite file (in the sweep dir, so it stays with the
sweep and a resumed sweep counts what was already spent). Each call is one short BEGIN IMMEDIATE
transaction, so the jobs' processes never both take the last dollars. Rollback journal, not WAL:
the file is tiny and may sit in a sweep dir on a network disk used from this one machine."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from evalsweep.store.budget import Verdict
from evalsweep.store.url import StoreError

T = TypeVar("T")
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (key TEXT PRIMARY KEY, spent REAL NOT NULL, requests INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS reservations (id TEXT PRIMARY KEY, key TEXT NOT NULL, amount REAL NOT NULL,
                                         expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS observed (key TEXT NOT NULL, model TEXT NOT NULL, max_cost REAL NOT NULL,
                                     PRIMARY KEY (key, model));
"""


class SqliteBudgetStore:
    def __init__(self, path: Path, key: str, lease_s: float) -> None:
        self.path = path
        self.key = key
        self.lease_s = lease_s
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                         check_same_thread=False)
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"sweep budget: cannot use {path} ({exc}); make the sweep dir writable, or use "
                             f"the Redis store (store.url=redis://host:6379/0)") from None

    def _tx(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    out = work(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"sweep budget: {self.path}: {exc}") from None
            return out

    def _spent(self, conn: sqlite3.Connection) -> float:
        row = conn.execute("SELECT spent FROM spend WHERE key = ?", (self.key,)).fetchone()
        return float(row[0]) if row else 0.0

    def reserve(self, rid: str, amount: float, cap: float) -> Verdict:
        def work(conn: sqlite3.Connection) -> Verdict:
            now = time.time()
            conn.execute("DELETE FROM reservations WHERE expires < ?", (now,))
            spent = self._spent(conn)
            if spent >= cap or spent + amount > cap:
                return "spent"
            reserved = conn.execute("SELECT COALESCE(SUM(amount), 0) FROM reservations WHERE key = ?",
                                    (self.key,)).fetchone()[0]
            if spent + reserved + amount > cap:
                return "wait"
            conn.execute("INSERT INTO reservations (id, key, amount, expires) VALUES (?, ?, ?, ?)",
                         (rid, self.key, amount, now + self.lease_s))
            return "ok"

        return self._tx(work)

    def settle(self, rid: str, actual: float | None, model: str) -> float | None:
        def work(conn: sqlite3.Connection) -> float | None:
            conn.execute("DELETE FROM reservations WHERE id = ?", (rid,))
            if actual is not None:
                conn.execute("INSERT INTO spend (key, spent, requests) VALUES (?, ?, 1) ON CONFLICT (key) DO "
                             "UPDATE SET spent = spent + excluded.spent, requests = requests + 1", (self.key, actual))
                conn.execute("INSERT INTO observed (key, model, max_cost) VALUES (?, ?, ?) ON CONFLICT (key, model) "
                             "DO UPDATE SET max_cost = max(max_cost, excluded.max_cost)", (self.key, model, actual))
            return self._observed(conn, model)

        return self._tx(work)

    def _observed(self, conn: sqlite3.Connection, model: str) -> float | None:
        row = conn.execute("SELECT max_cost FROM observed WHERE key = ? AND model = ?", (self.key, model)).fetchone()
        return float(row[0]) if row else None

    def renew(self, rids: list[str]) -> None:
        self._tx(lambda conn: conn.executemany("UPDATE reservations SET expires = ? WHERE id = ?",
                                               [(time.time() + self.lease_s, r) for r in rids]))

    def spent(self) -> float:
        return self._tx(self._spent)

    def observed_max(self, model: str) -> float | None:
        return self._tx(lambda conn: self._observed(conn, model))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
