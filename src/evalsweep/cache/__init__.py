"""Response cache shared by all jobs and sweeps: one sqlite file (JSON values, WAL), checked at open,
or with store.url the same entries on a Redis server (evalsweep.store.redis_cache, behind the
protocol of evalsweep.cache.backend).

`python -m evalsweep.cache stats | clear | prune | check | export | import` inspects, trims, checks
and copies it (see docs/cache.md)."""

from evalsweep.cache.keys import KEY_SCHEMA_VERSION, cache_key, key_payload
from evalsweep.cache.response_cache import ResponseCache
from evalsweep.cache.store import ENV_PATH, TABLE, default_path, open_dict

__all__ = ["ENV_PATH", "KEY_SCHEMA_VERSION", "TABLE", "ResponseCache", "cache_key", "default_path", "key_payload",
           "open_dict"]
