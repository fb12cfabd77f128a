"""Checks of the store made before any request: a store URL that is malformed or names a server
that does not answer, and a sqlite file (the response cache, the shared limit) on a network file
system, where sqlite's WAL and locking do not work. Each is one StoreError line saying how to fix it."""

from __future__ import annotations

from pathlib import Path

from evalsweep.cache import ENV_PATH, default_path
from evalsweep.config.model import SharedLimitConfig
from evalsweep.config.run import CacheConfig
from evalsweep.config.store import StoreConfig
from evalsweep.store.netfs import network_mount
from evalsweep.store.url import StoreError, store_url


def check_sqlite_path(path: Path, what: str, setting: str, store: StoreConfig) -> None:
    """StoreError when path is on a network file system (unless store.allow_network_fs)."""
    if store.allow_network_fs:
        return
    mount = network_mount(path)
    if mount is not None:
        raise StoreError(
            f"{what} {path} is on a network file system ({mount.fs_type} at {mount.point}), where sqlite's "
            f"locking is unreliable and jobs on several nodes fail with 'database is locked' or corrupt it: use "
            f"the Redis store (store.url=redis://host:6379/0, docs/scaling.md), point {setting} at a local "
            f"disk, or set store.allow_network_fs=true to use it anyway")


def check_store(store: StoreConfig, cache: CacheConfig, shared: SharedLimitConfig | None = None) -> None:
    """Before any request: the Redis store answers, or the local sqlite files are on local disks."""
    url = store_url(store)
    if url is not None:
        from evalsweep.store.redis_client import ping  # the redis client loads only for a Redis store

        ping(url).close()
        return
    if cache.enabled:
        check_sqlite_path(default_path(cache), "the response cache", f"cache.path (or {ENV_PATH})", store)
    if shared is not None and shared.enabled:
        from evalsweep.llm.shared_limit import default_path as limits_path

        check_sqlite_path(limits_path(shared), "the shared-limit file", "shared_limit.path", store)
