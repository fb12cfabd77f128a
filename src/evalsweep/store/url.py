"""The store URL (store.url, EVALSWEEP_STORE_URL) and StoreError. No Redis client here: a job
without a store URL never imports one (evalsweep.store.redis_client makes it, on first use)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from evalsweep.config.store import StoreConfig, check_store_url
from evalsweep.errors import ConfigError

ENV_URL = "EVALSWEEP_STORE_URL"


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
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}:" if parts.username else ":"
    return parts._replace(netloc=f"{user}***@{host}").geturl()
