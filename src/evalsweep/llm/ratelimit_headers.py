"""A reply's rate-limit headers in whichever dialect it speaks (OpenAI's x-ratelimit-*, Anthropic's
anthropic-ratelimit-*: their names never overlap), as a RateLimitInfo or None."""

from __future__ import annotations

from evalsweep.llm import ratelimit_anthropic, ratelimit_openai
from evalsweep.llm.ratelimit_info import RateLimitInfo


def read_rate_limits(headers: object) -> RateLimitInfo | None:
    """headers: any mapping with case-insensitive .get (httpx's Headers); None for anything else."""
    if not callable(getattr(headers, "get", None)):
        return None
    return ratelimit_openai.parse(headers) or ratelimit_anthropic.parse(headers)  # type: ignore[arg-type]
