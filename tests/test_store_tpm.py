"""Tokens per minute held across jobs (shared_limit.tpm, else model.tpm): on the local sqlite file
by two limiters of one file, and on the Redis store by two limiters and by four processes as four
nodes; the tokens the limiter admitted in any window never exceed the limit. A window of under a
second stands in for the minute."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from redis_server import redis_url  # noqa: F401 - the fixture
from evalsweep.config.model import ModelConfig, SharedLimitConfig
from evalsweep.llm.shared_limit import SharedLimiter, shared_numbers
from evalsweep.simulator import SimulatorConfig, SimulatorServer
from evalsweep.store.redis_limit import RedisLimiter
from test_store_nodes import _nodes

KEY = "openai|default|m"
WINDOW = 0.5
TPM = 100
TOKENS = 30  # 3 requests fit a window, the 4th waits for the first to leave it

Limiter = SharedLimiter | RedisLimiter


async def _take_for(lims: list[Limiter], seconds: float) -> list[tuple[float, float]]:
    """Two workers per limiter (as two jobs' workers) take slots of TOKENS each until `seconds`
    have passed; (time, tokens) of every take."""
    taken: list[tuple[float, float]] = []
    t0 = time.perf_counter()

    async def worker(lim: Limiter) -> None:
        while (left := seconds - (time.perf_counter() - t0)) > 0:
            try:
                slot = await asyncio.wait_for(lim.acquire(TOKENS), left)
            except TimeoutError:
                return
            taken.append((time.perf_counter() - t0, TOKENS))
            await lim.release(slot)

    await asyncio.gather(*(worker(lim) for lim in lims for _ in range(2)))
    return taken


def _most_in_a_window(taken: list[tuple[float, float]], window: float) -> float:
    # A little under the window: the limiter's clock (sqlite's time.time, Redis's TIME) is not ours.
    return max(sum(n for t, n in taken if s <= t < s + window * 0.95) for s, _ in taken)


def _check(make: Callable[[], Limiter]) -> list[tuple[float, float]]:
    lims = [make(), make()]
    try:
        taken = asyncio.run(_take_for(lims, 1.3))
    finally:
        for lim in lims:
            lim.close()
    assert _most_in_a_window(taken, WINDOW) <= TPM, taken
    assert len(taken) >= 6  # the limit was reached and let more in as the window moved: ~3 a window
    assert len(taken) <= 3 * 3 + 3, taken
    return taken


def test_two_limiters_on_one_sqlite_file_hold_one_tokens_per_minute(tmp_path: Path) -> None:
    path = tmp_path / "limits.sqlite"
    taken = _check(lambda: SharedLimiter(path, KEY, 8, tpm=TPM, window_s=WINDOW))
    print(f"sqlite tpm {TPM}/{WINDOW}s: {len(taken)} takes of {TOKENS} tokens in 1.3 s")


def test_two_limiters_on_one_redis_hold_one_tokens_per_minute(redis_url: str) -> None:
    key = f"{KEY}|tpm-{time.monotonic_ns()}"
    _check(lambda: RedisLimiter(redis_url, key, 8, tpm=TPM, window_s=WINDOW))


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_request_above_the_whole_tpm_is_clipped_to_it_and_set_limits_keeps_tpm(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if backend == "sqlite":
        lim: Limiter = SharedLimiter(tmp_path / "limits.sqlite", KEY, 8, tpm=TPM, window_s=WINDOW)
    else:
        url = request.getfixturevalue("redis_url")
        lim = RedisLimiter(url, f"{KEY}|clip-{time.monotonic_ns()}", 8, tpm=TPM, window_s=WINDOW)

    async def main() -> list[float]:
        t0 = time.perf_counter()
        got = []
        for _ in range(3):  # 10x the minute's tokens each: one a window, never a wait for ever
            async with lim.slot(10 * TPM):
                got.append(time.perf_counter() - t0)
        lim.set_limits(4, None)  # what the adaptive limits call: the tokens limit stays
        async with lim.slot(TOKENS):
            got.append(time.perf_counter() - t0)
        return got

    try:
        got = asyncio.run(asyncio.wait_for(main(), 5))
    finally:
        lim.close()
    assert got[0] < 0.2 and got[1] >= WINDOW * 0.9 and got[2] >= 2 * WINDOW * 0.9
    assert got[3] - got[2] >= WINDOW * 0.9  # still tpm-bound after set_limits(4, None)
    assert lim.tpm == TPM and lim.max_concurrency == 4


def test_shared_tpm_comes_from_shared_limit_else_the_model() -> None:
    model = ModelConfig.model_validate({"name": "m", "provider": "openai", "api_key_env": "OPENAI_API_KEY",
                                        "tpm": 5000, "rpm": 60})
    assert shared_numbers(model, SharedLimitConfig(enabled=True))[1:] == (60, 5000)
    assert shared_numbers(model, SharedLimitConfig(enabled=True, tpm=900))[2] == 900


def test_four_nodes_on_one_redis_hold_one_tokens_per_minute(redis_url: str, tmp_path: Path) -> None:
    # A minute's window, a few seconds' run: whatever the nodes sent must fit one tpm, and fill it.
    tpm = 400  # ~6 requests of ~60 tokens (prompt ~12 + max_tokens 48) out of 4 x 10 asked
    prompts = [[f"What is {n} + {i}?" for i in range(10)] for n in range(4)]
    base = {"url": redis_url, "limit": 8, "tpm": tpm, "deadline_s": 5.0, "max_tokens": 48,
            "sqlite_cache": str(tmp_path / "unused.sqlite")}
    with SimulatorServer(SimulatorConfig(latency_ms=20)) as sim:
        out = _nodes([{**base, "sim": sim.url, "prompts": prompts[n]} for n in range(4)])
        sent = sim.stats().requests_total
    client = redis.Redis.from_url(redis_url)
    starts = [m.decode() for k in client.scan_iter(match="evalsweep:limit:*:starts") for m in client.zrange(k, 0, -1)]
    reserved = [int(m.rsplit(":", 1)[1]) for m in starts]
    answered = sum(r["stats"]["requests_sent"] for r in out)
    assert sent == answered == len(reserved)  # every request the simulator saw took its tokens here
    assert sum(reserved) <= tpm and sum(reserved) > tpm - max(reserved)  # within the limit, and at it
    assert all(r["timed_out"] for r in out) and answered < 40  # the rest waited for the window
    print(f"tpm {tpm} over 4 processes: {answered} requests, {sum(reserved)} tokens reserved in one window "
          f"({json.dumps([r['stats']['requests_sent'] for r in out])} per node)")


def test_a_job_reserves_each_requests_tokens_in_the_shared_limit(tmp_path: Path, run_job_inproc) -> None:
    path = tmp_path / "limits.sqlite"
    res = run_job_inproc(["dataset.max_samples=6", "model.max_tokens=40", "shared_limit.enabled=true",
                          "shared_limit.tpm=100000", "++spec.skip_validation=true"], tmp_path / "job",
                         env={"EVALSWEEP_LIMITS_PATH": str(path)})
    assert not isinstance(res, Exception), res
    with sqlite3.connect(path) as conn:
        tokens = [row[0] for row in conn.execute("SELECT tokens FROM starts")]
    # One start per request, each its prompt (~4 characters a token) and its max_tokens.
    assert len(tokens) == 6 and all(40 < t < 200 for t in tokens), tokens


def test_a_limits_file_from_before_shared_tpm_gains_its_tokens_column(tmp_path: Path) -> None:
    path = tmp_path / "limits.sqlite"
    with sqlite3.connect(path) as conn:  # the starts table as files made before tpm was shared hold it
        conn.execute("CREATE TABLE starts (key TEXT NOT NULL, t REAL NOT NULL)")
        conn.execute("INSERT INTO starts VALUES (?, ?)", (KEY, time.time()))
    lim = SharedLimiter(path, KEY, 4, tpm=TPM, window_s=WINDOW)
    try:
        asyncio.run(asyncio.wait_for(lim.acquire(TOKENS), 2))
    finally:
        lim.close()
    with sqlite3.connect(path) as conn:
        assert sorted(r[0] for r in conn.execute("SELECT tokens FROM starts")) == [0, TOKENS]
