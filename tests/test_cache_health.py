"""The cache's own health: a damaged file is found when a job opens it, the admin commands report
it in one line instead of a traceback, and writes that fail (a full disk) switch the cache off with
a warning instead of hanging the job."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalsweep.cache import ResponseCache
from evalsweep.cache import store
from evalsweep.llm.types import GenerateRequest, GenerateResponse, Message

from conftest import ROOT, InprocJob, base_args, job_args, job_log, rows, sim_server, summary
from evalsweep.api import JobResult

REQ = GenerateRequest(provider="openai", model="sim", messages=[Message(role="user", content="q")])


def _entry(i: int) -> str:
    return json.dumps({"created": time.time(), "provider": "openai", "model": "sim",
                       "response": {"text": f"answer {i} " + "x" * 300}})


def damage_through_the_wal(path: Path) -> None:
    """What a WAL file overwritten mid-run leaves: a job's answers sit in the WAL (not yet
    checkpointed), the middle of the WAL is overwritten, and closing checkpoints the garbage in."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute('CREATE TABLE IF NOT EXISTS "responses" (key TEXT PRIMARY KEY, value BLOB)')
    conn.commit()
    for batch in range(5):
        with conn:
            conn.executemany('REPLACE INTO "responses" VALUES (?, ?)',
                             [(f"k{batch}-{i}", _entry(i)) for i in range(200)])
    wal = path.with_name(path.name + "-wal")
    size = wal.stat().st_size
    with wal.open("r+b") as f:
        f.seek(size // 2)
        f.write(random.Random(7).randbytes(size // 4))
    conn.close()
    assert not wal.exists()  # checkpointed into the file


def damage_every_page_but_the_first(path: Path) -> None:
    """The schema (page 1) still reads; every table and index page is garbage."""
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    data[page:] = random.Random(3).randbytes(len(data) - page)
    path.write_bytes(bytes(data))


def fill(path: Path, n: int = 50) -> None:
    async def main() -> None:
        cache = ResponseCache(path)
        for i in range(n):
            cache.put(f"k{i}", REQ, GenerateResponse(text=f"answer {i}"))
        await cache.close()

    asyncio.run(main())


def quick_check(path: Path) -> list[str] | str:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()


# --- found at open ----------------------------------------------------------------------------------


def test_a_wal_overwritten_mid_run_is_found_at_open_and_moved_aside(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "responses.sqlite"
    damage_through_the_wal(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] >= 1  # the old check passed
    conn.close()
    assert quick_check(path) != ["ok"]

    async def main() -> tuple[GenerateResponse | None, GenerateResponse | None]:
        cache = ResponseCache(path)
        await cache.open()
        old = await cache.get("k0-1")  # an answer of the damaged file: not served
        cache.put("new", REQ, GenerateResponse(text="fresh"))
        await cache.close()
        again = ResponseCache(path)
        try:
            return old, await again.get("new")
        finally:
            await again.close()

    with caplog.at_level(logging.WARNING):
        old, new = asyncio.run(main())
    assert old is None and new is not None and new.text == "fresh"
    assert "is damaged" in caplog.text and "moved it to" in caplog.text
    aside = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and quick_check(aside[0]) != ["ok"]  # kept for recovery, not deleted
    assert quick_check(path) == ["ok"]


def test_damage_found_mid_job_turns_the_cache_off_and_moves_the_file_aside(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # A file too large to check at open is checked by the error sqlite raises when it reads damage.
    monkeypatch.setattr(store, "QUICK_CHECK_MAX_BYTES", 0)
    path = tmp_path / "responses.sqlite"
    fill(path)
    damage_every_page_but_the_first(path)

    async def main() -> ResponseCache:
        cache = ResponseCache(path)
        await cache.prefetch([f"k{i}" for i in range(10)])
        assert await cache.get("k1") is None
        cache.put("k-new", REQ, GenerateResponse(text="x"))  # off: not written anywhere
        await cache.close()
        return cache

    with caplog.at_level(logging.WARNING):
        cache = asyncio.run(main())
    assert cache.error is not None and "malformed" in cache.error
    assert "response cache off" in caplog.text and "the next job starts an empty cache" in caplog.text
    assert not path.exists() and len([p for p in tmp_path.iterdir() if ".corrupt-" in p.name]) == 1


@pytest.mark.slow
def test_the_next_job_notices_a_damaged_cache_and_finishes(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    cache = tmp_path / "responses.sqlite"
    with sim_server() as srv:
        args = ["model=sim", f"model.base_url={srv.url}", *job_args(samples=6)]
        first = run_job_inproc(args, tmp_path / "first", env={"EVALSWEEP_CACHE_PATH": str(cache)})
        assert isinstance(first, JobResult), first
        damage_every_page_but_the_first(cache)
        second = run_job_inproc(args, tmp_path / "second", env={"EVALSWEEP_CACHE_PATH": str(cache)})
        assert srv.stats().requests_total == 12  # nothing served from the damaged file
    assert isinstance(second, JobResult), second
    assert "is damaged" in job_log(tmp_path / "second")
    s = summary(tmp_path / "second")
    assert s["status"] == "complete" and s["cache"]["misses"] == 6 and s["cache"]["error"] is None
    assert len(rows(tmp_path / "second")) == 6
    assert quick_check(cache) == ["ok"] and len(list(tmp_path.glob("responses.sqlite.corrupt-*"))) == 1


# --- the admin commands on a damaged file ----------------------------------------------------------


@pytest.mark.parametrize("command", [["stats"], ["stats", "--json"], ["check"], ["clear"],
                                     ["prune", "--older-than", "1d"], ["clear", "--dry-run"]])
def test_admin_commands_on_a_damaged_file_print_one_line_and_exit_non_zero(tmp_path: Path,
                                                                           command: list[str]) -> None:
    path = tmp_path / "responses.sqlite"
    damage_through_the_wal(path)
    before = path.read_bytes()
    out = subprocess.run([sys.executable, "-m", "evalsweep.cache", *command, "--path", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("evalsweep.cache: error: ")
    assert str(path) in out.stderr and "is damaged" in out.stderr
    assert path.read_bytes() == before  # nothing written into, or deleted from, a damaged file


def test_check_passes_a_healthy_file(tmp_path: Path) -> None:
    path = tmp_path / "responses.sqlite"
    fill(path, 20)
    out = subprocess.run([sys.executable, "-m", "evalsweep.cache", "check", "--path", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok: ") and "20 entries" in out.stdout


# --- writes that fail: a warning, never a hang ---------------------------------------------------


def _file_size_limit(limit: int) -> None:
    """In the child: writing past `limit` bytes of any file fails with EFBIG (as on a full disk),
    instead of the process being killed by SIGXFSZ."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


_WRITER = r"""
import asyncio, sys
from pathlib import Path
from evalsweep.cache import ResponseCache
from evalsweep.llm.types import GenerateRequest, GenerateResponse, Message

request = GenerateRequest(provider="openai", model="sim", messages=[Message(role="user", content="q")])

async def main():
    cache = ResponseCache(Path(sys.argv[1]))
    await cache.open()
    for i in range(2000):
        cache.put(f"k{i}", request, GenerateResponse(text="x" * 500))
        await asyncio.sleep(0)
    await cache.close()
    print("written", cache.written, "error", cache.error)

asyncio.run(main())
"""


def test_a_cache_whose_disk_is_full_warns_and_returns(tmp_path: Path) -> None:
    # sqlitedict's writer thread died on the failed commit and this waited forever.
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _WRITER, str(tmp_path / "c.sqlite")], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, preexec_fn=lambda: _file_size_limit(200_000))
    assert out.returncode == 0, out.stderr
    assert time.perf_counter() - t0 < 30
    written = int(out.stdout.split()[1])
    assert 0 < written < 2000 and "error writing" in out.stdout
    assert "response cache off for the rest of this job" in out.stderr


@pytest.mark.slow
def test_a_job_whose_cache_cannot_be_written_warns_and_finishes(tmp_path: Path) -> None:
    # Another process holds the cache open with ~1.5 MB of answers not yet checkpointed, so the job's
    # writes go to the end of that WAL file; under a 600 kB file-size limit every one of them fails
    # (EFBIG, as on a full disk), while results.jsonl and the job's logs stay well under it.
    run_dir, cache = tmp_path / "run", tmp_path / "responses.sqlite"
    holder = sqlite3.connect(cache)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("PRAGMA wal_autocheckpoint=0")
    holder.execute('CREATE TABLE IF NOT EXISTS "responses" (key TEXT PRIMARY KEY, value BLOB)')
    for batch in range(8):
        with holder:
            holder.executemany('REPLACE INTO "responses" VALUES (?, ?)',
                               [(f"other-{batch}-{i}", _entry(i)) for i in range(400)])
    assert cache.with_name(cache.name + "-wal").stat().st_size > 1_200_000
    try:
        with sim_server() as srv:
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, str(ROOT / "run.py"), "model=sim", f"model.base_url={srv.url}",
                 *base_args(run_dir, samples=150)],  # more than a batch: a write fails mid-job
                cwd=ROOT, capture_output=True, text=True, timeout=120, preexec_fn=lambda: _file_size_limit(600_000),
                env={**os.environ, "EVALSWEEP_CACHE_PATH": str(cache), "WANDB_MODE": "disabled",
                     "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": ""})
            elapsed = time.perf_counter() - t0
    finally:
        holder.close()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert elapsed < 90  # it hung until killed (240 s) when the cache's disk was full
    s = summary(run_dir)
    assert s["status"] == "complete" and s["n_done"] == 150 and s["n_errors"] == 0
    assert s["cache"]["error"] is not None and s["cache"]["error"].startswith("writing")
    assert "response cache off for the rest of this job" in proc.stdout + proc.stderr
    assert len(rows(run_dir)) == 150
    assert quick_check(cache) == ["ok"]  # a failed write leaves the file as it was
