"""Provider failures, classified once: transient (retried), permanent (recorded), auth (fatal)."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from evalsweep.errors import AuthError
from evalsweep.llm.ratelimit_headers import read_rate_limits
from evalsweep.llm.ratelimit_info import RateLimitInfo

# 408 timeout, 409 conflict, 429 rate limit, 5xx, 529 Anthropic overloaded.
TRANSIENT_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
PERMANENT_STATUS = frozenset({400, 403, 404, 413, 422})

# What an error body says when the key was refused, whatever the status it came with: servers
# answer a bad key with 400 (Gemini's "API key not valid"), 403, or even 500 (some proxies).
KEY_REJECTED = ("invalid api key", "invalid x-api-key", "incorrect api key", "api key not valid",
                "invalid_api_key", "api_key_invalid", "invalid authentication", "authentication_error",
                "missing api key", "no api key", "api key is missing", "api key required")
# Statuses whose body is read for a rejected key (a 429 or 503 that mentions a key is not one).
KEY_STATUS = frozenset({400, 403, 500})
# A request the server refuses as invalid, sent with a 500 (llama.cpp, some proxies): asking
# again gets the same answer, so it is the sample's error, not six attempts.
INVALID_REQUEST = ("invalid_request_error", "invalid request", "bad request", "badrequesterror",
                   "validation error", "unprocessable", "exceeds the available context size",
                   "maximum context length")


class ProviderError(Exception):
    """A failed request. `cause` is a short label used for retry counts ("429", "timeout", ...)."""

    def __init__(self, message: str, *, status: int | None, cause: str, retry_after: float | None = None,
                 rate_limit: RateLimitInfo | None = None):
        super().__init__(message)
        self.status = status
        self.cause = cause
        self.retry_after = retry_after
        # The limits the error reply's headers gave (evalsweep.llm.adaptive reads them), if any.
        self.rate_limit = rate_limit


class TransientError(ProviderError):
    pass


class PermanentError(ProviderError):
    pass


def retry_after_seconds(headers: object) -> float | None:
    """Seconds the server asked us to wait: retry-after-ms wins over retry-after, which is either
    seconds or an HTTP date."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    raw_ms = get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None  # unparseable: our own backoff decides
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def key_rejected(status: int, key_env: str | None, provider: str) -> AuthError:
    """The one line that stops a job whose key the provider refused. `provider`: who refused it, a
    provider's name or "the server at host:port" (evalsweep.llm.endpoints.server_name)."""
    where = f"the key in {key_env}" if key_env else "the API key"
    return AuthError(
        f"{provider} rejected {where} (HTTP {status}): set a valid key in the environment or .env, "
        f"or run offline with model=sim"
    )


def classify_status(status: int, message: str, headers: object, key_env: str | None, provider: str) -> Exception:
    """Map an HTTP status to the error type that decides what happens next."""
    text = message.lower()
    if status == 401 or (status == 403 and ("api key" in text or "api-key" in text or "authentication" in text)):
        return key_rejected(status, key_env, provider)
    if status in KEY_STATUS and any(phrase in text for phrase in KEY_REJECTED):
        return key_rejected(status, key_env, provider)
    cause = str(status)
    if status == 500 and any(phrase in text for phrase in INVALID_REQUEST):
        return PermanentError(message, status=status, cause=cause)
    limits = read_rate_limits(headers)
    if status in TRANSIENT_STATUS:
        return TransientError(message, status=status, cause=cause, retry_after=retry_after_seconds(headers),
                              rate_limit=limits)
    return PermanentError(message, status=status, cause=cause, rate_limit=limits)
