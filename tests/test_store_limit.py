"""The limit held across nodes on the Redis store (RedisLimiter) and the budget's reservations:
leases a live process renews and a dead one lets lapse, limits adjustable at runtime, the rpm
window, and a job whose every request takes a slot there."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from conftest import slot_start_times, summary
from redis_server import redis_url  # noqa: F401 - the fixture
from evalsweep.simulator import SimulatorConfig, SimulatorServer
from evalsweep.store.budget_redis import RedisBudgetStore
from evalsweep.store.budget_sqlite import SqliteBudgetStore
from evalsweep.store.redis_limit import RedisLimiter

KEY = "openai|default|m"


def test_a_live_holder_keeps_its_slot_past_its_lease_and_close_hands_it_back(redis_url: str) -> None:
    holder, other = RedisLimiter(redis_url, KEY, 1, lease_s=1.0), RedisLimiter(redis_url, KEY, 1, lease_s=1.0)

    async def main() -> None:
        await holder.acquire()  # never released: a request that takes longer than the lease
        await asyncio.sleep(2.5)
        assert other.in_use() == 1  # renewed by the live process, not lapsed
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(other.acquire(), 0.3)

    try:
        asyncio.run(main())
        holder.close()
        assert other.in_use() == 0
    finally:
        holder.close()
        other.close()


def test_set_limits_applies_to_the_next_take(redis_url: str) -> None:
    lim = RedisLimiter(redis_url, KEY, 1)

    async def main() -> None:
        await lim.acquire()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(lim.acquire(), 0.2)
        lim.set_limits(2, None)  # an adaptive limit raising the ceiling
        await asyncio.wait_for(lim.acquire(), 1)
        lim.set_limits(1, None)  # ... and backing off after a 429: no new take while 2 are held
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(lim.acquire(), 0.2)
        assert lim.in_use() == 2

    try:
        asyncio.run(main())
        with pytest.raises(ValueError):
            lim.set_limits(0, None)
    finally:
        lim.close()


def test_the_rpm_window_holds_over_redis(redis_url: str) -> None:
    starts = slot_start_times(RedisLimiter(redis_url, KEY, 10, rpm=3, window_s=0.6), 5)
    assert max(starts[:3]) < 0.3 and starts[3] >= 0.55
    assert all(sum(1 for t in starts if s <= t < s + 0.59) <= 3 for s in starts)


def test_a_job_on_the_redis_store_holds_its_shared_limit(redis_url: str, tmp_path: Path, run_job_inproc) -> None:
    with SimulatorServer(SimulatorConfig(latency_ms=40)) as sim:
        run_job_inproc(["model=sim_weak", f"model.base_url={sim.url}", "dataset.max_samples=12",
                        "shared_limit.enabled=true", "shared_limit.max_concurrency=2", f"store.url={redis_url}",
                        "++spec.skip_validation=true"], tmp_path / "job")
        seen = sim.stats()
    assert seen.requests_total == 12 and seen.max_in_flight == 2  # model.max_concurrency is 32
    assert summary(tmp_path / "job")["requests_sent"] == 12


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_reservation_nobody_renews_lapses_with_its_lease(backend: str, tmp_path: Path,
                                                           request: pytest.FixtureRequest) -> None:
    store = (SqliteBudgetStore(tmp_path / "b.sqlite", "k", lease_s=0.5) if backend == "sqlite"
             else RedisBudgetStore(request.getfixturevalue("redis_url"), "k", lease_s=0.5))
    try:
        assert store.reserve("dead", 0.8, cap=1.0) == "ok"  # a process killed mid-request: never settled
        assert store.reserve("live", 0.5, cap=1.0) == "wait"  # the room is held ...
        time.sleep(0.7)
        assert store.reserve("live", 0.5, cap=1.0) == "ok"  # ... until the dead one's lease runs out
        assert store.settle("live", 0.4, "m") == pytest.approx(0.4)
        assert store.spent() == pytest.approx(0.4) and store.observed_max("m") == pytest.approx(0.4)
        assert store.reserve("next", 0.7, cap=1.0) == "spent"  # less than this request's cost is left
    finally:
        store.close()
