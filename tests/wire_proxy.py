"""Test helpers on loopback: a recording proxy that forwards each request to an upstream server
(the simulator) and keeps what the SDK sent (path, headers, JSON body), so a test can read the wire;
and a server that answers every request with one fixed status and body, recording them too."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Seen:
    path: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]


class Recorded(list[Seen]):
    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [s.body for s in self]


def _seen(handler: BaseHTTPRequestHandler) -> tuple[bytes, Seen]:
    raw = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
    return raw, Seen(handler.path, {k.lower(): v for k, v in handler.headers.items()}, json.loads(raw or b"{}"))


def _answer(handler: BaseHTTPRequestHandler, status: int, data: bytes, headers: list[tuple[str, str]]) -> None:
    handler.send_response(status)
    for k, v in headers:
        if k.lower() not in _HOP:
            handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def recording_proxy(upstream: str) -> Iterator[tuple[str, Recorded]]:
    """(proxy URL, requests seen): every request is forwarded to `upstream` and answered as it was."""
    seen = Recorded()
    target = urlsplit(upstream)

    class Handler(_Quiet):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            raw, request = _seen(self)
            seen.append(request)
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                conn.request("POST", self.path, body=raw, headers=headers)
                reply = conn.getresponse()
                data, status, reply_headers = reply.read(), reply.status, reply.getheaders()
            finally:
                conn.close()
            _answer(self, status, data, reply_headers)

    with _serving(Handler) as url:
        yield url, seen


@contextmanager
def fixed_server(status: int, body: dict[str, Any]) -> Iterator[tuple[str, Recorded]]:
    """(URL, requests seen): a server answering every POST with `status` and `body` (an error, or a
    reply of a shape the simulator does not send)."""
    seen = Recorded()
    data = json.dumps(body).encode()

    class Handler(_Quiet):
        def do_POST(self) -> None:  # noqa: N802
            seen.append(_seen(self)[1])
            _answer(self, status, data, [("Content-Type", "application/json")])

    with _serving(Handler) as url:
        yield url, seen


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
