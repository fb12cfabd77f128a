"""Moved to `evalsweep.cache` (so `python -m evalsweep.cache` works); kept so older imports still do."""

from evalsweep.cache import KEY_SCHEMA_VERSION, ResponseCache, cache_key, default_path, open_dict

__all__ = ["KEY_SCHEMA_VERSION", "ResponseCache", "cache_key", "default_path", "open_dict"]
