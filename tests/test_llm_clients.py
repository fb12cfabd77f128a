"""Provider clients, retries, timeouts and rate limits: ModelService over real HTTP (the real
openai and anthropic SDKs) against the simulator, whose own counters say what it served."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest

from evalsweep.config.model import ModelConfig, RetryConfig
from evalsweep.config.run import CacheConfig
from evalsweep.errors import AuthError
import evalsweep.llm.openai_client  # noqa: F401  (loaded now: a test's timed first attempt is its request, not the SDK's ~1 s import)
from evalsweep.llm.errors import PermanentError, ProviderError, TransientError, classify_status, retry_after_seconds
from evalsweep.llm.retry import _WaitWithRetryAfter
from evalsweep.llm.service import ModelService
from evalsweep.llm.types import GenerateRequest, Message

from conftest import cause_counts, sim_server

NO_CACHE = CacheConfig(enabled=False)
PROVIDERS = [("openai", "sim"), ("anthropic", "sim-strong")]


def model_cfg(provider: str = "openai", name: str = "sim", **kw: Any) -> ModelConfig:
    retry = {"max_attempts": 6, "max_wait_s": 30, "initial_wait_s": 0.01, "max_backoff_s": 0.05,
             **kw.pop("retry", {})}
    return ModelConfig(provider=provider, name=name, simulated=True, temperature=0.7, max_tokens=64,
                       retry=RetryConfig(**retry), **kw)


def request(cfg: ModelConfig, question: str = "What is 2 + 3?", seed: int = 1) -> GenerateRequest:
    return GenerateRequest(provider=cfg.provider, model=cfg.name, messages=[
        Message(role="system", content="Reply with only the final answer."), Message(role="user", content=question)],
        temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=seed)


async def ask_all(svc: ModelService, reqs: list[GenerateRequest]) -> list[Any]:
    try:
        return await asyncio.gather(*(svc.generate(r) for r in reqs), return_exceptions=True)
    finally:
        await svc.aclose()


@pytest.mark.parametrize(("provider", "name"), PROVIDERS)
def test_mixed_transient_faults_are_retried_and_counted_exactly(provider: str, name: str) -> None:
    # 30% of responses fail, of every transient kind; retry-after kept short for the test.
    faults = dict(rate_429=0.1, rate_500=0.05, rate_503=0.05, rate_529=0.05, rate_drop=0.05, retry_after_s=0.01,
                  fault_seed=7)
    with sim_server(**faults) as srv:
        cfg = model_cfg(provider, name, retry={"max_attempts": 12})
        svc = ModelService(cfg, NO_CACHE, srv.url)
        out = asyncio.run(ask_all(svc, [request(cfg, f"What is {i} + 7?", seed=i) for i in range(60)]))
        sim = srv.stats()
    assert [o for o in out if isinstance(o, BaseException)] == []
    stats = svc.stats()
    assert sim.responses_ok == 60
    assert sum(sim.faults.values()) >= 8, "the fault mix should have produced faults"
    assert len({k for k, v in sim.faults.items() if v}) >= 3, "faults of several kinds"
    # Every fault the simulator served was seen, retried and counted under its own cause.
    assert stats.retries_by_cause == cause_counts(sim.faults)
    assert stats.requests_sent == sim.requests_total == 60 + stats.retries
    assert sum(o.attempts for o in out) == sim.requests_total


@pytest.mark.parametrize(("provider", "name"), PROVIDERS)
def test_every_attempt_failing_raises_the_last_error_after_max_attempts(provider: str, name: str) -> None:
    with sim_server(poison_substring="POISON") as srv:
        cfg = model_cfg(provider, name, retry={"max_attempts": 3})
        svc = ModelService(cfg, NO_CACHE, srv.url)
        bad, good = asyncio.run(ask_all(svc, [request(cfg, "What is POISON + 1?"), request(cfg)]))
        sim = srv.stats()
    assert isinstance(bad, TransientError) and bad.status == 500 and bad.attempts == 3  # type: ignore[attr-defined]
    assert good.text and good.attempts == 1
    assert sim.faults["500"] == 3 and sim.requests_total == 4
    assert svc.stats().retries_by_cause == {"500": 2}


@pytest.mark.parametrize(("provider", "name"), PROVIDERS)
def test_400_is_recorded_not_retried(provider: str, name: str) -> None:
    with sim_server(max_prompt_chars=100) as srv:
        cfg = model_cfg(provider, name)
        svc = ModelService(cfg, NO_CACHE, srv.url)
        (err,) = asyncio.run(ask_all(svc, [request(cfg, "What is 1 + 1? " + "x" * 200)]))
        sim = srv.stats()
    assert isinstance(err, PermanentError) and err.status == 400
    assert "too long" in str(err)
    assert sim.requests_total == 1 and svc.stats().retries == 0


@pytest.mark.parametrize(("provider", "name"), PROVIDERS)
def test_rejected_key_raises_auth_error_naming_the_variable(provider: str, name: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_KEY", "not-the-key")
    with sim_server(require_api_key="the-key") as srv:
        cfg = model_cfg(provider, name, api_key_env="SIM_KEY")
        svc = ModelService(cfg, NO_CACHE, srv.url)
        (err,) = asyncio.run(ask_all(svc, [request(cfg)]))
        sim = srv.stats()
    assert isinstance(err, AuthError) and not isinstance(err, ProviderError)
    assert "SIM_KEY" in str(err) and "401" in str(err)
    assert "not-the-key" not in str(err)  # never print a key
    assert sim.requests_total == 1, "a 401 is never retried"


def test_right_key_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_KEY", "the-key")
    with sim_server(require_api_key="the-key") as srv:
        cfg = model_cfg(api_key_env="SIM_KEY")
        (resp,) = asyncio.run(ask_all(ModelService(cfg, NO_CACHE, srv.url), [request(cfg)]))
    assert resp.text


@pytest.mark.parametrize(("provider", "name"), PROVIDERS)
def test_retry_after_is_waited_at_least(provider: str, name: str) -> None:
    # Our own backoff would wait ~0.01 s: any longer wait comes from the server's retry-after.
    with sim_server(rate_429=1.0, retry_after_s=1.0) as srv:
        cfg = model_cfg(provider, name, retry={"max_attempts": 2})
        svc = ModelService(cfg, NO_CACHE, srv.url)
        t0 = time.perf_counter()
        (err,) = asyncio.run(ask_all(svc, [request(cfg)]))
        elapsed = time.perf_counter() - t0
        assert srv.stats().faults["429"] == 2
    assert isinstance(err, TransientError) and err.status == 429 and err.retry_after == pytest.approx(1.0)
    assert elapsed >= 1.0
    assert svc.stats().retries_by_cause == {"429": 1}


def test_whole_attempt_timeout_is_transient_and_retried() -> None:
    with sim_server(latency_ms=400) as srv:
        cfg = model_cfg(request_timeout_s=0.1, retry={"max_attempts": 2})
        svc = ModelService(cfg, NO_CACHE, srv.url)
        t0 = time.perf_counter()
        (err,) = asyncio.run(ask_all(svc, [request(cfg)]))
        elapsed = time.perf_counter() - t0
    assert isinstance(err, TransientError) and err.cause == "timeout"
    assert svc.stats().retries_by_cause == {"timeout": 1}
    assert elapsed < 0.39 * 2, "each attempt was cut at the timeout, not at the server's latency"


def test_max_wait_bounds_the_retries_of_one_request() -> None:
    with sim_server(rate_500=1.0) as srv:
        cfg = model_cfg(retry={"max_attempts": 100, "max_wait_s": 0.4, "initial_wait_s": 0.05,
                               "max_backoff_s": 0.1})
        svc = ModelService(cfg, NO_CACHE, srv.url)
        t0 = time.perf_counter()
        (err,) = asyncio.run(ask_all(svc, [request(cfg)]))
        elapsed = time.perf_counter() - t0
        total = srv.stats().requests_total
    assert isinstance(err, TransientError) and err.status == 500
    assert elapsed < 1.5 and 2 <= total < 100


def test_requests_per_minute_limit_spreads_requests() -> None:
    with sim_server() as srv:
        cfg = model_cfg(rpm=600)  # 10 a second, at most 10 at once
        svc = ModelService(cfg, NO_CACHE, srv.url)
        t0 = time.perf_counter()
        out = asyncio.run(ask_all(svc, [request(cfg, seed=i) for i in range(20)]))
        elapsed = time.perf_counter() - t0
        assert srv.stats().requests_total == 20
    assert all(not isinstance(o, BaseException) for o in out)
    assert elapsed >= 0.9


def test_tokens_per_minute_smaller_than_one_request_still_runs() -> None:
    # aiolimiter refuses to acquire more than its capacity: the estimate is capped at it.
    with sim_server() as srv:
        cfg = model_cfg(tpm=50)
        (resp,) = asyncio.run(ask_all(ModelService(cfg, NO_CACHE, srv.url), [request(cfg)]))
    assert resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0


# --- classification and waits, one function at a time -----------------------------------------


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_transient_statuses(status: int) -> None:
    err = classify_status(status, "busy", {"retry-after": "3"}, "OPENAI_API_KEY", "OpenAI")
    assert isinstance(err, TransientError) and err.cause == str(status) and err.retry_after == 3.0


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_permanent_statuses(status: int) -> None:
    assert isinstance(classify_status(status, "nope", {}, "OPENAI_API_KEY", "OpenAI"), PermanentError)


def test_403_about_the_key_is_an_auth_error() -> None:
    err = classify_status(403, "Invalid API key provided", {}, "ANTHROPIC_API_KEY", "Anthropic")
    assert isinstance(err, AuthError) and "ANTHROPIC_API_KEY" in str(err)


def test_retry_after_headers() -> None:
    from email.utils import formatdate

    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert 25 < retry_after_seconds({"retry-after": formatdate(time.time() + 30, usegmt=True)}) <= 30  # type: ignore[operator]
    assert retry_after_seconds({"retry-after": "later"}) is None
    assert retry_after_seconds({}) is None


class _State:
    """Just what the wait function reads from tenacity's RetryCallState."""

    def __init__(self, attempt: int, exc: BaseException) -> None:
        self.attempt_number = attempt
        fut: asyncio.Future[None] = asyncio.Future(loop=asyncio.new_event_loop())
        fut.set_exception(exc)
        self.outcome = fut


def test_backoff_grows_with_jitter_and_respects_retry_after() -> None:
    wait = _WaitWithRetryAfter(RetryConfig(initial_wait_s=1.0, max_backoff_s=8.0), rng=random.Random(0))
    plain = TransientError("x", status=500, cause="500")
    for attempt, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        waits = [wait(_State(attempt, plain)) for _ in range(50)]  # type: ignore[arg-type]
        assert all(cap / 2 <= w <= cap for w in waits) and len(set(waits)) > 1
    told = TransientError("x", status=429, cause="429", retry_after=5.0)
    waits = [wait(_State(1, told)) for _ in range(50)]  # type: ignore[arg-type]
    assert all(5.0 <= w <= 6.0 for w in waits)


def test_every_client_of_a_process_shares_one_tls_context_that_verifies() -> None:
    """Built once, not per client (each build loads the CA store), and as strict as httpx2's own."""
    import ssl

    import anthropic
    import openai

    from evalsweep.llm.http import capped_http_client

    clients = [capped_http_client(openai.DefaultAsyncHttpxClient, 1024, 5.0),
               capped_http_client(anthropic.DefaultAsyncHttpxClient, 1024, 5.0)]
    contexts = {id(c._transport._pool._ssl_context) for c in clients}
    assert len(contexts) == 1
    ctx = clients[0]._transport._pool._ssl_context
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] > 0  # the CA store is loaded
