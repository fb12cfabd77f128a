"""Anthropic's rate-limit headers: anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
{limit,remaining,reset}, the resets as RFC 3339 times. The tokens budget is the `tokens` one when
sent (the most restrictive limit in effect), else the tighter of input and output tokens."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime

from evalsweep.llm.ratelimit_info import LimitState, RateLimitInfo, as_count, state

PREFIX = "anthropic-ratelimit-"


def until_s(raw: str | None, now: float | None = None) -> float | None:
    """Seconds from now to an RFC 3339 time ("2026-12-01T18:00:05Z"); 0 for one passed; None if unreadable."""
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _budget(headers: Mapping[str, str], kind: str) -> LimitState | None:
    return state(as_count(headers.get(f"{PREFIX}{kind}-limit")), as_count(headers.get(f"{PREFIX}{kind}-remaining")),
                 until_s(headers.get(f"{PREFIX}{kind}-reset")))


def _tighter(a: LimitState | None, b: LimitState | None) -> LimitState | None:
    if a is None or b is None:
        return a or b
    def share(s: LimitState) -> float:
        return (s.remaining / s.limit) if s.remaining is not None and s.limit else 1.0
    return a if share(a) <= share(b) else b


def parse(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """The reply's limits, or None when it sent none of these headers."""
    tokens = _budget(headers, "tokens") or _tighter(_budget(headers, "input-tokens"), _budget(headers, "output-tokens"))
    info = RateLimitInfo(requests=_budget(headers, "requests"), tokens=tokens)
    return None if info.empty else info
