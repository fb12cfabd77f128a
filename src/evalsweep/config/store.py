"""Where the state shared by jobs lives (store: local sqlite files, or one Redis server for a
cluster) and what a whole sweep shares (sweep: its budget). See evalsweep.store, docs/scaling.md."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from evalsweep.config.base import Strict

REDIS_SCHEMES = ("redis", "rediss", "unix")


def check_store_url(url: str) -> str:
    """The URL as given when it names a Redis server; ValueError saying what is wrong otherwise."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError on a port that is not a number or out of range
    except ValueError as exc:
        raise ValueError(f"malformed store URL {text!r} ({exc}); expected redis://host:6379/0") from None
    if parts.scheme not in REDIS_SCHEMES:
        raise ValueError(f"store URL {text!r} is not a Redis URL; expected redis://host:6379/0 "
                         f"(or rediss:// for TLS, unix:///path/redis.sock)")
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError(f"store URL {text!r} names no socket; expected unix:///path/to/redis.sock")
        return text
    if not parts.hostname:
        raise ValueError(f"store URL {text!r} names no host; expected redis://host:6379/0")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ValueError(f"store URL {text!r}: the database after the port must be a number, e.g. /0")
    del port
    return text


class StoreConfig(Strict):
    # null: the local sqlite files (the response cache under .cache/, the shared limit under /tmp, a
    # sweep's budget in its sweep dir), right for one machine. redis://host:6379/0: one Redis server
    # holds all three for every node of a cluster. EVALSWEEP_STORE_URL overrides.
    url: str | None = None
    # Seconds a Redis rate-limit slot or budget reservation outlives a process that stops renewing it
    # (SIGKILL, a lost node): a live process renews its own every lease_s / 3.
    lease_s: float = Field(30.0, ge=1.0, le=3600.0)
    # true: use a sqlite file on a network file system (NFS, CIFS, Lustre, ...) anyway; sqlite's WAL
    # and locking do not work there, so the default refuses it before any request.
    allow_network_fs: bool = False

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return check_store_url(v) if v is not None and v.strip() else None


class SweepConfig(Strict):
    # USD for the whole sweep, every job counted (on one machine and, with store.url, across nodes):
    # once spent, no job sends a new request. null: no sweep-wide cap (model.max_cost_usd is per job).
    max_cost_usd: float | None = Field(None, gt=0)
    # Which spend the cap counts: null -> the sweep dir (a single run: its own dir). Jobs or scripts
    # that give the same key share one budget.
    budget_key: str | None = Field(None, min_length=1, max_length=500)
