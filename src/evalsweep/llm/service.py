"""One model as the runner sees it: cache -> rate limits -> retries -> provider client.
Created per job and closed in `finally` (no module-level clients: joblib reuses processes)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from collections.abc import Iterable
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, TypeVar, overload

from aiolimiter import AsyncLimiter
from pydantic import BaseModel, ConfigDict, Field

from evalsweep.config.model import ModelConfig, SharedLimitConfig
from evalsweep.config.run import CacheConfig
from evalsweep.config.store import StoreConfig
from evalsweep.errors import AuthError
from evalsweep.cache import cache_key
from evalsweep.llm.adaptive import AdaptiveLimits
from evalsweep.llm.base import Provider, ProviderClient
from evalsweep.llm.errors import ProviderError, TransientError
from evalsweep.llm.providers import PROVIDERS
from evalsweep.llm.retry import RetryPolicy
from evalsweep.llm.simulated import with_simulator_extras
from evalsweep.llm.types import GenerateRequest, GenerateResponse
from evalsweep.store.budget import BudgetSpec
from evalsweep.store.select import SlotLimiter, open_budget, open_cache, open_limiter

if TYPE_CHECKING:
    from evalsweep.structured.ask import Structured

M = TypeVar("M", bound=BaseModel)

SIMULATOR_KEY = "evalsweep-simulator"
log = logging.getLogger(__name__)


class ServiceStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests_sent: int = 0
    retries: int = 0
    retries_by_cause: dict[str, int] = Field(default_factory=dict)
    cache_hits: int = 0
    cache_misses: int = 0
    cache_expired: int = 0
    # Why the cache was switched off mid-job (an unreadable file, a failed write), else None.
    cache_error: str | None = None


def api_key_for(cfg: ModelConfig) -> str:
    """The key from the environment (.env already loaded); a clear stop when it is missing or
    cannot be sent."""
    if cfg.simulated:
        if not cfg.api_key_env or cfg.api_key_env not in os.environ:
            return SIMULATOR_KEY
        return _well_formed(os.environ[cfg.api_key_env].strip(), cfg.api_key_env)
    assert cfg.api_key_env is not None  # enforced by the schema
    key = os.environ.get(cfg.api_key_env, "").strip()
    if not key:
        raise AuthError(
            f"model '{cfg.name}' ({cfg.provider}) needs an API key: {cfg.api_key_env} is not set. "
            f"Export it or put it in .env, or run offline with model=sim"
        )
    return _well_formed(key, cfg.api_key_env)


def _well_formed(key: str, env: str) -> str:
    """A key that can go in an HTTP header. One with a line break (python-dotenv reads a .env
    value with an unterminated quote on into the next lines) was sent, failed in the HTTP layer
    and retried as a "connection error" on every sample. Never echoes the key."""
    lines = len(key.splitlines())
    if lines > 1:
        raise AuthError(
            f"{env} holds a malformed API key: it spans {lines} lines (in .env, a value with an unterminated "
            f"quote runs on into the lines after it). Put the key on one line, quotes closed"
        )
    if not (key.isascii() and key.isprintable()) or any(c.isspace() for c in key):
        raise AuthError(
            f"{env} holds a malformed API key: it contains a space, a control or a non-ASCII character, "
            f"which an HTTP header cannot carry (a key pasted with its quotes or from a formatted page?)"
        )
    return key


def make_client(cfg: ModelConfig, base_url: str | None) -> ProviderClient:
    """The client of cfg.provider (evalsweep.llm.providers). A built-in provider's module, and its
    SDK, is imported here, on first use: each SDK costs about a second of start-up."""
    key = api_key_for(cfg)
    provider: Provider = PROVIDERS.get(cfg.provider)
    client = provider.from_config(cfg, api_key=key, base_url=base_url)
    return with_simulator_extras(cfg.provider, client) if cfg.simulated else client


def capped(response: GenerateResponse, max_chars: int) -> GenerateResponse:
    """The reply with its text cut to max_chars (text_truncated set): what the cache keeps, what
    is scored and what a row stores are then the same text, on a first run and on a cached re-run."""
    if len(response.text) <= max_chars:
        return response
    return response.model_copy(update={"text": response.text[:max_chars], "text_truncated": True})


# The simulator's rates for the safety-research patterns (evalsweep.simulator.behaviours).
PATTERN_RATES = ("refusal_rate", "over_refusal_rate", "flip_rate", "matching_rate")


def key_extra(cfg: ModelConfig) -> dict[str, Any]:
    """What besides the request decides a simulated answer: the simulator's answer profile."""
    if cfg.simulated and cfg.simulator is not None:
        sim = cfg.simulator
        profile: dict[str, Any] = {"accuracy": sim.accuracy, "cot_bonus": sim.cot_bonus}
        # Also deciding answers, yet only in the key when set, so existing entries keep their keys.
        if sim.judge_accuracy is not None:
            profile["judge_accuracy"] = sim.judge_accuracy
        for name in PATTERN_RATES:  # refusals, pushback, lettered options: each in the key once it is not the default
            value = getattr(sim, name)
            if value != type(sim).model_fields[name].default:
                profile[name] = value
        for name in ("invalid_structured_rate", "invalid_structured_substring", "served_model"):
            if sim.faults.get(name):
                profile[name] = sim.faults[name]
        if cfg.reasoning:  # the simulator then thinks within max_tokens (evalsweep.simulator.answers)
            profile["reasoning"] = True
        if sim.faults.get("rate_oversize"):  # padded answers must not be served to a run without them
            profile["oversize"] = [sim.faults["rate_oversize"], sim.faults.get("oversize_bytes")]
        return {"simulator": profile}
    return {}


def requests_limiter(rpm: int) -> AsyncLimiter:
    """`rpm` requests a minute, spread out: at most a second's share at once, never a whole
    minute's worth in one burst (providers enforce per-minute limits in shorter slices)."""
    per_s = rpm / 60
    return AsyncLimiter(per_s, 1.0) if per_s >= 1 else AsyncLimiter(1, 60 / rpm)


class ModelService:
    def __init__(self, cfg: ModelConfig, cache_cfg: CacheConfig, base_url: str | None,
                 shared: SharedLimitConfig | None = None, store: StoreConfig | None = None,
                 budget: BudgetSpec | None = None, client: ProviderClient | None = None) -> None:
        self.cfg = cfg
        self.cache_cfg = cache_cfg
        self._base_url = base_url
        # Made on the first request that misses the cache: a fully cached re-run never imports an SDK.
        # `client`: one of the caller's instead (run.mode=batch: evalsweep.batch.rounds.BatchClient).
        self._client: ProviderClient | None = client
        self.retry = RetryPolicy(cfg.retry, label=cfg.name)
        # The cache, the limit across jobs and the sweep's budget: local sqlite, or Redis with store.url.
        self.cache = open_cache(cache_cfg, store)
        self._rpm = requests_limiter(cfg.rpm) if cfg.rpm else None
        # Tokens per minute: a minute-long bucket, since one request may need more than a second's share.
        self._tpm = AsyncLimiter(cfg.tpm, 60) if cfg.tpm else None
        self._key_extra = key_extra(cfg)
        # max_concurrency held here, for every caller (a job's runner, a script's batch), not only
        # by the runner's worker count.
        self._in_flight = asyncio.Semaphore(cfg.max_concurrency)
        self.requests_sent = 0
        # Limits held across all jobs (shared_limit: of this machine, or of every node with store.url).
        self._shared: SlotLimiter | None = open_limiter(cfg, shared, store)
        self._budget = open_budget(budget, store, cfg)  # sweep.max_cost_usd; does nothing without one
        # model.adaptive_limits: the server's rate-limit headers and 429s move this job's concurrency
        # and pace (and the shared limit's), within max_concurrency.
        self._adaptive: AdaptiveLimits | None = None
        if cfg.adaptive_limits:
            # The shared limit's own numbers, as open_shared_limiter takes them, whichever its backend.
            cap = (shared.max_concurrency or cfg.max_concurrency) if shared is not None else None
            rpm = (shared.rpm if shared.rpm is not None else cfg.rpm) if shared is not None else None
            self._adaptive = AdaptiveLimits(cfg.max_concurrency, shared=self._shared, rpm=rpm, shared_cap=cap,
                                            label=cfg.name)
            self._in_flight = self._adaptive.gate  # type: ignore[assignment]

    def _key(self, request: GenerateRequest) -> str:
        return cache_key(request, self._key_extra, simulated=self.cfg.simulated, reasoning=self.cfg.reasoning)

    def _tokens_estimate(self, request: GenerateRequest) -> float:
        """Tokens a request may use, known before sending: its input (~4 characters a token) plus
        every output token it may ask for. Capped at the bucket size, which aiolimiter requires."""
        return float(min(self.cfg.tpm or 0, self._tokens_needed(request)))

    async def _send(self, request: GenerateRequest) -> GenerateResponse:
        """One attempt. Inside the retry loop, so every retry also waits for the rate limits."""
        if self._rpm is not None:
            await self._rpm.acquire()
        if self._tpm is not None:
            await self._tpm.acquire(self._tokens_estimate(request))
        if self._adaptive is None:
            self.requests_sent += 1
        if self._client is None:
            self._client = make_client(self.cfg, self._base_url)
        # A machine-wide slot (shared_limit) for this attempt, waited for before its timeout starts.
        # Its tokens (prompt and max_tokens, as for model.tpm) count against the shared tokens per minute.
        async with self._in_flight, (self._shared.slot(self._tokens_needed(request)) if self._shared is not None
                                     else nullcontext()):
            if self._adaptive is None:
                return await self._attempt(request)
            ticket = await self._adaptive.admit(self._tokens_needed(request))
            self.requests_sent += 1
            try:
                response = await self._attempt(request)
            except ProviderError as exc:
                self._adaptive.failed(ticket, exc)
                raise
            except BaseException:
                self._adaptive.cancelled(ticket)
                raise
            self._adaptive.succeeded(ticket, response.rate_limit)
            return response

    async def _attempt(self, request: GenerateRequest) -> GenerateResponse:
        assert self._client is not None
        timeout = self.cfg.request_timeout_s
        try:
            # The SDK's timeout bounds each read; this bounds the whole attempt (a slow drip included).
            async with asyncio.timeout(timeout):
                return await self._client.generate(request)
        except TimeoutError:
            raise TransientError(f"no response within request_timeout_s={timeout:g}", status=None,
                                 cause="timeout") from None

    @staticmethod
    def _tokens_needed(request: GenerateRequest) -> float:
        """What a server counts against its tokens limit when it admits a request, as OpenAI does:
        the prompt (~4 characters a token) plus every output token it may ask for."""
        return float(sum(len(m.content) for m in request.messages) // 4 + 1 + request.max_tokens)

    def _whole_enough(self, hit: GenerateResponse) -> bool:
        """False for an entry cut at a smaller max_output_chars than today's: asked again, in full."""
        return not (hit.text_truncated and len(hit.text) < self.cfg.max_output_chars)

    async def prefetch(self, requests: Iterable[GenerateRequest]) -> None:
        """Open the cache and look up all of a job's requests at once (a cached re-run then never
        waits on sqlite per sample). Raises CacheError when the cache file cannot be used."""
        if self.cache is None:
            return
        await self.cache.open()  # an unusable cache file stops the job here, before any request
        if not self.cache_cfg.refresh:
            await self.cache.prefetch([self._key(r) for r in requests])

    @overload
    async def generate(self, request: GenerateRequest) -> GenerateResponse: ...

    @overload
    async def generate(self, request: GenerateRequest, response_model: type[M]) -> M: ...

    async def generate(self, request: GenerateRequest, response_model: type[M] | None = None) -> GenerateResponse | M:
        """Cache-aside: a hit is returned as is; a miss is fetched (with retries) and, only when it
        succeeded, stored. Raises ProviderError when the sample failed for good, AuthError on a bad key.
        With a response_model, the validated object (docs/structured.md), or StructuredOutputError."""
        if response_model is not None:
            return (await self.parse(request, response_model)).unwrap()
        cache = self.cache
        key = self._key(request) if cache is not None else ""
        if cache is not None:
            if self.cache_cfg.refresh:
                cache.count_miss()
            else:
                hit = await cache.get(key, accept=self._whole_enough)
                if hit is not None:
                    hit = capped(hit, self.cfg.max_output_chars)
                    return hit.model_copy(update={"cached": True, "latency_s": 0.0, "attempts": 0})
        # The sweep's budget: the request's cost reserved first (BudgetReached when spent), then settled.
        async with self._budget.hold(request) as bill:
            response, attempts = await self.retry.call(lambda: self._send(request))
            bill.paid(response.usage)
        response = capped(response, self.cfg.max_output_chars).model_copy(update={"attempts": attempts})
        if cache is not None:
            cache.put(key, request, response)  # only successes reach this line: errors are never cached
        return response

    async def parse(self, request: GenerateRequest, response_model: type[M]) -> Structured[M]:
        """A typed answer with its details (asks, raw reply, validation error), never raising for
        an object that did not validate."""
        from evalsweep.structured.ask import ask

        return await ask(self, request, response_model, mode=self.cfg.structured_output,
                         max_reasks=self.cfg.structured_reasks)

    def stats(self) -> ServiceStats:
        by_cause: Counter[str] = self.retry.retries_by_cause
        return ServiceStats(
            requests_sent=self.requests_sent,
            retries=sum(by_cause.values()),
            retries_by_cause=dict(by_cause),
            cache_hits=self.cache.hits if self.cache else 0,
            cache_misses=self.cache.misses if self.cache else 0,
            cache_expired=self.cache.expired if self.cache else 0,
            cache_error=self.cache.error if self.cache else None,
        )

    async def aclose(self) -> None:
        if self._adaptive is not None and self._adaptive.cuts + self._adaptive.waited > 0:
            log.info("%s", self._adaptive.summary())
        try:
            if self._client is not None:
                await self._client.aclose()
        finally:
            try:
                if self.cache is not None:
                    await self.cache.close()
            finally:
                try:
                    if self._shared is not None:
                        await asyncio.to_thread(self._shared.close)
                finally:
                    await asyncio.to_thread(self._budget.close)
