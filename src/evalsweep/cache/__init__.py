"""Response cache shared by all jobs and sweeps: one sqlite file (JSON values, WAL), checked at open.

`python -m evalsweep.cache stats | clear | prune | check` inspects, trims and checks it (see docs/cache.md)."""

from evalsweep.cache.keys import KEY_SCHEMA_VERSION, cache_key, key_payload
from evalsweep.cache.response_cache import ResponseCache
from evalsweep.cache.store import ENV_PATH, TABLE, default_path, open_dict

__all__ = ["ENV_PATH", "KEY_SCHEMA_VERSION", "TABLE", "ResponseCache", "cache_key", "default_path", "key_payload",
           "open_dict"]
