"""model.base_url as each SDK wants it, and the name of the server it points at.

The OpenAI SDK appends /chat/completions to its base URL, so an OpenAI-compatible server needs the
/v1 the official URL ends in; the Anthropic SDK appends /v1/messages and Gemini's /v1beta/models/...,
so theirs must not have it. Users write either: a bare host gets /v1 for OpenAI, a trailing /v1 (or
/v1beta) is dropped for the others. A URL with another path (a proxy's /api/v1, Azure's deployments)
is kept as written. The config keeps the URL as given (it is part of the cache key)."""

from __future__ import annotations

from urllib.parse import urlsplit


def openai_base_url(url: str | None) -> str | None:
    """http://host:8000 -> http://host:8000/v1; http://host:8000/v1 and any other path kept."""
    if not url:
        return None
    if urlsplit(url).path.strip("/") == "":
        return f"{url.rstrip('/')}/v1"
    return url.rstrip("/")


def _without_version(url: str | None, versions: tuple[str, ...]) -> str | None:
    if not url:
        return None
    trimmed = url.rstrip("/")
    for version in versions:
        if trimmed.endswith(f"/{version}"):
            return trimmed[: -len(version) - 1]
    return trimmed


def anthropic_base_url(url: str | None) -> str | None:
    """http://host/v1 -> http://host (the SDK adds /v1/messages)."""
    return _without_version(url, ("v1",))


def gemini_base_url(url: str | None) -> str | None:
    """http://host/v1beta -> http://host (the SDK adds /v1beta/models/...)."""
    return _without_version(url, ("v1beta", "v1"))


def server_name(url: str | None, provider: str) -> str:
    """Who answered, for an error line: the provider by name at its own endpoint, else the server
    at base_url's host and port (a llama.cpp server is not "OpenAI")."""
    if not url:
        return provider
    parts = urlsplit(url)
    host = parts.hostname or url
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"the server at {host}{f':{parts.port}' if parts.port else ''}"
