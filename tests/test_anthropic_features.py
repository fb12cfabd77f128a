"""Anthropic's thinking, effort, native structured output and prompt caching, checked on the wire:
the real anthropic SDK talks over HTTP to a recording proxy in front of the simulator, so each test
reads the request body the SDK sent and the usage the simulator answered with."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_KEY, compose_exp
from wire_proxy import recording_proxy

import evalsweep
from evalsweep.config.model import ModelConfig
from evalsweep.config.run import CacheConfig
from evalsweep.errors import ConfigError
from evalsweep.llm.service import ModelService
from evalsweep.llm.types import Message, build_request
from evalsweep.simulator import SimulatorServer
from evalsweep.structured.models import Answer

BASE = ["tracker=none", "run.progress=false"]
THINKING_WHY = ["+spec.justifications.thinking=thinking is what is measured",
                "+spec.justifications.reasoning_effort=the middle level of three"]


@pytest.fixture
def wire() -> Any:
    with SimulatorServer() as srv, recording_proxy(srv.url) as (url, seen):
        yield url, seen


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALSWEEP_CACHE_PATH", str(tmp_path / "cache.sqlite"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]


def _ask(model: ModelConfig, url: str, messages: list[Message], response_model: Any = None) -> Any:
    async def go() -> Any:
        service = ModelService(model, CacheConfig(enabled=False), url)
        try:
            request = build_request(model, messages, seed=1)
            return await (service.parse(request, response_model) if response_model else service.generate(request))
        finally:
            await service.aclose()

    return asyncio.run(go())


def _claude(**kw: Any) -> ModelConfig:
    return ModelConfig.model_validate({"provider": "anthropic", "name": "claude-sonnet-4-6",
                                       "api_key_env": "ANTHROPIC_API_KEY", **kw})


def test_the_shipped_thinking_config_sends_thinking_and_records_thinking_tokens(wire: Any, tmp_path: Path) -> None:
    url, seen = wire
    price = ["model.price.input_per_mtok=1000000", "model.price.output_per_mtok=2000000"]  # $1 / $2 a token
    evalsweep.run_job([*BASE, "model=claude_thinking", f"model.base_url={url}", "dataset.max_samples=4", *price,
                       *THINKING_WHY], out_dir=tmp_path / "job")
    body = seen.bodies[0]
    assert seen[0].path == "/v1/messages"
    assert body["thinking"] == {"type": "adaptive"} and body["output_config"] == {"effort": "medium"}
    assert body["model"] == "claude-sonnet-4-6" and body["max_tokens"] == 4096
    assert not {"temperature", "top_p", "tools"} & set(body)  # not taken by Claude with thinking
    rows = _rows(tmp_path / "job")
    assert len(rows) == 4
    for r in rows:
        u = r["usage"]
        assert 0 < u["reasoning_tokens"] < u["output_tokens"]  # thinking inside output, the answer on top
        assert r["cost_usd"] == pytest.approx(u["input_tokens"] + 2 * u["output_tokens"])  # thinking priced as output
        assert r["output"] and "step by step" not in r["output"]  # the thinking block is not the answer
    s = json.loads((tmp_path / "job" / "summary.json").read_text())
    assert s["usage"]["reasoning_tokens"] == sum(r["usage"]["reasoning_tokens"] for r in rows)


@pytest.mark.parametrize(("settings", "sent"), [
    ({"thinking": "adaptive", "reasoning_effort": "high"}, {"thinking": {"type": "adaptive"},
                                                            "output_config": {"effort": "high"}}),
    ({"thinking": "enabled", "thinking_budget": 1024, "temperature": 1.0},
     {"thinking": {"type": "enabled", "budget_tokens": 1024}}),
    ({"thinking": "disabled", "temperature": 0.3}, {"thinking": {"type": "disabled"}}),
    ({"reasoning_effort": "max"}, {"output_config": {"effort": "max"}}),
])
def test_thinking_and_effort_go_out_as_the_api_takes_them(wire: Any, settings: dict[str, Any],
                                                          sent: dict[str, Any]) -> None:
    url, seen = wire
    model = _claude(base_url=url, max_tokens=2048, **({"temperature": 1.0} | settings))
    assert _ask(model, url, [Message(role="user", content="What is 2 + 2?")]).text
    body = seen.bodies[-1]
    assert {k: body.get(k) for k in sent} == sent
    assert "thinking" in body or "thinking" not in sent


@pytest.mark.parametrize(("settings", "says"), [
    ({"thinking": "adaptive", "top_p": 0.9, "temperature": 1.0}, "does not take top_p"),
    ({"thinking": "adaptive", "temperature": 0.7}, "temperature 1 only"),
    ({"thinking": "enabled", "temperature": 1.0}, "needs model.thinking_budget"),
    ({"thinking": "enabled", "thinking_budget": 4096, "temperature": 1.0}, "below model.max_tokens"),
    ({"thinking": "adaptive", "temperature": 1.0, "structured_output": "tool"}, "cannot be combined with thinking"),
    ({"reasoning_effort": "minimal"}, "not one provider anthropic takes"),
])
def test_a_setting_claude_refuses_is_a_config_error_before_any_request(settings: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        _claude(max_tokens=2048, **settings)


def test_a_refused_setting_stops_the_job_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        compose_exp("model=claude_thinking", "model.top_p=0.9")
    line = str(err.value)
    assert "\n" not in line and "does not take top_p" in line and "set model.top_p=null" in line
    assert "ANTHROPIC_API_KEY" not in line and "claude-sonnet" not in line  # the section is not echoed


def test_thinking_is_anthropics_only() -> None:
    with pytest.raises(ValueError, match="provider openai does not take it"):
        ModelConfig(provider="openai", name="gpt-4o", api_key_env="OPENAI_API_KEY", thinking="adaptive")


@pytest.mark.parametrize(("mode", "wire_form"), [("native", "output_config"), ("tool", "tools")])
def test_a_claude_typed_answer_uses_output_config_format_or_the_forced_tool(wire: Any, mode: str,
                                                                            wire_form: str) -> None:
    url, seen = wire
    typed = _ask(_claude(base_url=url, structured_output=mode), url,
                 [Message(role="user", content="What is 3 + 4?")], Answer)
    assert typed.ok and typed.value.answer
    body = seen.bodies[-1]
    if wire_form == "output_config":
        fmt = body["output_config"]["format"]
        assert fmt["type"] == "json_schema" and set(fmt["schema"]["properties"]) == {"reasoning", "answer",
                                                                                       "confidence"}
        assert fmt["schema"]["additionalProperties"] is False and "tools" not in body
    else:
        assert body["tool_choice"] == {"type": "tool", "name": "Answer"} and "output_config" not in body


def test_a_typed_answer_with_thinking_goes_through_output_config(wire: Any) -> None:
    url, seen = wire
    model = _claude(base_url=url, thinking="enabled", thinking_budget=1024, max_tokens=2048, temperature=1.0)
    typed = _ask(model, url, [Message(role="user", content="What is 3 + 4?")], Answer)
    assert typed.ok and typed.response.usage.reasoning_tokens > 0
    body = seen.bodies[-1]
    assert "format" in body["output_config"] and body["thinking"]["type"] == "enabled" and "tools" not in body


def test_prompt_caching_marks_the_stable_prefix_and_prices_cache_tokens(wire: Any, tmp_path: Path) -> None:
    url, seen = wire
    # Prices far apart, so the summary's cost shows which rate each token was billed at.
    price = ["model.price.input_per_mtok=1000000", "model.price.output_per_mtok=2000000",
             "+model.price.cache_write_per_mtok=10000000", "+model.price.cache_read_per_mtok=100000"]
    out = tmp_path / "job"
    evalsweep.run_job([*BASE, "model=sim_strong", f"model.base_url={url}", "+model.prompt_cache=true",
                       "prompt=fewshot", "model.max_concurrency=1", "dataset.max_samples=5", *price], out_dir=out)
    first = seen.bodies[0]
    assert first["system"][-1]["cache_control"] == {"type": "ephemeral"}
    messages = first["messages"]
    assert len(messages) >= 3 and messages[-2]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in messages[-1]["content"][-1]  # the question itself changes every sample
    rows = _rows(out)
    write = [r["usage"].get("cache_write_tokens", 0) for r in rows]
    read = [r["usage"].get("cache_read_tokens", 0) for r in rows]
    assert write[0] > 0 and read[0] == 0  # the first request writes the prefix
    assert all(w == 0 for w in write[1:]) and all(r == write[0] for r in read[1:])  # the later ones read it
    s = json.loads((out / "summary.json").read_text())
    assert s["usage"]["cache_write_tokens"] == write[0] and s["usage"]["cache_read_tokens"] == sum(read)
    expected = sum(r["usage"]["input_tokens"] + 2 * r["usage"]["output_tokens"] for r in rows) \
        + 10 * sum(write) + 0.1 * sum(read)
    assert s["cost_usd"] == pytest.approx(expected)
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(expected)


def test_without_prompt_caching_nothing_is_marked_and_rows_have_no_cache_fields(wire: Any, tmp_path: Path) -> None:
    url, seen = wire
    evalsweep.run_job([*BASE, "model=sim_strong", f"model.base_url={url}", "prompt=fewshot", "dataset.max_samples=2"],
                      out_dir=tmp_path / "job")
    assert isinstance(seen.bodies[0]["system"], str) and "cache_control" not in json.dumps(seen.bodies[0])
    rows = _rows(tmp_path / "job")
    assert all(set(r["usage"]) == {"input_tokens", "output_tokens", "reasoning_tokens"} for r in rows)
    s = json.loads((tmp_path / "job" / "summary.json").read_text())
    assert "cache_write_tokens" not in s["usage"]


def test_cache_tokens_without_their_own_price_are_priced_as_input() -> None:
    from evalsweep.config.model import PriceConfig
    from evalsweep.llm.types import Usage

    usage = Usage(input_tokens=10, output_tokens=5, cache_write_tokens=100, cache_read_tokens=1000)
    assert PriceConfig(input_per_mtok=1e6, output_per_mtok=2e6).cost_of(usage) == pytest.approx(10 + 10 + 1100)
    own = PriceConfig(input_per_mtok=1e6, output_per_mtok=2e6, cache_write_per_mtok=1.25e6, cache_read_per_mtok=1e5)
    assert own.cost_of(usage) == pytest.approx(10 + 10 + 125 + 100)


def test_prompt_cache_is_anthropics_only() -> None:
    with pytest.raises(ValueError, match="provider openai caches long prompts on its own"):
        ModelConfig(provider="openai", name="sim", simulated=True, prompt_cache=True)
