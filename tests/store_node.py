"""One "node" of the Redis store tests: a script that asks a simulator through evalsweep.open_model,
pointed at a shared Redis store, and prints what it spent as one JSON line. Run as
`python tests/store_node.py '<json args>'` by tests/test_store_nodes.py, four at once."""

from __future__ import annotations

import asyncio
import json
import sys

import openai  # noqa: F401 - sim speaks its wire format: the SDK loaded before the nodes start together
import redis

import evalsweep
from evalsweep.config.model import SharedLimitConfig
from evalsweep.config.run import CacheConfig
from evalsweep.config.store import StoreConfig, SweepConfig
from evalsweep.store.budget import BudgetReached

PRICE = {"input_per_mtok": 1000.0, "output_per_mtok": 3000.0}


async def main(args: dict) -> dict:
    queue = list(args["prompts"])
    costs: list[float] = []
    stopped = False
    async with evalsweep.open_model(
            "sim", base_url=args["sim"], max_concurrency=8, price=PRICE, max_tokens=args.get("max_tokens", 32),
            cache=CacheConfig(path=args["sqlite_cache"]),  # never used: the Redis store holds the cache
            store=StoreConfig(url=args["url"]),
            shared_limit=SharedLimitConfig(enabled=True, max_concurrency=args["limit"], tpm=args.get("tpm")),
            sweep=SweepConfig(max_cost_usd=args.get("cap"), budget_key=args.get("key"))) as model:

        # Start together, as nodes of one sweep would run side by side (the interpreters start unevenly).
        client = redis.Redis.from_url(args["url"])
        client.incr(args["barrier"])
        while int(client.get(args["barrier"]) or 0) < args["nodes"]:
            await asyncio.sleep(0.01)
        client.close()

        async def worker() -> None:
            nonlocal stopped
            while queue and not stopped:
                prompt = queue.pop(0)
                try:
                    reply = await model.generate(prompt)
                except BudgetReached:
                    stopped = True
                    return
                if not reply.cached:
                    costs.append(model.config.price.cost(reply.usage.input_tokens, reply.usage.output_tokens))

        # deadline_s: stop waiting then (a tokens-per-minute limit holds the rest for the minute).
        timed_out = False
        try:
            await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(8))), args.get("deadline_s"))
        except TimeoutError:
            timed_out = True
        return {"costs": costs, "stopped": stopped, "stats": model.stats(), "timed_out": timed_out}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)
