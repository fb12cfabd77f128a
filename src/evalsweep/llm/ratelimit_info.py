"""What a provider's reply says about its rate limits, in one provider-neutral form.

The provider clients read their reply's headers into a RateLimitInfo (each dialect in its own
module: evalsweep.llm.ratelimit_openai, evalsweep.llm.ratelimit_anthropic) and hand it up on the
response or the error; the adaptive limits (evalsweep.llm.adaptive) read it. Never stored: it says
how an answer was fetched, not what it is."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class LimitState(BaseModel):
    """One budget (requests, or tokens) as the server counts it when it answered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int | None = None
    remaining: int | None = None
    # Seconds until the budget is whole again (the window resets, or the bucket is refilled).
    reset_s: float | None = None


class RateLimitInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: LimitState | None = None
    tokens: LimitState | None = None

    @property
    def empty(self) -> bool:
        return self.requests is None and self.tokens is None


def as_count(raw: str | None) -> int | None:
    """A header's whole number; None when absent or not one (a header that lies is ignored)."""
    if raw is None:
        return None
    try:
        value = int(float(raw.strip()))
    except ValueError:
        return None
    return value if value >= 0 else None


def state(limit: int | None, remaining: int | None, reset_s: float | None) -> LimitState | None:
    if limit is None and remaining is None and reset_s is None:
        return None
    return LimitState(limit=limit, remaining=remaining, reset_s=reset_s)
