"""Where the state that jobs share lives, and the one place that picks its backend.

Three things are shared by the jobs of a sweep: the response cache (evalsweep.cache), the rate
limit held across jobs (evalsweep.llm.shared_limit) and the sweep's budget (sweep.max_cost_usd).
On one machine they are local sqlite files, the default. With `store.url=redis://host:6379/0` (or
EVALSWEEP_STORE_URL) one Redis server holds all three for every node of a cluster, where a sqlite
file on a network file system would lock badly or corrupt (docs/scaling.md).

This package owns: the store URL and the checks made before any request (url, netfs, checks), the
Redis backends (redis_cache, redis_limit, budget_redis), the sweep budget (budget, budget_sqlite),
the leases that a dead process cannot hold for long (leases), copying cache entries between stores
(transfer), and the choice between local and Redis (select)."""
