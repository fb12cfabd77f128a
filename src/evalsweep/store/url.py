"""The store URL (store.url, EVALSWEEP_STORE_URL) and a Redis client for it, with every failure to
reach it as one StoreError line (what, where, how to fix)."""

from __future__ import annotations

import os

import redis

from evalsweep.config.store import StoreConfig, check_store_url
from evalsweep.errors import ConfigError

ENV_URL = "EVALSWEEP_STORE_URL"
# Long enough for a busy server across a cluster's network, short enough that a wrong host fails fast.
CONNECT_TIMEOUT_S = 5.0
# A command on a healthy server answers in milliseconds; this bounds one stuck on a dead connection.
COMMAND_TIMEOUT_S = 30.0


class StoreError(ConfigError):
    """The store cannot be used: a malformed URL, a server that does not answer (exit 2, before any request)."""


def store_url(cfg: StoreConfig | None) -> str | None:
    """EVALSWEEP_STORE_URL, else store.url, else None (the local sqlite files). Raises StoreError
    when the variable holds no Redis URL."""
    env = os.environ.get(ENV_URL, "").strip()
    if env:
        try:
            return check_store_url(env)
        except ValueError as exc:
            raise StoreError(f"{ENV_URL}: {exc}; fix the variable or unset it (then store.url applies)") from None
    return cfg.url if cfg is not None else None


def redacted(url: str) -> str:
    """The URL without its password, for messages and summaries."""
    client = redis.connection.parse_url(url)
    if client.get("password"):
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return url


def connect(url: str) -> redis.Redis:
    """A client for the URL (connections made on first use, shared by threads)."""
    return redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=COMMAND_TIMEOUT_S,
                                health_check_interval=30, decode_responses=True)


def unreachable(url: str, exc: BaseException) -> StoreError:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return StoreError(f"cannot reach the store at {redacted(url)} ({first}); start redis-server there "
                      f"(docs/scaling.md), fix store.url or {ENV_URL}, or unset both to use the local sqlite files")


def ping(url: str) -> redis.Redis:
    """A client that has just answered PING; StoreError when the server cannot be reached."""
    client = connect(url)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        client.close()
        raise unreachable(url, exc) from None
    return client
