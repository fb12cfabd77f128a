"""evalsweep.open_model: a script's client with the job's cache, retries and limits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import evalsweep
from evalsweep.config.run import CacheConfig
from evalsweep.errors import AuthError
from evalsweep.simulator import SimulatorConfig, SimulatorServer

PROMPTS = [f"What is {i} + {i}?" for i in range(24)]


async def _script(url: str, cache: CacheConfig) -> tuple[list[str], dict]:
    async with evalsweep.open_model("sim_strong", base_url=url, max_concurrency=2, cache=cache) as model:
        replies = await model.batch(PROMPTS, progress=False)
        return [r.text for r in replies], model.stats()


def test_a_script_never_has_more_in_flight_than_max_concurrency_and_a_rerun_is_all_hits(tmp_path: Path) -> None:
    cache = CacheConfig(path=str(tmp_path / "cache.sqlite"))
    with SimulatorServer(SimulatorConfig(latency_ms=30)) as server:
        first, stats = asyncio.run(_script(server.url, cache))
        seen = server.stats()
        assert seen.requests_total == len(PROMPTS) and stats["requests_sent"] == len(PROMPTS)
        assert seen.max_in_flight == 2  # held by the service itself: batch() sends all at once
    # Another simulator on another port (as a script starting its own would get): all cache hits.
    with SimulatorServer(SimulatorConfig(latency_ms=30)) as again:
        second, stats = asyncio.run(_script(again.url, cache))
        assert again.stats().requests_total == 0
    assert second == first and stats["cache_hits"] == len(PROMPTS) and stats["requests_sent"] == 0


def test_open_model_starts_a_simulator_of_its_own_and_counts_cost(tmp_path: Path) -> None:
    async def ask() -> tuple[str, float]:
        async with evalsweep.open_model("sim", cache=CacheConfig(enabled=False),
                                        price={"input_per_mtok": 1.0, "output_per_mtok": 2.0}) as model:
            reply = await model.generate([{"role": "user", "content": "What is 3 + 4?"}])
            return reply.text, model.cost_usd

    text, cost = asyncio.run(ask())
    assert text and cost > 0


def test_open_model_without_a_key_stops_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")

    async def ask() -> None:
        async with evalsweep.open_model("gpt4") as model:
            await model.generate("hi")

    with pytest.raises(AuthError, match="OPENAI_API_KEY"):
        asyncio.run(ask())
