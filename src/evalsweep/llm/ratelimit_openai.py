"""OpenAI's rate-limit headers (also sent by many OpenAI-compatible servers and proxies):
x-ratelimit-{limit,remaining,reset}-{requests,tokens}, the resets as Go durations ("1s", "6m0s",
"20ms", "1h2m3.5s")."""

from __future__ import annotations

import re
from collections.abc import Mapping

from evalsweep.llm.ratelimit_info import LimitState, RateLimitInfo, as_count, state

PREFIX = "x-ratelimit-"
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|h|m|s)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_s(raw: str | None) -> float | None:
    """Seconds of a Go-style duration ("6m0s", "20ms"); a bare number is seconds; None if unreadable."""
    if raw is None:
        return None
    text = raw.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def _budget(headers: Mapping[str, str], kind: str) -> LimitState | None:
    return state(as_count(headers.get(f"{PREFIX}limit-{kind}")), as_count(headers.get(f"{PREFIX}remaining-{kind}")),
                 duration_s(headers.get(f"{PREFIX}reset-{kind}")))


def parse(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """The reply's limits, or None when it sent none of these headers."""
    info = RateLimitInfo(requests=_budget(headers, "requests"), tokens=_budget(headers, "tokens"))
    return None if info.empty else info
