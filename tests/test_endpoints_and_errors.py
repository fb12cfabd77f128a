"""model.extra_body and model.extra_headers on the wire of each provider, model.base_url with or
without /v1, and error bodies read for a rejected key (naming the server that refused it) or a
request refused as invalid under a 500. The real SDKs talk over HTTP to the simulator (through a
recording proxy) or to a loopback server that answers with one error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import compose_exp
from wire_proxy import fixed_server, recording_proxy

from evalsweep.cache.keys import cache_key
from evalsweep.config.model import ModelConfig, RetryConfig
from evalsweep.config.run import CacheConfig
from evalsweep.errors import AuthError, ConfigError
from evalsweep.llm.endpoints import anthropic_base_url, openai_base_url, server_name
from evalsweep.llm.errors import PermanentError
from evalsweep.llm.service import ModelService, key_extra
from evalsweep.llm.types import Message, build_request
from evalsweep.simulator import SimulatorServer

NAMES = {"openai": "sim", "anthropic": "sim-strong", "gemini": "sim-gemini"}
PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages",
         "gemini": "/v1beta/models/sim-gemini:generateContent"}
ASK = [Message(role="system", content="s"), Message(role="user", content="What is 2 + 2?")]


def _ask(model: ModelConfig, url: str) -> Any:
    async def go() -> Any:
        service = ModelService(model, CacheConfig(enabled=False), url)
        try:
            return await service.generate(build_request(model, ASK, seed=1))
        finally:
            await service.aclose()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def sim() -> Any:
    with SimulatorServer() as srv:
        yield srv


@pytest.mark.parametrize("provider", sorted(NAMES))
def test_extra_body_and_headers_reach_the_wire(sim: SimulatorServer, provider: str) -> None:
    with recording_proxy(sim.url) as (url, seen):
        model = ModelConfig(provider=provider, name=NAMES[provider], simulated=True, base_url=url,
                            extra_body={"metadata_tag": {"lab": "a"}}, extra_headers={"X-Route": "pool-2"})
        assert _ask(model, url).text
    (request,) = seen
    assert request.path == PATHS[provider]
    assert request.body["metadata_tag"] == {"lab": "a"}  # merged into the body as it is
    assert request.headers["x-route"] == "pool-2"


def test_extra_body_and_headers_are_in_the_key_only_when_set() -> None:
    def key(**kw: Any) -> str:
        m = ModelConfig(provider="openai", name="gpt-4o", api_key_env="OPENAI_API_KEY", **kw)
        return cache_key(build_request(m, ASK, seed=1), key_extra(m), simulated=False)

    plain = key()
    assert key(extra_body={}, extra_headers={}) == plain  # an empty mapping is unset
    assert len({plain, key(extra_body={"guided_choice": ["a", "b"]}), key(extra_headers={"X-Route": "a"}),
                key(extra_headers={"X-Route": "b"})}) == 4


# Each shipped config's key for one request, as it was before extra_body, thinking and prompt
# caching existed: new settings at their defaults must not move a single entry.
SHIPPED_KEYS = {
    "sim": "c70c8de2c2b28f563381341544337b3181b47dd1b3a57c816539971556944422",
    "sim_strong": "0c758c3a9534eb2c1ba74eb5ec0f74fd56d27a4c6e2054f5b719f42c4aa50327",
    "claude": "58c535f25b3cb79d48d5a34a7ce0e224cdfaef627b6edfc0e1fbbef74c64f459",
    "o4_mini": "05153b4bdcda1a6fc6c1d727950d4469b4b00ffbebbf17a5d5238bd977fcc9ac",
    "gemini": "da30e3fd34186003afa79e5313263071a93571705e5a94bd0238096a7fab8c1e",
    "sim_gemini": "dd91e56118bf83393e4eddebbdb9612bcc8a8a0f99d2d0e22e772dceaded3158",
}


@pytest.mark.parametrize("option", sorted(SHIPPED_KEYS))
def test_the_shipped_configs_keep_their_cache_keys(option: str) -> None:
    m = compose_exp("tracker=none", f"model={option}").model
    request = build_request(m, [Message(role="system", content="s"), Message(role="user", content="q")], seed=3,
                            repeat=1)
    assert cache_key(request, key_extra(m), simulated=m.simulated, reasoning=m.reasoning) == SHIPPED_KEYS[option]


@pytest.mark.parametrize("header", ["Authorization", "x-api-key", "api-key", "X-Auth-Token", "my-secret",
                                    "x-goog-api-key"])
def test_a_header_that_carries_a_secret_is_refused_pointing_at_api_key_env(header: str) -> None:
    with pytest.raises(ConfigError) as err:
        compose_exp("model=gpt4", f"model.extra_headers={{{header}: Bearer-hunter2-value}}")
    line = str(err.value)
    assert f"model.extra_headers.{header} looks like it carries a secret" in line and "model.api_key_env" in line
    assert "hunter2" not in line and "\n" not in line


def test_extra_body_may_not_set_what_evalsweep_sends() -> None:
    with pytest.raises(ConfigError, match="model.extra_body.temperature is sent by evalsweep itself: set it "
                                          "through model.temperature"):
        compose_exp("model=gpt4", "model.extra_body={temperature: 0}")
    ok = compose_exp("model=gpt4", "model.extra_body={guided_choice: [yes, no]}", "model.extra_headers={X-Title: lab}")
    assert ok.model.extra_body == {"guided_choice": ["yes", "no"]} and ok.model.extra_headers == {"X-Title": "lab"}


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_base_url_works_with_or_without_v1(sim: SimulatorServer, provider: str, suffix: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_KEY", "not-a-real-key")
    with recording_proxy(sim.url) as (url, seen):
        # A real (not simulated) model at a server of its own, as a vLLM or a proxy would be.
        model = ModelConfig(provider=provider, name=NAMES[provider], base_url=url + suffix, api_key_env="LAB_KEY")
        assert _ask(model, model.base_url).text
    assert [s.path for s in seen] == [PATHS[provider]]


def test_a_base_url_with_another_path_is_kept() -> None:
    assert openai_base_url("http://h:4000/api/v1/") == "http://h:4000/api/v1"
    assert openai_base_url("https://openrouter.ai/api/v1") == "https://openrouter.ai/api/v1"
    assert anthropic_base_url("http://h:4000/anthropic/v1") == "http://h:4000/anthropic"
    assert openai_base_url(None) is None and server_name(None, "OpenAI") == "OpenAI"


KEY_BODIES = [
    ("openai", 400, {"error": {"message": "Invalid API key provided.", "type": "invalid_request_error"}}),
    ("openai", 500, {"error": {"message": "invalid api key", "type": "server_error", "code": 500}}),
    ("anthropic", 403, {"type": "error", "error": {"type": "permission_error", "message": "invalid x-api-key"}}),
    ("gemini", 400, {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                               "status": "INVALID_ARGUMENT"}}),
]


@pytest.mark.parametrize(("provider", "status", "body"), KEY_BODIES, ids=[f"{p}-{s}" for p, s, _ in KEY_BODIES])
def test_a_rejected_key_is_read_from_the_body_and_names_the_server(provider: str, status: int, body: dict,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_KEY", "wrong-key-value")
    with fixed_server(status, body) as (url, seen):
        model = ModelConfig(provider=provider, name="m", base_url=url, api_key_env="LAB_KEY",
                            retry=RetryConfig(max_attempts=6, initial_wait_s=0.01, max_backoff_s=0.02))
        with pytest.raises(AuthError) as err:
            _ask(model, url)
    port = url.rsplit(":", 1)[1]
    line = str(err.value)
    assert f"the server at 127.0.0.1:{port} rejected the key in LAB_KEY (HTTP {status})" in line
    assert "wrong-key-value" not in line and len(seen) == 1  # stopped at once, never retried


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_500_that_says_invalid_request_is_the_samples_error_after_one_attempt(provider: str,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_KEY", "k")
    body = {"error": {"code": 500, "message": "Invalid request: 'messages' must be a list", "type": "server_error"}}
    with fixed_server(500, body) as (url, seen):
        model = ModelConfig(provider=provider, name="m", base_url=url, api_key_env="LAB_KEY",
                            retry=RetryConfig(max_attempts=6, initial_wait_s=0.01, max_backoff_s=0.02))
        with pytest.raises(PermanentError) as err:
            _ask(model, url)
    assert err.value.status == 500 and len(seen) == 1


def test_a_plain_500_is_still_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_KEY", "k")
    body = {"error": {"message": "The server had an error while processing your request.", "type": "server_error"}}
    with fixed_server(500, body) as (url, seen):
        model = ModelConfig(provider="openai", name="m", base_url=url, api_key_env="LAB_KEY",
                            retry=RetryConfig(max_attempts=3, initial_wait_s=0.01, max_backoff_s=0.02))
        with pytest.raises(Exception) as err:
            _ask(model, url)
    assert not isinstance(err.value, (PermanentError, AuthError)) and len(seen) == 3
