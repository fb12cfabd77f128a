"""What a provider sent back, checked before it is trusted.

A status-200 reply that is not the API's JSON (cut off, empty, an error object sent with 200, a
body of the wrong shape) is a TransientError of that one sample: retried within its attempts,
then recorded with the reply's first bytes. It is never an exception that ends the job (the SDKs
raise a bare JSONDecodeError or hand back a half-built object, which escaped the retry layer).
A reply larger than model.max_reply_bytes is refused while it is read (evalsweep.llm.http)."""

from __future__ import annotations

from typing import Any

from evalsweep.llm.errors import PermanentError, TransientError

# Enough of a bad reply to see what it was (an HTML error page, an error object, cut-off JSON),
# short enough for the row's error message (cut at 500 characters).
FIRST_BYTES = 200


class ReplyTooLarge(Exception):
    """Raised while reading a reply once it is known to exceed the limit (evalsweep.llm.http)."""

    def __init__(self, limit: int, declared: int | None = None) -> None:
        super().__init__(f"reply larger than {limit} bytes")
        self.limit = limit
        self.declared = declared

    def error(self, provider: str) -> PermanentError:
        # Permanent: a server that ignores max_tokens does so again, and every retry costs the same.
        seen = (f"Content-Length {self.declared:,}" if self.declared is not None
                else "sent without Content-Length; reading stopped at the limit")
        return PermanentError(
            f"{provider} reply larger than model.max_reply_bytes={self.limit:,} bytes ({seen}); not read "
            f"further. Raise model.max_reply_bytes if replies this large are expected", status=None,
            cause="reply_too_large")


def first_bytes(raw: bytes) -> str:
    """The start of a reply on one line (repr), never more than FIRST_BYTES of it."""
    head = raw[:FIRST_BYTES].decode("utf-8", errors="replace")
    return repr(head) + ("..." if len(raw) > FIRST_BYTES else "")


def malformed(provider: str, http: Any, problem: str) -> TransientError:
    """A reply that is not what the API sends, as a retried error naming what came instead.
    `http` is the SDK's httpx response, already read."""
    raw: bytes = http.content
    if not raw.strip():
        problem, cause = "empty body", "empty_body"
    else:
        cause = "invalid_json" if problem == "not valid JSON" else "unexpected_body"
    ctype = http.headers.get("content-type", "no content-type")
    head = f": {first_bytes(raw)}" if raw else ""
    return TransientError(
        f"malformed reply from {provider} ({problem}; HTTP {http.status_code}, {ctype}, {len(raw):,} bytes){head}",
        status=None, cause=cause)


def as_int(value: Any) -> int:
    """A token count as sent; 0 when absent or not a whole number (usage is informative only)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
