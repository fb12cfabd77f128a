"""The one retry layer (tenacity): exponential backoff with jitter, a floor from retry-after,
bounded by attempts and by total time per request."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
)

from evalsweep.config.model import RetryConfig
from evalsweep.llm.errors import ProviderError, TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")


class _WaitWithRetryAfter:
    """Exponential backoff with "equal jitter" (half fixed, half random: waits still grow, yet
    concurrent workers spread out), never shorter than the server's retry-after. A retry-after
    gets up to 20% (at most 2 s) added, so workers told to wait alike do not come back at once."""

    def __init__(self, cfg: RetryConfig, rng: random.Random | None = None) -> None:
        self._cfg = cfg
        self._rng = rng or random.Random()

    def __call__(self, state: RetryCallState) -> float:
        cap = min(self._cfg.max_backoff_s, self._cfg.initial_wait_s * 2 ** (state.attempt_number - 1))
        wait = cap / 2 + self._rng.uniform(0, cap / 2)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            wait = max(wait, retry_after + self._rng.uniform(0, min(2.0, 0.2 * retry_after)))
        return wait


class RetryPolicy:
    def __init__(self, cfg: RetryConfig, label: str) -> None:
        self.cfg = cfg
        self.label = label
        self.retries_by_cause: Counter[str] = Counter()
        # Made once, not per call: tenacity's per-call state is a reference cycle, freed only by
        # Python's cyclic GC, and a wait object (its own Random, 2.5 KB) inside each one made a
        # job's memory creep up with the number of requests between two collections.
        self._stop = stop_after_attempt(cfg.max_attempts) | stop_before_delay(cfg.max_wait_s)
        self._wait = _WaitWithRetryAfter(cfg)
        self._retry = retry_if_exception_type(TransientError)

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        cause = getattr(exc, "cause", type(exc).__name__)
        self.retries_by_cause[cause] += 1
        wait = state.next_action.sleep if state.next_action else 0.0
        status = getattr(exc, "status", None)
        log.info("%s: attempt %d failed (%s%s); retrying in %.2fs", self.label, state.attempt_number, cause,
                 f", HTTP {status}" if status is not None and str(status) != cause else "", wait)

    async def call(self, fn: Callable[[], Awaitable[T]]) -> tuple[T, int]:
        """Run fn with retries; return its result and the number of attempts it took.
        A final failure is re-raised with `.attempts` set on it."""
        retrying = AsyncRetrying(stop=self._stop, wait=self._wait, retry=self._retry,
                                 before_sleep=self._before_sleep, reraise=True)
        attempts = 0

        async def one_attempt() -> T:
            nonlocal attempts
            attempts += 1
            return await fn()

        try:
            result = await retrying(one_attempt)
        except ProviderError as exc:
            exc.attempts = attempts  # type: ignore[attr-defined]
            raise
        return result, attempts
