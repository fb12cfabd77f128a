"""One model's limits (requests in flight, requests and tokens per minute) held across every job on every
node, through one Redis server: the cluster counterpart of evalsweep.llm.shared_limit, with the same
public interface (acquire, release, slot, close, in_use), so ModelService holds either.

How:
- A slot is a member of a sorted set whose score is its lease expiry, in the server's clock (TIME
  inside the script, so nodes whose clocks disagree still agree on every lease). Taking one is one
  Lua script (drop expired members, count, add when below the limit): atomic on the server, so two
  nodes never both take the last slot. Releasing removes the member.
- rpm is a sliding window: a second sorted set of request starts; a start waits while `rpm` of them
  lie in the last `window_s` seconds (the script says how long until the oldest leaves).
- tpm is the same window counted in tokens: each start's member carries the tokens it reserved
  (`<id>:<tokens>`), and a start waits while its tokens and the window's exceed `tpm` (the script
  says how long until enough of them leave). A request above the whole `tpm` is clipped to it: it
  waits for an empty window and takes all of it. Starts age out with the window, a dead process's
  as a live one's, so tokens need no lease of their own.
- Leases are short (store.lease_s, 30 s) and renewed by a live process (evalsweep.store.leases): a
  job killed with SIGKILL, or a node lost, frees its slots within one lease, while a request that
  takes minutes keeps its slot. Pids mean nothing across hosts, so the lease is the only bound.
- The limits are this process's values, adjustable at runtime (set_limits): an adaptive limit that
  backs off on 429s applies it to the next take. Nothing blocks the event loop: every Redis call
  runs in a thread, and a full limit is polled with asyncio.sleep by one coroutine per process."""

from __future__ import annotations

import logging
import math
import threading
import uuid

import redis

from evalsweep.llm.polled_limit import PolledLimiter
from evalsweep.store.leases import LeaseKeeper
from evalsweep.store.redis_client import connect, unreachable

log = logging.getLogger(__name__)


# KEYS: slots, starts. ARGV: max_concurrency, rpm (0: none), window_ms, lease_ms, slot id, tpm (0:
# none), tokens (already clipped to tpm). Returns {1, 0} when taken; {0, -1} when the concurrency
# limit is full; {0, ms} when rpm or tpm is, ms being the time until the window lets this start in.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return {0, -1} end
local rpm = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local tpm = tonumber(ARGV[6])
local tokens = tonumber(ARGV[7])
if rpm > 0 or tpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  if rpm > 0 and redis.call('ZCARD', KEYS[2]) >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {0, tonumber(oldest[2]) + window - now}
  end
  if tpm > 0 then
    local starts = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
    local used = 0
    for i = 1, #starts, 2 do used = used + (tonumber(string.match(starts[i], ':(%d+)$')) or 0) end
    local over = used + tokens - tpm
    if over > 0 then
      for i = 1, #starts, 2 do
        over = over - (tonumber(string.match(starts[i], ':(%d+)$')) or 0)
        if over <= 0 then return {0, math.max(0, tonumber(starts[i + 1]) + window - now)} end
      end
      return {0, 0}
    end
  end
  redis.call('ZADD', KEYS[2], now, ARGV[5] .. ':' .. ARGV[7])
  redis.call('PEXPIRE', KEYS[2], window + 1000)
end
local lease = tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], now + lease, ARGV[5])
if redis.call('PTTL', KEYS[1]) < lease + 1000 then redis.call('PEXPIRE', KEYS[1], lease + 1000) end
return {1, 0}
"""

# KEYS: a sorted set of leases. ARGV: lease_ms, members... Extends the members still there.
RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
local n = 0
for i = 2, #ARGV do n = n + redis.call('ZADD', KEYS[1], 'XX', 'CH', now + lease, ARGV[i]) end
if redis.call('PTTL', KEYS[1]) < lease + 1000 then redis.call('PEXPIRE', KEYS[1], lease + 1000) end
return n
"""

# KEYS: a sorted set of leases. The members whose lease has not run out.
_LIVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""


class RedisLimiter(PolledLimiter[str]):
    """Created per job (never module-level: joblib reuses worker processes) and closed in `finally`.
    Slots are leases in a Redis sorted set; the polling is PolledLimiter's."""

    poll_max_s = 0.05  # each poll is a round trip to the server

    def __init__(self, url: str, key: str, max_concurrency: int, rpm: int | None = None, *,
                 tpm: int | None = None, lease_s: float = 30.0, window_s: float = 60.0,
                 client: redis.Redis | None = None) -> None:
        super().__init__(max_concurrency, rpm, tpm)
        self.url = url
        self.key = key
        self.lease_s = lease_s
        self.window_s = window_s
        self._client = client or connect(url)
        self._slots = f"evalsweep:limit:{key}:slots"
        self._starts = f"evalsweep:limit:{key}:starts"
        self._take = self._client.register_script(_TAKE)
        self._renew = self._client.register_script(RENEW)
        self._live = self._client.register_script(_LIVE)
        self._lock = threading.Lock()  # guards _held and _closed across the loop's threads and the keeper
        self._held: set[str] = set()
        self._keeper = LeaseKeeper(self._renew_held, lease_s / 3, f"limit-leases-{key}",
                                   errors=(redis.RedisError, OSError))

    # -- Redis side (runs in a worker thread) ----------------------------------------------

    def _try_acquire(self, tokens: float = 0.0) -> tuple[str | None, float | None]:
        """(slot id, None) on success; else (None, seconds until the window lets this start in, or
        None when the concurrency limit is full). A lost server is the store's one-line error."""
        try:
            return self._take_slot(tokens)
        except (redis.RedisError, OSError) as exc:
            raise unreachable(self.url, exc) from None

    def _take_slot(self, tokens: float) -> tuple[str | None, float | None]:
        if self._closed:  # a cancelled acquire finishing after close(): take nothing
            return None, None
        slot = uuid.uuid4().hex
        tpm = self.tpm
        need = min(math.ceil(tokens), tpm) if tpm is not None else 0
        taken, wait_ms = self._take(keys=[self._slots, self._starts], args=[
            self.max_concurrency, self.rpm or 0, int(self.window_s * 1000), int(self.lease_s * 1000), slot,
            tpm or 0, need])
        if not taken:
            return None, (None if wait_ms < 0 else wait_ms / 1000)
        with self._lock:
            if self._closed:
                self._client.zrem(self._slots, slot)
                return None, None
            self._held.add(slot)
        return slot, None

    def _release_sync(self, slot: str) -> None:
        with self._lock:
            if slot not in self._held or self._closed:
                return
            self._held.discard(slot)
        self._client.zrem(self._slots, slot)

    def _renew_held(self) -> None:
        with self._lock:
            held = list(self._held)
        if held:
            kept = self._renew(keys=[self._slots], args=[int(self.lease_s * 1000), *held])
            if kept < len(held):
                log.warning("shared limit %s: %d slot(s) of this process lapsed before renewal (a pause "
                            "longer than store.lease_s=%gs?)", self.key, len(held) - kept, self.lease_s)

    def in_use(self) -> int:
        """Slots of this key taken right now, by any process on any node (for tests and logs)."""
        return int(self._live(keys=[self._slots]))

    # -- async side ------------------------------------------------------------------------

    def close(self) -> None:
        """Give back every slot this job still holds and stop renewing. Blocking: call it through
        asyncio.to_thread from async code."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            held, self._held = list(self._held), set()
        self._keeper.stop()
        try:
            if held:
                self._client.zrem(self._slots, *held)
        except (redis.RedisError, OSError) as exc:  # the leases lapse on their own within lease_s
            log.warning("shared limit %s: could not hand back %d slot(s) (%s); they lapse within %gs",
                        self.key, len(held), exc, self.lease_s)
        finally:
            self._client.close()
        if self.waited:
            log.info("shared limit %s: %d of %d requests waited for a slot, %.1fs in total",
                     self.key, self.waited, self.acquired, self.wait_s)
