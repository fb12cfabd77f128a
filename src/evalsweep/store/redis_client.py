"""A Redis client for the store URL, and every failure to reach the server as one StoreError line
(what, where, how to fix). Imported only when a store URL is set: the client costs ~0.5 s to load."""

from __future__ import annotations

import redis

from evalsweep.store.url import ENV_URL, StoreError, redacted

# Long enough for a busy server across a cluster's network, short enough that a wrong host fails fast.
CONNECT_TIMEOUT_S = 5.0
# A command on a healthy server answers in milliseconds; this bounds one stuck on a dead connection.
COMMAND_TIMEOUT_S = 30.0
# What a call to the server raises when it cannot be done.
REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)


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
    except REDIS_ERRORS as exc:
        client.close()
        raise unreachable(url, exc) from None
    return client
