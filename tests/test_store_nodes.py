"""Four processes on one Redis store, as four nodes of a cluster: they share the response cache
without losing an entry, hold one concurrency limit together (counted by the simulator they all
ask) and one budget (the total spend within one request's cost of the cap); a process killed with
SIGKILL while holding slots stalls the others for no longer than its lease."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import redis

from redis_server import redis_url  # noqa: F401 - the fixture
from evalsweep.simulator import SimulatorConfig, SimulatorServer
from evalsweep.store.redis_cache import PREFIX

ROOT = Path(__file__).resolve().parents[1]
NODE = ROOT / "tests" / "store_node.py"
NODES = 4


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("EVALSWEEP_STORE_URL", "EVALSWEEP_CACHE_PATH")}
    return {**env, "OPENAI_API_KEY": "", "WANDB_MODE": "disabled"}


def _nodes(args: list[dict]) -> list[dict]:
    """Run one store_node.py per args at once; each one's JSON line."""
    barrier = f"test-barrier-{time.monotonic_ns()}"
    args = [{**a, "barrier": barrier, "nodes": len(args)} for a in args]
    procs = [subprocess.Popen([sys.executable, str(NODE), json.dumps(a)], cwd=ROOT, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for a in args]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr[-2000:]
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def test_four_nodes_share_the_cache_without_loss_and_hold_one_limit(redis_url: str, tmp_path: Path) -> None:
    limit = 4
    common = [f"What is {i} + 100?" for i in range(10)]  # asked by every node: the same keys written at once
    own = [[f"What is {n} * {i}?" for i in range(30)] for n in range(NODES)]
    base = {"url": redis_url, "limit": limit, "sqlite_cache": str(tmp_path / "unused.sqlite")}
    with SimulatorServer(SimulatorConfig(latency_ms=40)) as sim:
        first = _nodes([{**base, "sim": sim.url, "prompts": common + own[n]} for n in range(NODES)])
        seen = sim.stats()
        # One limit over four processes of max_concurrency 8 each: at most 4 in flight at the simulator.
        assert seen.max_in_flight <= limit
        assert seen.max_in_flight == limit  # and reached: the nodes did run side by side
        distinct = len(common) + sum(len(p) for p in own)
        assert len(common) * 1 + sum(len(p) for p in own) <= seen.requests_total <= distinct + len(common) * 3
        client = redis.Redis.from_url(redis_url)
        assert len(list(client.scan_iter(match=PREFIX + "*", count=1000))) == distinct  # no entry lost
        assert not (tmp_path / "unused.sqlite").exists()  # the sqlite cache was never opened
        sim.reset()
        # Every node asks every prompt: each entry written by one node serves the others.
        everything = common + [p for ps in own for p in ps]
        again = _nodes([{**base, "sim": sim.url, "prompts": everything} for _ in range(NODES)])
        assert sim.stats().requests_total == 0
    assert all(r["stats"]["cache_hits"] == len(everything) and r["stats"]["requests_sent"] == 0 for r in again)
    print(f"limit {limit}: max in flight at the simulator {seen.max_in_flight} over "
          f"{sum(r['stats']['requests_sent'] for r in first)} requests from {NODES} processes")


def test_four_nodes_hold_one_budget_within_one_request_of_the_cap(redis_url: str, tmp_path: Path) -> None:
    prompts = [[f"What is {n} + {i}?" for i in range(60)] for n in range(NODES)]
    cap = 0.5
    base = {"url": redis_url, "limit": 16, "cap": cap, "key": "budget-test",
            "sqlite_cache": str(tmp_path / "unused.sqlite")}
    with SimulatorServer(SimulatorConfig(latency_ms=20)) as sim:
        out = _nodes([{**base, "sim": sim.url, "prompts": prompts[n]} for n in range(NODES)])
        sent = sim.stats().requests_total
    costs = [c for r in out for c in r["costs"]]
    total, one = sum(costs), max(costs)
    assert sent == len(costs) < NODES * 60  # the cap stopped them: not every prompt was asked
    assert all(r["stopped"] for r in out)  # every node was told the budget is spent
    assert cap - one <= total <= cap + one, (total, one)
    spent = float(redis.Redis.from_url(redis_url).hget("evalsweep:budget:budget-test:totals", "spent"))
    assert abs(spent - total) < 1e-9  # the store counted exactly what the nodes paid
    print(f"budget ${cap}: spent ${total:.4f} over {len(costs)} requests (one request: ${one:.4f}), "
          f"by node {[len(r['costs']) for r in out]}")


HOLDER = textwrap.dedent("""
    import asyncio, sys
    from evalsweep.store.redis_limit import RedisLimiter
    lim = RedisLimiter(sys.argv[1], "openai|default|m", 2, lease_s=float(sys.argv[2]))
    async def main():
        await lim.acquire(); await lim.acquire()
        print("held", flush=True)
        await asyncio.sleep(120)
    asyncio.run(main())
""")


def test_a_sigkilled_node_holds_its_slots_no_longer_than_its_lease(redis_url: str) -> None:
    import asyncio

    from evalsweep.store.redis_limit import RedisLimiter

    lease = 2.0
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, redis_url, str(lease)], env=_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        time.sleep(lease * 1.5)  # alive: it renews, so its slots outlast the lease
        other = RedisLimiter(redis_url, "openai|default|m", 2, lease_s=lease)
        assert other.in_use() == 2
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        t0 = time.monotonic()

        async def take() -> None:
            for _ in range(2):
                await asyncio.wait_for(other.acquire(), lease + 2)

        asyncio.run(take())
        waited = time.monotonic() - t0
        other.close()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert waited <= lease + 0.5  # its slots lapsed with their lease, not after request_timeout_s or never
    print(f"slots of a SIGKILLed node free after {waited:.2f}s (lease {lease}s)")
