"""Adaptive limits (model.adaptive_limits): a job that is not told the server's rate limit finds it
from the rate-limit headers and 429s. Jobs run in-process over real HTTP (the real SDKs) against a
simulator with a server-side limit, whose counters say what it admitted in each window and how
many requests it answered 429; the header dialects and the controller are also tested on their own."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from conftest import job_args, summary, write_dataset
from evalsweep.llm.adaptive import PROBE, START_SHARE, AdaptiveLimits
from evalsweep.llm.errors import TransientError
from evalsweep.llm.ratelimit_anthropic import until_s
from evalsweep.llm.ratelimit_headers import read_rate_limits
from evalsweep.llm.ratelimit_info import LimitState, RateLimitInfo
from evalsweep.llm.ratelimit_openai import duration_s
from evalsweep.llm.shared_limit import SharedLimiter
from evalsweep.simulator import FaultConfig, SimStats, SimulatorConfig, SimulatorServer
from evalsweep.simulator.ratelimit import RateLimitConfig, WindowLimit, go_duration

LIMIT, WINDOW_S = 40, 1.0


# --- the header dialects ---------------------------------------------------------------------------


def test_openai_durations_and_headers() -> None:
    assert duration_s("1s") == 1.0 and duration_s("20ms") == 0.02 and duration_s("6m0s") == 360.0
    assert duration_s("1h2m3.5s") == 3723.5 and duration_s("0.5") == 0.5
    assert duration_s("soon") is None and duration_s("5s later") is None
    info = read_rate_limits(httpx.Headers({
        "X-RateLimit-Limit-Requests": "500", "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "120ms", "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "29000", "x-ratelimit-reset-tokens": "2s"}))
    assert info == RateLimitInfo(requests=LimitState(limit=500, remaining=499, reset_s=0.12),
                                 tokens=LimitState(limit=30000, remaining=29000, reset_s=2.0))
    assert read_rate_limits(httpx.Headers({"content-type": "application/json"})) is None
    # What the simulator writes reads back as the same number of seconds, never earlier.
    for s in (0.0004, 0.25, 1.0, 59.9991, 61.5, 3725.0):
        back = duration_s(go_duration(s))
        assert back is not None and s <= back <= s + 0.001


def test_anthropic_headers_take_the_tighter_token_budget() -> None:
    now = time.time()
    assert until_s("2026-12-01T18:00:05Z", now=1_796_148_000.0) == 5.0  # 18:00:00 UTC that day
    assert until_s("not a time") is None
    reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 30))
    info = read_rate_limits(httpx.Headers({
        "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": reset,
        "anthropic-ratelimit-input-tokens-limit": "1000", "anthropic-ratelimit-input-tokens-remaining": "900",
        "anthropic-ratelimit-output-tokens-limit": "100", "anthropic-ratelimit-output-tokens-remaining": "10"}))
    assert info is not None and info.requests is not None and info.tokens is not None
    assert info.requests.remaining == 0 and 28 < (info.requests.reset_s or 0) <= 30
    assert (info.tokens.limit, info.tokens.remaining) == (100, 10)  # 10% left beats 90% left


# --- the simulator's limit -------------------------------------------------------------------------


def test_window_limit_counts_requests_and_tokens_per_window() -> None:
    now = [100.0]
    lim = WindowLimit(RateLimitConfig(requests=3, tokens=100, window_s=2.0), clock=lambda: now[0])
    assert [lim.admit(10).admitted for _ in range(4)] == [True, True, True, False]
    refused = lim.admit(10)
    assert refused.over == "requests" and refused.requests is not None and refused.requests.remaining == 0
    now[0] += 1.5
    assert refused.retry_after_s == 2.0 and lim.admit(10).requests.reset_s == pytest.approx(0.5)  # type: ignore[union-attr]
    now[0] += 0.5  # the next window: whole again
    first = lim.admit(90)
    assert first.admitted and first.window == 1 and first.tokens is not None and first.tokens.remaining == 10
    assert lim.admit(20).over == "tokens"  # 90 + 20 > 100, though requests are left


@pytest.mark.parametrize(("path", "prefix"), [("/v1/chat/completions", "x-ratelimit-"),
                                              ("/v1/messages", "anthropic-ratelimit-")])
def test_simulator_sends_its_wires_headers_and_429s_beyond_the_limit(path: str, prefix: str) -> None:
    cfg = SimulatorConfig(faults=FaultConfig(rate_limit=RateLimitConfig(requests=2, window_s=30)))
    body = {"model": "sim", "max_tokens": 16, "messages": [{"role": "user", "content": "What is 2 + 2?"}]}
    with SimulatorServer(cfg) as srv:
        replies = [httpx.post(srv.url + path, json=body) for _ in range(3)]
        stats = srv.stats()
    assert [r.status_code for r in replies] == [200, 200, 429]
    for r in replies:
        info = read_rate_limits(r.headers)
        assert info is not None and info.requests is not None and info.requests.limit == 2
        assert not [k for k in r.headers if k.startswith("x-ratelimit-" if prefix != "x-ratelimit-"
                                                            else "anthropic-ratelimit-")]
    assert [read_rate_limits(r.headers).requests.remaining for r in replies] == [1, 0, 0]  # type: ignore[union-attr]
    assert 29 < float(replies[2].headers["retry-after"]) <= 30
    assert stats.rate_limited == 1 and stats.admitted_by_window == [2] and sum(stats.faults.values()) == 0


# --- the controller on its own ---------------------------------------------------------------------


def test_a_429_without_headers_halves_concurrency_once_per_round_and_moves_the_shared_limit(tmp_path: Path) -> None:
    shared = SharedLimiter(tmp_path / "limits.sqlite", "openai|default|m", 64, None)
    now = [0.0]
    ctl = AdaptiveLimits(64, shared=shared, shared_cap=64, label="m", clock=lambda: now[0])

    async def main() -> None:
        assert ctl.gate.limit == PROBE
        first = await ctl.admit(10)
        ctl.succeeded(first, None)  # an answer: no longer probing
        assert ctl.gate.limit == 64 and shared.max_concurrency == 64
        tickets = [await ctl.admit(10) for _ in range(5)]
        for t in tickets:  # five 429s of one round: one cut
            ctl.failed(t, TransientError("slow down", status=429, cause="429", retry_after=2.0))
        assert ctl.gate.limit == 32 and shared.max_concurrency == 32 and ctl.cuts == 1
        admitted = asyncio.ensure_future(ctl.admit(10))
        await asyncio.sleep(0.01)
        assert not admitted.done()  # paused for the retry-after
        now[0] = 2.0
        later = await asyncio.wait_for(admitted, 1)
        ctl.failed(later, TransientError("slow down", status=429, cause="429"))
        assert ctl.gate.limit == 16 and ctl.cuts == 2  # a request of the next round: cut again
        for _ in range(40):
            ctl.succeeded(await ctl.admit(10), None)
        assert 17 <= ctl.gate.limit <= 19  # +1/concurrency per success: a slot per round

    try:
        asyncio.run(main())
    finally:
        shared.close()


def _info(remaining: int, reset_s: float, limit: int = 3) -> RateLimitInfo:
    return RateLimitInfo(requests=LimitState(limit=limit, remaining=remaining, reset_s=reset_s))


async def _admitted_now(ctl: AdaptiveLimits) -> bool:
    """Whether one more request goes at once (the one asked is then in flight), or would wait."""
    try:
        await asyncio.wait_for(asyncio.shield(pending := asyncio.ensure_future(ctl.admit(1))), 0.05)
        return True
    except TimeoutError:
        pending.cancel()
        return False


def test_the_budget_from_headers_holds_requests_until_the_reset() -> None:
    now = [0.0]
    ctl = AdaptiveLimits(16, label="m", clock=lambda: now[0])
    ctl.share = 1.0  # a job alone on its key (it starts at START_SHARE until successes show that)

    async def main() -> None:
        a = await ctl.admit(1)
        ctl.succeeded(a, _info(2, 1.0))
        b, c = await ctl.admit(1), await ctl.admit(1)  # the two left
        waiting = asyncio.ensure_future(ctl.admit(1))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        ctl.succeeded(b, _info(1, 0.9))
        ctl.succeeded(c, _info(0, 0.9))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # spent: nothing goes before the reset
        now[0] = 1.0
        await asyncio.wait_for(waiting, 1)

    asyncio.run(main())


def test_a_job_takes_its_share_of_what_a_figure_shows_and_learns_it_from_others_spending() -> None:
    now = [0.0]
    ctl = AdaptiveLimits(32, label="m", clock=lambda: now[0])

    async def main() -> None:
        assert ctl.share == START_SHARE == 0.5
        first = await ctl.admit(1)
        ctl.succeeded(first, _info(10, 1.0, limit=20))
        sent = [await asyncio.wait_for(ctl.admit(1), 1) for _ in range(5)]  # half of the 10 left
        assert not await _admitted_now(ctl)  # the rest waits for the next figure
        ctl.share = 1.0
        for t in sent[:-1]:
            ctl.succeeded(t, None)
        # Five of ours went after the first figure: 10 - 5 would leave 5; the server says 1, so 4
        # more were someone else's: our share of the 9 it counted is 5/9.
        ctl.succeeded(sent[-1], _info(1, 0.9, limit=20))
        assert ctl.share == pytest.approx(5 / 9, abs=1e-9)

    asyncio.run(main())


# --- jobs against a limit they are not told ----------------------------------------------------------


def _limited_job(run_job_inproc, tmp_path: Path, n: int, *extra: str,
                 limit: RateLimitConfig | None = None) -> tuple[dict, SimStats]:
    limit = limit or RateLimitConfig(requests=LIMIT, window_s=WINDOW_S)
    cfg = SimulatorConfig(latency_ms=5, faults=FaultConfig(rate_limit=limit))
    data = write_dataset(tmp_path / "questions.jsonl", [f"What is {i} + {3 * i + 1}?" for i in range(n)])
    with SimulatorServer(cfg) as srv:
        result = run_job_inproc([*job_args(samples=n), *data, f"model.base_url={srv.url}",
                                 "model.max_concurrency=32", *extra], tmp_path / "job")
        stats = srv.stats()
    assert not isinstance(result, Exception), result
    return summary(tmp_path / "job"), stats


def _use_of_limit(stats: SimStats) -> float:
    """Requests admitted per full window (the last, partly used one left out), as a share of the limit."""
    full = stats.admitted_by_window[:-1]
    return sum(full) / len(full) / LIMIT


def test_a_job_reaches_the_limit_it_is_not_told_with_almost_no_429s(run_job_inproc, tmp_path: Path) -> None:
    s, stats = _limited_job(run_job_inproc, tmp_path, 300)
    assert s["n_errors"] == 0 and s["n_samples"] == 300
    share_429 = stats.rate_limited / stats.requests_total
    use = _use_of_limit(stats)
    # The targets, at a smaller size than the benchmark's 2,000 samples (docs/benchmarks.md).
    assert use >= 0.9, (use, stats.admitted_by_window)
    assert share_429 <= 0.02, (stats.rate_limited, stats.requests_total)
    assert max(stats.admitted_by_window) <= LIMIT


def test_anthropic_wire_adapts_alike(run_job_inproc, tmp_path: Path) -> None:
    s, stats = _limited_job(run_job_inproc, tmp_path, 130, "model=sim_strong")
    assert s["n_errors"] == 0
    assert stats.by_format == {"anthropic": stats.requests_total}
    assert stats.rate_limited / stats.requests_total <= 0.02 and _use_of_limit(stats) >= 0.85


def test_without_adaptation_the_same_job_meets_many_429s(run_job_inproc, tmp_path: Path) -> None:
    # The check above can fail: the same job with the fixed limits alone (none set) bursts into the limit.
    s, stats = _limited_job(run_job_inproc, tmp_path, 90, "model.adaptive_limits=false",
                            "model.retry.max_attempts=20")
    assert s["n_errors"] == 0
    assert stats.rate_limited / stats.requests_total > 0.1
    assert s["retries_by_cause"]["429"] == stats.rate_limited


def test_a_tokens_limit_is_kept_too(run_job_inproc, tmp_path: Path) -> None:
    # About 12 requests of max_tokens=64 fit in 1,000 tokens: the tokens budget is the one that binds.
    s, stats = _limited_job(run_job_inproc, tmp_path, 60, "model.max_tokens=64",
                            limit=RateLimitConfig(tokens=1000, window_s=0.5))
    assert s["n_errors"] == 0
    assert stats.rate_limited / stats.requests_total <= 0.02, (stats.rate_limited, stats.requests_total)
    assert len(stats.admitted_by_window) >= 4, stats  # it did have to wait for fresh windows


def test_two_jobs_on_one_key_learn_their_share_of_the_limit() -> None:
    # Each sees the other's requests only in the server's figures: it takes its share of what they
    # show and lowers that share when the figures fall faster than its own requests explain.
    from evalsweep.config.model import ModelConfig, RetryConfig
    from evalsweep.config.run import CacheConfig
    from evalsweep.llm.service import ModelService
    from evalsweep.llm.types import GenerateRequest, Message

    cfg = ModelConfig(provider="openai", name="sim", simulated=True, max_tokens=32, max_concurrency=32,
                      retry=RetryConfig(max_attempts=20, initial_wait_s=0.01, max_backoff_s=0.05))

    async def job(svc: ModelService, k: int) -> list:
        reqs = [GenerateRequest(provider="openai", model="sim", max_tokens=32, seed=i,
                                messages=[Message(role="user", content=f"What is {k} + {i}?")]) for i in range(120)]
        try:
            return await asyncio.gather(*(svc.generate(r) for r in reqs))
        finally:
            await svc.aclose()

    limit = RateLimitConfig(requests=LIMIT, window_s=WINDOW_S)
    with SimulatorServer(SimulatorConfig(latency_ms=5, faults=FaultConfig(rate_limit=limit))) as srv:
        async def main() -> list:
            svcs = [ModelService(cfg, CacheConfig(enabled=False), srv.url) for _ in range(2)]
            return await asyncio.gather(*(job(s, k) for k, s in enumerate(svcs)))
        answers = asyncio.run(main())
        stats = srv.stats()
    assert sum(len(a) for a in answers) == 240
    assert _use_of_limit(stats) >= 0.9
    # Looser than one job's 2%: the two start at once, before either has seen the other.
    assert stats.rate_limited / stats.requests_total <= 0.1, (stats.rate_limited, stats.requests_total)
