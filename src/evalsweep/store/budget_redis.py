"""The sweep's budget across nodes, on the Redis store: a hash of what was spent (and the most one
request of each model cost), a sorted set of reservation leases (score: expiry, in the server's
clock) and a hash of their amounts. Reserve and settle are Lua scripts, atomic on the server."""

from __future__ import annotations

import redis

from evalsweep.store.budget import Verdict
from evalsweep.store.redis_client import connect, unreachable
from evalsweep.store.url import StoreError

# KEYS: totals, leases, amounts. ARGV: amount, cap, id, lease_ms.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
local amount = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
if spent >= cap or spent + amount > cap then return 'spent' end
-- Only live leases count: an amount whose lease ran out (or whose lease set expired) is dropped.
local reserved = 0
for _, id in ipairs(redis.call('HKEYS', KEYS[3])) do
  local expires = redis.call('ZSCORE', KEYS[2], id)
  if (not expires) or tonumber(expires) <= now then
    redis.call('HDEL', KEYS[3], id)
    redis.call('ZREM', KEYS[2], id)
  else
    reserved = reserved + tonumber(redis.call('HGET', KEYS[3], id))
  end
end
if spent + reserved + amount > cap then return 'wait' end
redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[3])
return 'ok'
"""

# KEYS: totals, leases, amounts. ARGV: id, actual ('' when the request failed), max field.
_SETTLE = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if ARGV[2] ~= '' then
  redis.call('HINCRBYFLOAT', KEYS[1], 'spent', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'requests', 1)
  local m = tonumber(redis.call('HGET', KEYS[1], ARGV[3]) or '-1')
  if tonumber(ARGV[2]) > m then redis.call('HSET', KEYS[1], ARGV[3], ARGV[2]) end
end
return redis.call('HGET', KEYS[1], ARGV[3])
"""


class RedisBudgetStore:
    def __init__(self, url: str, key: str, lease_s: float, client: redis.Redis | None = None) -> None:
        from evalsweep.store.redis_limit import RENEW  # the same lease renewal as the limit's slots

        self.url = url
        self.lease_ms = int(lease_s * 1000)
        self._client = client or connect(url)
        base = f"evalsweep:budget:{key}"
        self._keys = [f"{base}:totals", f"{base}:leases", f"{base}:amounts"]
        self._reserve = self._client.register_script(_RESERVE)
        self._settle = self._client.register_script(_SETTLE)
        self._renew = self._client.register_script(RENEW)

    def _fail(self, exc: BaseException) -> StoreError:
        return unreachable(self.url, exc)

    def reserve(self, rid: str, amount: float, cap: float) -> Verdict:
        try:
            verdict = self._reserve(keys=self._keys, args=[repr(amount), repr(cap), rid, self.lease_ms])
        except (redis.RedisError, OSError) as exc:
            raise self._fail(exc) from None
        assert verdict in ("ok", "wait", "spent")
        return verdict  # type: ignore[return-value]

    def settle(self, rid: str, actual: float | None, model: str) -> float | None:
        try:
            m = self._settle(keys=self._keys, args=[rid, "" if actual is None else repr(actual), f"max:{model}"])
        except (redis.RedisError, OSError) as exc:
            raise self._fail(exc) from None
        return None if m is None else float(m)

    def renew(self, rids: list[str]) -> None:
        try:
            self._renew(keys=[self._keys[1]], args=[self.lease_ms, *rids])
        except (redis.RedisError, OSError) as exc:
            raise self._fail(exc) from None

    def spent(self) -> float:
        try:
            return float(self._client.hget(self._keys[0], "spent") or 0.0)
        except (redis.RedisError, OSError) as exc:
            raise self._fail(exc) from None

    def observed_max(self, model: str) -> float | None:
        try:
            m = self._client.hget(self._keys[0], f"max:{model}")
        except (redis.RedisError, OSError) as exc:
            raise self._fail(exc) from None
        return None if m is None else float(m)

    def close(self) -> None:
        self._client.close()
