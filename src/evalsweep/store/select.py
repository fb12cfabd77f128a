"""The one place that picks a backend for what jobs share: the response cache, the limit held
across jobs and the sweep's budget, each local sqlite without a store URL, Redis with one. The
model service gets objects with one interface each and never asks which it holds."""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Protocol

from evalsweep.cache import ResponseCache, default_path
from evalsweep.config.model import ModelConfig, SharedLimitConfig
from evalsweep.config.run import CacheConfig
from evalsweep.config.store import StoreConfig
from evalsweep.llm.polled_limit import Keep
from evalsweep.llm.shared_limit import limit_key, open_shared_limiter, per_minute, shared_numbers
from evalsweep.store.budget import BudgetSpec, BudgetStore, NoBudget, SweepBudget
from evalsweep.store.url import StoreError, redacted, store_url

log = logging.getLogger(__name__)


class SlotLimiter(Protocol):
    """What the service needs of a limit held across jobs (SharedLimiter, RedisLimiter)."""

    async def acquire(self, tokens: float = 0.0) -> object: ...

    async def release(self, slot: object) -> None: ...

    def slot(self, tokens: float = 0.0) -> AbstractAsyncContextManager[object]:
        """One attempt's slot; `tokens`: what it reserves of the tokens per minute."""
        ...

    def close(self) -> None: ...

    def in_use(self) -> int: ...

    def set_limits(self, max_concurrency: int, rpm: int | None, *, tpm: int | None | Keep = "keep") -> None:
        """Move the limit at runtime (evalsweep.llm.adaptive follows the server's rate-limit figures);
        tpm is kept unless given."""
        ...


def cache_location(cache_cfg: CacheConfig, store: StoreConfig | None) -> str:
    """Where the job's cached answers live, as the summary and messages name it."""
    url = store_url(store)
    return redacted(url) if url else str(default_path(cache_cfg))


def open_cache(cache_cfg: CacheConfig, store: StoreConfig | None) -> ResponseCache | None:
    if not cache_cfg.enabled:
        return None
    url = store_url(store)
    if url is None:
        return ResponseCache(default_path(cache_cfg), cache_cfg.ttl_seconds)
    from evalsweep.store.redis_cache import RedisCacheDB

    return ResponseCache(redacted(url), cache_cfg.ttl_seconds, opener=partial(RedisCacheDB, url))


def open_limiter(model: ModelConfig, shared: SharedLimitConfig | None,
                 store: StoreConfig | None) -> SlotLimiter | None:
    if shared is None or not shared.enabled:
        return None
    url = store_url(store)
    if url is None:
        return open_shared_limiter(model, shared)
    from evalsweep.store.redis_limit import RedisLimiter

    max_concurrency, rpm, tpm = shared_numbers(model, shared)
    lease_s = store.lease_s if store is not None else StoreConfig().lease_s
    limiter = RedisLimiter(url, limit_key(model), max_concurrency, rpm, tpm=tpm, lease_s=lease_s)
    log.info("shared limit for %s: %d in flight%s across all jobs on every node (%s)", limiter.key,
             max_concurrency, per_minute(rpm, tpm), redacted(url))
    return limiter


def open_budget(spec: BudgetSpec | None, store: StoreConfig | None, model: ModelConfig) -> SweepBudget | NoBudget:
    if spec is None:
        return NoBudget()
    url = store_url(store)
    lease_s = store.lease_s if store is not None else StoreConfig().lease_s
    if url is None:
        from evalsweep.store.budget_sqlite import SqliteBudgetStore

        backend: BudgetStore = SqliteBudgetStore(spec.path, spec.key, lease_s)
    else:
        from evalsweep.store.budget_redis import RedisBudgetStore

        backend = RedisBudgetStore(url, spec.key, lease_s)
    # Both stores raise StoreError for any failure of theirs.
    budget = SweepBudget(backend, spec.cap_usd, model.price, model.name, lease_s=lease_s, errors=(StoreError,))
    log.info("sweep budget: $%g over every job of the sweep (%s)", spec.cap_usd,
             redacted(url) if url else spec.path)
    return budget
