"""HTTP replies shared by the wire formats: a JSON body, or a body sent in chunks without a length."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def json_response(payload: dict[str, Any], status: int, headers: dict[str, str]) -> web.Response:
    return web.Response(
        body=json.dumps(payload).encode(), status=status, headers=headers, content_type="application/json"
    )


_CHUNK = 64 * 1024


async def send_chunked(request: web.Request, full: web.Response) -> web.StreamResponse:
    """`full`'s body sent in chunks without Content-Length, so only what a client reads tells its size."""
    body = full.body
    assert isinstance(body, bytes)
    headers = {k: v for k, v in full.headers.items() if k.lower() not in ("content-length", "content-type")}
    resp = web.StreamResponse(status=full.status, headers=headers)
    resp.content_type = "application/json"
    resp.enable_chunked_encoding()
    try:
        await resp.prepare(request)
        for i in range(0, len(body), _CHUNK):
            await resp.write(body[i:i + _CHUNK])
        await resp.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass  # the client stopped reading (e.g. its size limit): nothing more to send
    return resp
