"""The machine-wide limit: a real sqlite file shared by real processes.

Unit tests drive SharedLimiter directly; the end-to-end test runs 4 parallel jobs (joblib) against
one simulator, which records the most requests it ever had in flight at once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest

from conftest import job_dirs, run_cli_quiet, slot_start_times
from evalsweep.config.model import ModelConfig, SharedLimitConfig
from evalsweep.llm.shared_limit import SharedLimiter, default_path, limit_key, open_shared_limiter
from evalsweep.simulator import SimulatorConfig, SimulatorServer

ROOT = Path(__file__).resolve().parents[1]


def limiter(path: Path, n: int, rpm: int | None = None, **kw: float) -> SharedLimiter:
    return SharedLimiter(path, "openai|default|m", n, rpm, **kw)


async def _hammer(lims: list[SharedLimiter], tasks: int, hold_s: float) -> int:
    """`tasks` coroutines spread over several limiters (as over several jobs); the most that ever
    held a slot at once."""
    in_flight = peak = 0

    async def one(lim: SharedLimiter) -> None:
        nonlocal in_flight, peak
        async with lim.slot():
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(hold_s)
            in_flight -= 1

    await asyncio.gather(*(one(lims[i % len(lims)]) for i in range(tasks)))
    return peak


def test_concurrency_holds_across_limiters_and_slots_come_back(tmp_path: Path) -> None:
    path = tmp_path / "limits.sqlite"
    lims = [limiter(path, 3) for _ in range(3)]  # three connections to one file, as three jobs
    try:
        peak = asyncio.run(_hammer(lims, tasks=24, hold_s=0.02))
        assert peak == 3  # reached, never exceeded
        assert lims[0].in_use() == 0
        assert sum(lim.acquired for lim in lims) == 24
    finally:
        for lim in lims:
            lim.close()


def test_rpm_window_delays_the_request_beyond_the_limit(tmp_path: Path) -> None:
    starts = slot_start_times(limiter(tmp_path / "l.sqlite", 10, rpm=4, window_s=0.6), 6)
    assert max(starts[:4]) < 0.3  # the first 4 go at once
    assert starts[4] >= 0.55  # the 5th waits until the first start leaves the window
    # In any window of 0.6 s, at most 4 starts.
    assert all(sum(1 for t in starts if s <= t < s + 0.59) <= 4 for s in starts)


def test_waiting_for_a_slot_never_blocks_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    holder, waiter = limiter(path, 1), limiter(path, 1)

    async def main() -> int:
        first = await holder.acquire()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        tick_task = asyncio.create_task(ticker())
        wait_task = asyncio.create_task(waiter.acquire())
        await asyncio.sleep(0.3)
        assert not wait_task.done()  # the only slot is taken
        await holder.release(first)
        slot = await asyncio.wait_for(wait_task, 2)
        await waiter.release(slot)
        tick_task.cancel()
        return ticks

    try:
        ticks = asyncio.run(main())
    finally:
        holder.close()
        waiter.close()
    assert ticks >= 15  # ~30 expected in 0.3 s; a blocked loop would give ~0


def test_a_cancelled_wait_leaves_nothing_behind_and_close_returns_held_slots(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    a, b = limiter(path, 1), limiter(path, 1)

    async def main() -> None:
        await a.acquire()  # held and never released: close() must give it back
        waiting = asyncio.create_task(b.acquire())
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(main())
    assert b.in_use() == 1
    a.close()
    assert b.in_use() == 0
    b.close()


HOLDER = textwrap.dedent("""
    import asyncio, sys, time
    from pathlib import Path
    from evalsweep.llm.shared_limit import SharedLimiter
    lim = SharedLimiter(Path(sys.argv[1]), "openai|default|m", 2)
    async def main():
        await lim.acquire(); await lim.acquire()
        print("held", flush=True)
        await asyncio.sleep(60)
    asyncio.run(main())
""")


def test_slots_of_a_sigkilled_job_are_freed_long_before_the_lease(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        lim = limiter(path, 2, lease_s=3600)

        async def acquire_within(timeout: float) -> int:
            return await asyncio.wait_for(lim.acquire(), timeout)

        with pytest.raises(TimeoutError):
            asyncio.run(acquire_within(0.3))  # both slots held by the live process
        os.kill(proc.pid, signal.SIGKILL)
        # Not waited for yet: the killed child is a zombie, which must count as dead too.
        t0 = time.perf_counter()
        slot = asyncio.run(acquire_within(5))
        assert time.perf_counter() - t0 < 3 and slot > 0
        assert lim.in_use() == 1
        lim.close()
    finally:
        proc.kill()
        proc.wait()


def test_reused_pids_and_expired_leases_are_reaped(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    lim = limiter(path, 2)
    now = time.time()
    with sqlite3.connect(path) as db:
        # Our own pid but another start time: a process that died and whose pid was reused.
        db.execute("INSERT INTO slots (key, host, pid, pid_start, acquired, expires) VALUES (?, ?, ?, ?, ?, ?)",
                   (lim.key, lim._host, os.getpid(), 1.0, now, now + 3600))
        # Another machine's slot (pids mean nothing here) whose lease ran out.
        db.execute("INSERT INTO slots (key, host, pid, pid_start, acquired, expires) VALUES (?, ?, ?, ?, ?, ?)",
                   (lim.key, "elsewhere", 1, 1.0, now - 100, now - 1))
    assert lim.in_use() == 2

    async def two() -> list[int]:
        return [await asyncio.wait_for(lim.acquire(), 3) for _ in range(2)]

    assert len(set(asyncio.run(two()))) == 2
    lim.close()


def test_unset_numbers_are_the_models_own_and_the_path_is_machine_local(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    model = ModelConfig(provider="openai", name="gpt-x", api_key_env="K", max_concurrency=7, rpm=90)
    monkeypatch.delenv("EVALSWEEP_LIMITS_PATH", raising=False)
    assert str(default_path()).startswith("/tmp/evalsweep-")
    monkeypatch.setenv("EVALSWEEP_LIMITS_PATH", str(tmp_path / "env.sqlite"))
    lim = open_shared_limiter(model, SharedLimitConfig(enabled=True))
    assert (lim.max_concurrency, lim.rpm, lim.path) == (7, 90, tmp_path / "env.sqlite")
    assert lim.lease_s > model.request_timeout_s  # a slot outlives any attempt that may hold it
    lim.close()
    lim = open_shared_limiter(model, SharedLimitConfig(enabled=True, max_concurrency=3, rpm=10,
                                                       path=str(tmp_path / "cfg.sqlite")))
    assert (lim.max_concurrency, lim.rpm, lim.path) == (3, 10, tmp_path / "cfg.sqlite")
    lim.close()
    other = model.model_copy(update={"base_url": "http://localhost:8000/v1"})
    assert limit_key(model) != limit_key(other)  # another endpoint is another provider limit


def test_an_unusable_limits_file_is_a_clear_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-db.sqlite"
    bad.write_text("this is not sqlite " * 100)
    proc = run_cli_quiet(["tracker=none", "run.progress=false", "dataset.max_samples=2", "shared_limit.enabled=true",
                    f"shared_limit.path={bad}", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert proc.returncode == 2, proc.stderr[-1500:]
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("evalsweep: error:")]
    assert line and "shared_limit" in line[0] and str(bad) in line[0] and "shared_limit.enabled=false" in line[0]


# --- end to end: 4 parallel jobs, one provider ------------------------------------------------

def _shared_sweep_against(url: str, tmp_path: Path) -> list[Path]:
    sweep = tmp_path / "sweep"
    proc = run_cli_quiet(["-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=4", "seed=1,2,3,4", *_against(url),
                    "shared_limit.enabled=true", "shared_limit.max_concurrency=8",
                    f"shared_limit.path={tmp_path / 'limits.sqlite'}", f"hydra.sweep.dir={sweep}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    dirs = job_dirs(sweep)
    assert len(dirs) == 4
    for d in dirs:
        s = json.loads((d / "summary.json").read_text())
        assert s["status"] == "complete" and s["n_scored"] == 60 and s["n_errors"] == 0
    return dirs


def _against(url: str) -> list[str]:
    # Every job talks to the test's one simulator, 50 workers each, nothing served from a cache.
    return [f"model.base_url={url}", "model.max_concurrency=50", "dataset.max_samples=60", "cache.enabled=false"]


def _request_phase(run_log: Path) -> tuple[datetime, datetime]:
    """When a job opened the shared limit and when it finished, from its run.log timestamps."""
    stamps = {}
    for line in run_log.read_text().splitlines():
        for mark in ("shared limit for", "mean score"):
            if mark in line:
                stamps[mark] = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
    return stamps["shared limit for"], stamps["mean score"]


def test_four_parallel_jobs_never_exceed_the_shared_limit(tmp_path: Path) -> None:
    server = SimulatorServer(SimulatorConfig(latency_ms=100))
    url = server.start()
    try:
        dirs = _shared_sweep_against(url, tmp_path)
        shared = server.stats()
        server.reset()
        # The contrast: the same job on its own per-job limit alone (4 of them would send 200 at once).
        proc = run_cli_quiet([*_against(url), f"hydra.run.dir={tmp_path / 'alone'}"], tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        alone = server.stats()
    finally:
        server.stop()
    assert shared.requests_total == 240 and shared.responses_ok == 240
    assert shared.max_in_flight <= 8
    assert shared.max_in_flight >= 4  # the pool is used, not just never reached
    assert alone.max_in_flight > 8  # what the simulator sees without the shared limit: the test can fail
    # The jobs sent side by side (their request phases overlap), so they really drew on one pool:
    # separate pools of 8 would have let 16 or more through.
    phases = sorted(_request_phase(d / "run.log") for d in dirs)
    overlapping = sum(1 for (_, end1), (start2, _) in zip(phases, phases[1:]) if start2 < end1)
    assert overlapping >= 2, phases


def test_only_requests_the_limit_held_back_count_as_waiting(tmp_path: Path) -> None:
    async def hold(lim: SharedLimiter, n: int) -> None:
        async def one() -> None:
            async with lim.slot():
                await asyncio.sleep(0.2)

        await asyncio.gather(*(one() for _ in range(n)))

    roomy = limiter(tmp_path / "a.sqlite", 50)
    asyncio.run(hold(roomy, 30))  # 30 at once under a limit of 50: queued at the gate, never held back
    assert (roomy.acquired, roomy.waited) == (30, 0)
    roomy.close()
    tight = limiter(tmp_path / "b.sqlite", 2)
    asyncio.run(hold(tight, 6))  # 6 under a limit of 2: the 4 that found it full waited
    assert (tight.acquired, tight.waited) == (6, 4) and tight.wait_s > 0.3
    tight.close()
