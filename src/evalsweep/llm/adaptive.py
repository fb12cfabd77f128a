"""Adaptive limits (model.adaptive_limits, on by default): the job finds the rate its server allows
instead of being told it. One controller per model service holds the current target (requests in
flight, and when the next request may go) and applies it to the limiters: this job's own
(evalsweep.llm.gate) and the limit shared across jobs (any limiter with `set_limits`).

What it reads, each reply's RateLimitInfo (evalsweep.llm.ratelimit_headers) and each error:

- Budget from headers. A reply says how many requests (and tokens) are left in the server's
  window and when it resets. Requests are numbered as they go; a reply to request s says what was
  left once s was counted, so every request sent after s is taken off that figure, and so is
  every earlier one still unanswered (connections do not keep order: it may have reached the
  server after s). Only a reply to a later request replaces the figure, so a stale one arriving
  late never raises it. A request goes only while the estimate covers it; while answers are due
  it looks again every POLL_S (they may show budget left), else it waits until the reset, after
  which the budget is the whole limit again, less what is still in flight.
- Share of it. Another job on the same key spends the same budget unseen, so a job takes only
  `share` of what a figure shows before the next figure comes: 0.5 at first, won back by
  successes (SHARE_STEP of it per `limit` of them) up to 1 for a job alone, and lowered to the share
  that was its own when the figures fall faster than its own requests explain (or halved by a
  429 despite the budget). A 429 is then rare even for jobs that share a key.
- AIMD on concurrency. Until the first answer, at most PROBE requests are in flight; then up to
  max_concurrency. A 429 (or 529, overloaded) halves the concurrency (once per round of requests:
  the 429s of requests sent before the cut do not cut again) and pauses new requests for its
  retry-after; each success adds 1/concurrency back (one more slot per round), up to max_concurrency.
  This alone holds a server that sends no headers, only 429s.

Fixed limits (model.rpm / tpm, shared_limit.rpm / tpm) still apply before this, and
shared_limit.max_concurrency caps what is set on the shared limiter.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from evalsweep.llm.errors import ProviderError
from evalsweep.llm.gate import ConcurrencyGate
from evalsweep.llm.ratelimit_info import LimitState, RateLimitInfo

log = logging.getLogger(__name__)

PROBE = 8  # requests in flight before any answer has shown what the server allows
CONGESTION = frozenset({429, 529})
MAX_SLEEP_S = 0.1
MIN_SHARE = 0.1
START_SHARE = 0.5  # until successes show the budget is this job's alone
FOREIGN_MIN = 4  # requests counted between two figures before a share is read from them
SHARE_STEP = 0.25  # share won back per `limit` successes (four windows alone: all of it)
POLL_S = 0.01  # how often a request spent of budget looks again while no reset time is known


class AdaptableLimiter(Protocol):
    """A limit shared across jobs (evalsweep.llm.shared_limit, or another backend) that can be moved."""

    def set_limits(self, max_concurrency: int, rpm: int | None) -> None: ...


@dataclass(frozen=True)
class Ticket:
    """One admitted request: its number and the running totals once it was counted."""

    seq: int
    tokens: float
    tokens_sent: float


@dataclass
class _Known:
    limit: int | None
    remaining: float
    raw: float  # the figure as the server sent it (remaining is less what may not be in it)
    sent_at: float  # the running total (requests or tokens) at the request the figure came from
    seq: int
    reset_at: float  # monotonic time; inf when unknown


class _Budget:
    """One budget of the server (requests, or tokens) as the replies tell it."""

    def __init__(self) -> None:
        self.known: _Known | None = None

    def observe(self, s: LimitState | None, seq: int, sent_at: float, now: float, unseen: float) -> float | None:
        """unseen: requests (or tokens) sent before this one and not answered yet, which may have
        reached the server after it (connections do not keep order) and are then not in its figure.
        Returns this job's share of what the server counted since the last figure, when others
        spent part of it too (another job on the same key); else None."""
        if s is None or s.remaining is None:
            return None
        reset_at = now + s.reset_s if s.reset_s is not None else math.inf
        k = self.known
        # A later request's figure counts more of ours; an earlier one's arriving late is stale,
        # unless the figure held has expired.
        if not (k is None or seq > k.seq or now >= k.reset_at):
            return None
        self.known = _Known(s.limit, float(s.remaining) - unseen, float(s.remaining), sent_at, seq, reset_at)
        if k is None or now >= k.reset_at or s.remaining > k.raw:
            return None  # another window: nothing to compare
        counted, ours = k.raw - s.remaining, sent_at - k.sent_at
        return ours / counted if counted >= FOREIGN_MIN and counted > ours else None

    def expire(self, now: float, sent: float, seq: int, in_flight: float) -> None:
        """At its reset the whole limit is there again, less what is in flight (it may land in the new window)."""
        k = self.known
        if k is not None and now >= k.reset_at:
            self.known = None if k.limit is None else _Known(k.limit, k.limit - in_flight, k.limit, sent, seq,
                                                              math.inf)

    def wait_s(self, need: float, sent: float, now: float, answers_due: bool, share: float = 1.0) -> float:
        """0 when `share` of the budget covers `need`; else how long to wait: until the reset, or,
        while answers are due that may show more of the budget left, a short poll."""
        k = self.known
        if k is None:
            return 0.0
        if k.limit is not None:
            need = min(need, k.limit)  # one request larger than a window goes when the window is fresh
        usable = max(share * k.remaining, min(k.remaining, need))  # the last one still goes
        if usable - (sent - k.sent_at) >= need:
            return 0.0
        if answers_due or not math.isfinite(k.reset_at):
            return min(POLL_S, k.reset_at - now)
        return k.reset_at - now


class AdaptiveLimits:
    def __init__(self, max_concurrency: int, *, shared: AdaptableLimiter | None = None, shared_cap: int | None = None,
                 rpm: int | None = None, label: str = "", clock: Callable[[], float] = time.monotonic) -> None:
        self.ceiling = max_concurrency
        self.window = float(min(PROBE, max_concurrency))
        self.gate = ConcurrencyGate(int(self.window))
        self._shared = shared
        self._shared_cap = shared_cap or max_concurrency
        self._rpm = rpm
        self._label = label
        self._clock = clock
        self._probing = True
        self._seq = 0
        self._tokens_sent = 0.0
        self._in_flight = 0
        self._in_flight_tokens = 0.0
        self._open: dict[int, float] = {}  # requests in flight: number -> tokens
        self._cut_after = 0  # 429s of requests up to this number do not cut again
        self._pause_until = 0.0
        self._requests = _Budget()
        self._tokens = _Budget()
        self._announced = False
        self.cuts = 0
        self.waited = 0  # requests that waited for the server's budget or a 429's retry-after
        self.lowest = max_concurrency  # the fewest in flight a cut left
        # The share of the budget a reply shows that this job takes before the next reply: 1 alone;
        # halved by a 429 despite the budget (another job on the same key spends it too), won back
        # by successes. Jobs sharing a key each take part of what is left, which converges on it.
        self.share = START_SHARE

    # -- before a request ------------------------------------------------------------------

    async def admit(self, tokens: float) -> Ticket:
        """Wait until the pause is over and the known budget covers this request; then count it."""
        waited = False
        while True:
            now = self._clock()
            wait = self._pause_until - now
            if wait <= 0:
                self._requests.expire(now, self._seq, self._seq, self._in_flight)
                self._tokens.expire(now, self._tokens_sent, self._seq, self._in_flight_tokens)
                due = bool(self._open)
                wait = max(self._requests.wait_s(1, self._seq, now, due, self.share),
                           self._tokens.wait_s(tokens, self._tokens_sent, now, due, self.share))
            if wait <= 0:
                break
            waited = True
            # Looked at again at least every MAX_SLEEP_S: an answer may have moved the budget meanwhile.
            await asyncio.sleep(min(max(wait, 0.001), MAX_SLEEP_S))
        if waited:
            self.waited += 1
        self._seq += 1
        self._tokens_sent += tokens
        self._in_flight += 1
        self._in_flight_tokens += tokens
        self._open[self._seq] = tokens
        return Ticket(self._seq, tokens, self._tokens_sent)

    # -- after it --------------------------------------------------------------------------

    def succeeded(self, ticket: Ticket, info: RateLimitInfo | None) -> None:
        if self.share < 1.0:  # won back first: what this reply's figure shows may take it down again
            limit = self._requests.known.limit if self._requests.known is not None else None
            self.share = min(1.0, self.share + SHARE_STEP / (limit or self.ceiling))
        self._done(ticket, info)
        if self._probing:  # the server answered: no need to hold back further
            self._probing = False
            self.window = float(self.ceiling)
        elif self.window < self.ceiling:
            self.window = min(float(self.ceiling), self.window + 1.0 / self.window)
        self._apply()

    def failed(self, ticket: Ticket, exc: ProviderError) -> None:
        self._done(ticket, exc.rate_limit)
        if exc.status not in CONGESTION:
            return
        now = self._clock()
        if exc.retry_after is not None:
            self._pause_until = max(self._pause_until, now + exc.retry_after)
        if ticket.seq > self._cut_after:
            self._probing = False
            self.window = max(1.0, self.window / 2)
            if self._requests.known is not None or self._tokens.known is not None:
                self.share = max(MIN_SHARE, self.share / 2)
            self._cut_after = self._seq
            self.cuts += 1
            self._apply()
            self.lowest = min(self.lowest, self.gate.limit)

    def cancelled(self, ticket: Ticket) -> None:
        """A request that ended without a reply (timeout, connection error): in flight no more."""
        self._done(ticket, None)

    def _done(self, ticket: Ticket, info: RateLimitInfo | None) -> None:
        self._in_flight -= 1
        self._in_flight_tokens -= ticket.tokens
        self._open.pop(ticket.seq, None)
        if info is None:
            return
        if not self._announced:
            self._announced = True
            log.info("%s: the server sends rate-limit headers (%s); adapting to them", self._label, describe(info))
        now = self._clock()
        earlier = [tokens for seq, tokens in self._open.items() if seq < ticket.seq]
        mine = self._requests.observe(info.requests, ticket.seq, ticket.seq, now, len(earlier))
        self._tokens.observe(info.tokens, ticket.seq, ticket.tokens_sent, now, sum(earlier))
        if mine is not None:  # others spend this budget too: take no more than the share that was ours
            self.share = max(MIN_SHARE, min(self.share, mine))

    def _apply(self) -> None:
        target = max(1, min(self.ceiling, int(self.window)))
        if target == self.gate.limit:
            return
        self.gate.set_limit(target)
        if self._shared is not None:
            self._shared.set_limits(min(self._shared_cap, target), self._rpm)

    def summary(self) -> str:
        cuts = f"{self.cuts} cut(s) on 429, down to {self.lowest}" if self.cuts else "no cut on 429"
        return (f"{self._label}: adaptive limits ended at {self.gate.limit} in flight ({cuts}); {self.waited} of "
                f"{self._seq} requests waited for the server's budget or a retry-after")


def describe(info: RateLimitInfo) -> str:
    parts = []
    for name, s in (("requests", info.requests), ("tokens", info.tokens)):
        if s is not None and s.limit is not None:
            reset = f", resets in {s.reset_s:.3g}s" if s.reset_s is not None else ""
            parts.append(f"{s.remaining}/{s.limit} {name} left{reset}")
    return "; ".join(parts) or "no limits"
