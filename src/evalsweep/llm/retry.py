"""The one retry layer (tenacity): exponential backoff with jitter, a floor from retry-after,
bounded by attempts and by total time per request."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from evalsweep.config import RetryConfig
from evalsweep.llm.errors import ProviderError, TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")


class _WaitWithRetryAfter:
    """Jittered exponential backoff, never shorter than the server's retry-after."""

    def __init__(self, cfg: RetryConfig) -> None:
        self._backoff = wait_random_exponential(multiplier=cfg.initial_wait_s, max=cfg.max_backoff_s)

    def __call__(self, state: RetryCallState) -> float:
        wait = self._backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        return max(wait, retry_after) if retry_after is not None else wait


class RetryPolicy:
    def __init__(self, cfg: RetryConfig, label: str) -> None:
        self.cfg = cfg
        self.label = label
        self.retries_by_cause: Counter[str] = Counter()

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        cause = getattr(exc, "cause", type(exc).__name__)
        self.retries_by_cause[cause] += 1
        wait = state.next_action.sleep if state.next_action else 0.0
        log.info("retry %s attempt %d after %s (status %s), waiting %.2fs",
                 self.label, state.attempt_number, cause, getattr(exc, "status", None), wait)

    async def call(self, fn: Callable[[], Awaitable[T]]) -> tuple[T, int]:
        """Run fn with retries; return its result and the number of attempts it took.
        A final failure is re-raised with `.attempts` set on it."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.cfg.max_attempts) | stop_before_delay(self.cfg.max_wait_s),
            wait=_WaitWithRetryAfter(self.cfg),
            retry=retry_if_exception_type(TransientError),
            before_sleep=self._before_sleep,
            reraise=True,
        )
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
