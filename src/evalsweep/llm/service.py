"""One model as the runner sees it: cache -> rate limits -> retries -> provider client.
Created per job and closed in `finally` (no module-level clients: joblib reuses processes)."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from aiolimiter import AsyncLimiter
from pydantic import BaseModel, ConfigDict, Field

from evalsweep.config import CacheConfig, ModelConfig
from evalsweep.errors import AuthError
from evalsweep.llm.base import ProviderClient
from evalsweep.llm.cache import ResponseCache, cache_key, default_path
from evalsweep.llm.retry import RetryPolicy
from evalsweep.llm.types import GenerateRequest, GenerateResponse

SIMULATOR_KEY = "evalsweep-simulator"


class ServiceStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests_sent: int = 0
    retries: int = 0
    retries_by_cause: dict[str, int] = Field(default_factory=dict)
    cache_hits: int = 0
    cache_misses: int = 0
    cache_expired: int = 0


def api_key_for(cfg: ModelConfig) -> str:
    """The key from the environment (.env already loaded); a clear stop when it is missing."""
    if cfg.simulated:
        return os.environ.get(cfg.api_key_env, SIMULATOR_KEY) if cfg.api_key_env else SIMULATOR_KEY
    assert cfg.api_key_env is not None  # enforced by the schema
    key = os.environ.get(cfg.api_key_env, "").strip()
    if not key:
        raise AuthError(
            f"model '{cfg.name}' ({cfg.provider}) needs an API key: {cfg.api_key_env} is not set. "
            f"Export it or put it in .env, or run offline with model=sim"
        )
    return key


def make_client(cfg: ModelConfig, base_url: str | None) -> ProviderClient:
    key = api_key_for(cfg)
    # Provider SDKs are imported only when used: each costs about a second of start-up.
    if cfg.provider == "openai":
        from evalsweep.llm.openai_client import OpenAIClient

        url = f"{base_url.rstrip('/')}/v1" if cfg.simulated and base_url else base_url
        return OpenAIClient(api_key=key, base_url=url, timeout_s=cfg.request_timeout_s, key_env=cfg.api_key_env)
    from evalsweep.llm.anthropic_client import AnthropicClient

    return AnthropicClient(api_key=key, base_url=base_url, timeout_s=cfg.request_timeout_s,
                           key_env=cfg.api_key_env, simulated=cfg.simulated)


def key_extra(cfg: ModelConfig) -> dict[str, Any]:
    """What besides the request decides a simulated answer: the simulator's answer profile."""
    if cfg.simulated and cfg.simulator is not None:
        return {"simulator": {"accuracy": cfg.simulator.accuracy, "cot_bonus": cfg.simulator.cot_bonus}}
    return {}


class ModelService:
    def __init__(self, cfg: ModelConfig, cache_cfg: CacheConfig, base_url: str | None) -> None:
        self.cfg = cfg
        self.cache_cfg = cache_cfg
        self.client = make_client(cfg, base_url)
        self.retry = RetryPolicy(cfg.retry, label=cfg.name)
        self.cache = ResponseCache(default_path(cache_cfg), cache_cfg.ttl_seconds) if cache_cfg.enabled else None
        self._rpm = AsyncLimiter(cfg.rpm, 60) if cfg.rpm else None
        self._tpm = AsyncLimiter(cfg.tpm, 60) if cfg.tpm else None
        self._key_extra = key_extra(cfg)
        self.requests_sent = 0

    async def _send(self, request: GenerateRequest) -> GenerateResponse:
        if self._rpm is not None:
            await self._rpm.acquire()
        if self._tpm is not None:
            # Budget the worst case this request can use, capped at the bucket size.
            await self._tpm.acquire(min(float(self.cfg.tpm or 0), float(request.max_tokens)))
        self.requests_sent += 1
        return await self.client.generate(request)

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        key = cache_key(request, self._key_extra) if self.cache is not None else ""
        if self.cache is not None and not self.cache_cfg.refresh:
            hit = await self.cache.get(key)
            if hit is not None:
                return hit.model_copy(update={"cached": True, "latency_s": 0.0, "attempts": 0})
        response, attempts = await self.retry.call(lambda: self._send(request))
        response = response.model_copy(update={"attempts": attempts})
        if self.cache is not None:
            self.cache.put(key, request, response)  # only successes reach this line
        return response

    def stats(self) -> ServiceStats:
        by_cause: Counter[str] = self.retry.retries_by_cause
        return ServiceStats(
            requests_sent=self.requests_sent,
            retries=sum(by_cause.values()),
            retries_by_cause=dict(by_cause),
            cache_hits=self.cache.hits if self.cache else 0,
            cache_misses=self.cache.misses if self.cache else 0,
            cache_expired=self.cache.expired if self.cache else 0,
        )

    async def aclose(self) -> None:
        try:
            await self.client.aclose()
        finally:
            if self.cache is not None:
                await self.cache.close()
