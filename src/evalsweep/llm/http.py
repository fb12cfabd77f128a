"""The HTTP client under the provider SDKs: a reply is read only up to model.max_reply_bytes.

The SDKs read a whole reply into memory before parsing it, whatever its size: a server that
ignores max_tokens (20 MB for max_tokens=256) filled results.jsonl and memory. A response hook
refuses a reply whose Content-Length is over the limit before reading a byte of it, and wraps the
body's stream so a chunked reply stops at the limit. Replies are asked for uncompressed
(Accept-Encoding: identity), so the bytes counted are the bytes held; LLM replies are small
and compression gains little on them. Imported only with an SDK (httpx2 comes with both)."""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2

from evalsweep.llm.replies import ReplyTooLarge


class _CappedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise ReplyTooLarge(self._limit)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The context each client would build for itself (httpx2's default: the system's CA store, or
    SSL_CERT_FILE / SSL_CERT_DIR), built once per process: loading the CA store is ~15 ms, which
    every client of every job of a sweep paid again. A context is safe to share between clients."""
    return httpx2.create_ssl_context()


def capped_http_client(factory: Callable[..., Any], max_bytes: int, timeout_s: float) -> Any:
    """An SDK's own default client (`openai.DefaultAsyncHttpxClient`, ...: its connection limits
    and proxy settings) that reads at most max_bytes of any reply."""

    async def cap(response: httpx2.Response) -> None:
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_bytes:
            raise ReplyTooLarge(max_bytes, declared=int(length))
        response.stream = _CappedStream(response.stream, max_bytes)

    return factory(timeout=timeout_s, event_hooks={"response": [cap]}, headers={"Accept-Encoding": "identity"},
                   verify=tls_context())
