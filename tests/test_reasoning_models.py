"""Reasoning models: the token limit goes in max_completion_tokens, reasoning_effort is sent, and
temperature/top_p/stop (which such models refuse) are neither sent nor in the cache key. Checked
on the wire with a tiny local server that records each request body the real openai SDK sends. And a
sweep of a parameter a model is never sent (temperature over Claude) stops before any job."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli
from wire_proxy import Recorded, fixed_server

from evalsweep.cache.keys import cache_key, key_payload
from evalsweep.config.model import ModelConfig
from evalsweep.config.run import CacheConfig
from evalsweep.llm.service import ModelService
from evalsweep.llm.types import Message, build_request
from evalsweep.job.validation_blocking import generation_params

REPLY = {"id": "c1", "object": "chat.completion", "created": 0, "model": "o4-mini",
         "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "4"}}],
         "usage": {"prompt_tokens": 5, "completion_tokens": 40, "total_tokens": 45}}


@pytest.fixture
def recorder() -> Iterator[tuple[str, Recorded]]:
    with fixed_server(200, REPLY) as (url, seen):
        yield f"{url}/v1", seen


def _model(url: str, **kw: object) -> ModelConfig:
    return ModelConfig.model_validate({"provider": "openai", "name": "o4-mini", "base_url": url,
                                       "api_key_env": "EVALSWEEP_TEST_KEY", "rpm": 1000, **kw})


def _ask(model: ModelConfig) -> str:
    async def go() -> str:
        service = ModelService(model, CacheConfig(enabled=False), model.base_url)
        try:
            return (await service.generate(build_request(model, [Message(role="user", content="2+2?")], seed=1))).text
        finally:
            await service.aclose()

    return asyncio.run(go())


def test_a_reasoning_model_gets_max_completion_tokens_and_effort_and_no_sampling_params(
        recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    url, seen = recorder
    monkeypatch.setenv("EVALSWEEP_TEST_KEY", "test-key-not-secret")
    reasoning = _model(url, reasoning=True, token_limit_field="max_completion_tokens", max_tokens=4096,
                       reasoning_effort="low", temperature=0.7, top_p=0.9, stop=["\n"])
    assert _ask(reasoning) == "4"
    body = seen.bodies[-1]
    assert body["max_completion_tokens"] == 4096 and body["reasoning_effort"] == "low"
    assert not {"max_tokens", "temperature", "top_p", "stop"} & set(body)
    plain = _model(url, temperature=0.7, stop=["\n"])
    _ask(plain)
    body = seen.bodies[-1]
    assert body["max_tokens"] == 256 and body["temperature"] == 0.7 and body["stop"] == ["\n"]
    assert "reasoning_effort" not in body and "max_completion_tokens" not in body


def test_what_a_reasoning_model_is_not_sent_is_not_in_its_key_nor_asked_to_be_justified() -> None:
    ask = [Message(role="user", content="q")]
    a = _model(None, reasoning=True, temperature=0.2)
    b = _model(None, reasoning=True, temperature=0.9, top_p=0.5)
    ra, rb = build_request(a, ask, seed=1), build_request(b, ask, seed=1)
    assert cache_key(ra, simulated=False, reasoning=True) == cache_key(rb, simulated=False, reasoning=True)
    c = _model(None, reasoning=True, reasoning_effort="high")
    assert cache_key(build_request(c, ask, seed=1), simulated=False, reasoning=True) != \
        cache_key(ra, simulated=False, reasoning=True)
    # A parameter added after the key's first schema is in a key only when set: older keys stay.
    assert "reasoning_effort" not in key_payload(build_request(_model(None), ask, seed=1), simulated=False)
    assert set(generation_params(b)) == {"max_tokens"}
    assert set(generation_params(c)) == {"max_tokens", "reasoning_effort"}


def test_a_sweep_of_a_parameter_the_model_is_not_sent_stops_before_any_job(tmp_path: Path,
                                                                          cache_env: dict[str, str]) -> None:
    out = tmp_path / "sweep"
    r = run_cli(["-m", "model=claude", "model.temperature=0,0.7", "model.base_url=http://127.0.0.1:9",
                 "dataset.max_samples=2", "tracker=none", f"hydra.sweep.dir={out}"],
                env={**cache_env, "ANTHROPIC_API_KEY": "sk-ant-" + "x" * 8})
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "model.temperature is swept (0, 0.7), but claude-sonnet-4-5 (provider anthropic) is not sent " \
           "temperature" in lines[0]
    assert not out.exists() or not any(p.is_dir() for p in out.iterdir())  # no job ran
    ok = run_cli(["-m", "model=sim_strong", "model.temperature=0,0.7", "validate_only=true", "tracker=none",
                  f"hydra.sweep.dir={tmp_path / 'sim'}"], env=cache_env)  # the simulator reads temperature
    assert ok.returncode == 0, ok.stderr[-2000:]
