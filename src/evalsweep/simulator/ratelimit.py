"""A server-side rate limit, as real providers enforce one: at most `requests` requests and `tokens`
tokens in each window of `window_s` seconds (FaultConfig.rate_limit). Every reply carries the
provider's rate-limit headers (OpenAI's x-ratelimit-* on the OpenAI wire, Anthropic's
anthropic-ratelimit-* on the Anthropic wire); a request over the limit is answered 429 with
retry-after (the wait until the window's end), and is not counted against the window.

Windows are fixed and follow each other from the first request: the budget is whole again at each
window's end, which is the reset the headers give. A request's tokens are counted when it is
admitted, as OpenAI counts them: its prompt's tokens plus the max_tokens it asks for."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RateLimitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests: int | None = Field(default=None, ge=1)
    tokens: int | None = Field(default=None, ge=1)
    window_s: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _some_limit(self) -> RateLimitConfig:
        if self.requests is None and self.tokens is None:
            raise ValueError("rate_limit needs requests or tokens (a limit per window_s)")
        return self


@dataclass(frozen=True)
class Budget:
    limit: int
    remaining: int
    reset_s: float


@dataclass(frozen=True)
class Verdict:
    admitted: bool
    requests: Budget | None
    tokens: Budget | None
    # Why a request was refused: "requests" or "tokens"; None when admitted.
    over: str | None = None
    window: int = 0  # which window (from 0) the request fell in

    @property
    def retry_after_s(self) -> float:
        budgets = [b for b in (self.requests, self.tokens) if b is not None]
        return max(b.reset_s for b in budgets) if budgets else 0.0


class WindowLimit:
    """The counts of the current window. Used from the server's event loop only."""

    def __init__(self, cfg: RateLimitConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self._clock = clock
        self._start: float | None = None
        self._window = -1
        self._requests = 0
        self._tokens = 0

    def admit(self, tokens: int) -> Verdict:
        cfg = self.cfg
        now = self._clock()
        if self._start is None:
            self._start = now
        window = int((now - self._start) // cfg.window_s)
        if window != self._window:
            self._window, self._requests, self._tokens = window, 0, 0
        reset = self._start + (window + 1) * cfg.window_s - now
        cost = min(tokens, cfg.tokens) if cfg.tokens is not None else 0  # one request never needs more than all
        over = None
        if cfg.requests is not None and self._requests >= cfg.requests:
            over = "requests"
        elif cfg.tokens is not None and self._tokens + cost > cfg.tokens:
            over = "tokens"
        if over is None:
            self._requests += 1
            self._tokens += cost
        requests = Budget(cfg.requests, cfg.requests - self._requests, reset) if cfg.requests is not None else None
        budget = Budget(cfg.tokens, cfg.tokens - self._tokens, reset) if cfg.tokens is not None else None
        return Verdict(over is None, requests, budget, over, window)


def go_duration(seconds: float) -> str:
    """OpenAI's reset format: "20ms" under a second, else "1.5s", "6m0s", "1h0m0s"."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    # Rounded up to the millisecond: a client that waits as long as this header says is never early.
    h, rest = divmod(math.ceil(seconds * 1000) / 1000, 3600)
    m, s = divmod(rest, 60)
    sec = f"{round(s, 3):g}s"
    if h:
        return f"{int(h)}h{int(m)}m{sec}"
    return f"{int(m)}m{sec}" if m else sec


def openai_headers(v: Verdict) -> dict[str, str]:
    out: dict[str, str] = {}
    for kind, b in (("requests", v.requests), ("tokens", v.tokens)):
        if b is not None:
            out.update({f"x-ratelimit-limit-{kind}": str(b.limit), f"x-ratelimit-remaining-{kind}": str(b.remaining),
                        f"x-ratelimit-reset-{kind}": go_duration(b.reset_s)})
    return out


def anthropic_headers(v: Verdict, now: float | None = None) -> dict[str, str]:
    wall = time.time() if now is None else now
    out: dict[str, str] = {}
    for kind, b in (("requests", v.requests), ("tokens", v.tokens)):
        if b is not None:
            # +1 ms: the time is written to the millisecond, cut not rounded, and must not be early.
            when = datetime.fromtimestamp(wall + b.reset_s + 0.001, tz=timezone.utc)
            out.update({f"anthropic-ratelimit-{kind}-limit": str(b.limit),
                        f"anthropic-ratelimit-{kind}-remaining": str(b.remaining),
                        f"anthropic-ratelimit-{kind}-reset": when.isoformat(timespec="milliseconds").replace(
                            "+00:00", "Z")})
    return out
