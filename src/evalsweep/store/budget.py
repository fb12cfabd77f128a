"""The sweep's budget (sweep.max_cost_usd): spend counted over every job of a sweep, on one machine
(budget_sqlite) or across nodes (budget_redis).

Each request that misses the cache first reserves its estimated cost; the store admits it only
while spent + reserved + estimate stays within the cap, and makes it wait while requests in flight
elsewhere may still settle below their reservations. The actual cost settles it. So the sweep stops
once less than one request's cost is left: it ends within one request's cost of the cap. The
estimate is the request's most (its input, ~4 characters a token, plus max_tokens of output) until
answers of the model have settled, then the most one of them actually cost. A reservation is a
lease (evalsweep.store.leases): a process killed mid-request does not hold its reservation for good.

Once a reservation is refused, BudgetReached is raised: the job's runner stops sending, as for
model.max_cost_usd, and its summary says the sweep's budget stopped it. Cached answers cost nothing
and reserve nothing."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from evalsweep.config.model import PriceConfig
from evalsweep.config.store import SweepConfig
from evalsweep.errors import ConfigError, EvalsweepError
from evalsweep.llm.types import GenerateRequest, Usage
from evalsweep.store.leases import LeaseKeeper

log = logging.getLogger(__name__)

BUDGET_FILE = "sweep_budget.sqlite"  # in the sweep dir (a single run: its own dir)
POLL_MIN_S = 0.005
POLL_MAX_S = 0.05
Verdict = Literal["ok", "wait", "spent"]


class BudgetReached(EvalsweepError):
    """No new request: the sweep's budget is spent (within one request's cost)."""


class BudgetSpec(BaseModel):
    """Which budget a job counts against: its cap, its key, and the local file when no Redis."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cap_usd: float
    key: str
    path: Path


def budget_spec(sweep: SweepConfig, home: Path) -> BudgetSpec | None:
    """The job's budget; `home` is the sweep dir (a single run: its own dir). A budget_key shared by
    jobs in other dirs (or by scripts) is kept in a machine-wide file, as the shared limit is."""
    if sweep.max_cost_usd is None:
        return None
    if sweep.budget_key:
        base = Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())
        uid = os.getuid() if hasattr(os, "getuid") else "user"
        return BudgetSpec(cap_usd=sweep.max_cost_usd, key=sweep.budget_key,
                          path=base / f"evalsweep-{uid}" / "budgets.sqlite")
    return BudgetSpec(cap_usd=sweep.max_cost_usd, key=str(home.resolve()), path=home / BUDGET_FILE)


def script_budget(sweep: SweepConfig | None) -> BudgetSpec | None:
    """A script's budget (evalsweep.open_model): it has no sweep dir, so it names its budget."""
    if sweep is None or sweep.max_cost_usd is None:
        return None
    if not sweep.budget_key:
        raise ConfigError("a script's sweep.max_cost_usd needs sweep.budget_key (the name every process "
                          "sharing the budget gives), e.g. SweepConfig(max_cost_usd=5, budget_key='my-run')")
    return budget_spec(sweep, Path.cwd())


class BudgetStore(Protocol):
    """Where the spend is counted; blocking calls (SweepBudget runs them in threads), atomic each."""

    def reserve(self, rid: str, amount: float, cap: float) -> Verdict: ...

    def settle(self, rid: str, actual: float | None, model: str) -> float | None:
        """Drop the reservation and add `actual` (None: the request failed, nothing spent); return
        the most any settled request of `model` has cost."""
        ...

    def renew(self, rids: list[str]) -> None: ...

    def spent(self) -> float: ...

    def observed_max(self, model: str) -> float | None: ...

    def close(self) -> None: ...


class Bill:
    """What one request turned out to cost (paid() with its usage once it succeeded)."""

    def __init__(self, price: PriceConfig) -> None:
        self._price = price
        self.actual: float | None = None

    def paid(self, usage: Usage) -> None:
        self.actual = self._price.cost_of(usage)  # prompt-cache tokens at their own rates, as the job bills them


class NoBudget:
    """No sweep budget: every request goes."""

    @asynccontextmanager
    async def hold(self, request: GenerateRequest) -> AsyncIterator[Bill]:
        yield Bill(PriceConfig())

    def close(self) -> None:
        pass


class SweepBudget:
    """One job's (or script's) view of the sweep's budget, for one model at its prices."""

    def __init__(self, store: BudgetStore, cap_usd: float, price: PriceConfig, model: str, *,
                 lease_s: float, errors: tuple[type[BaseException], ...]) -> None:
        self.store = store
        self.cap_usd = cap_usd
        self.price = price
        self.model = model
        self._errors = errors
        self._observed = store.observed_max(model)
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._gate: asyncio.Lock | None = None
        self._rng = random.Random()  # own RNG for poll jitter: the job seeds the global one
        self._reached: str | None = None
        self._keeper = LeaseKeeper(self._renew_held, lease_s / 3, "budget-leases", errors=errors)

    def estimate(self, request: GenerateRequest) -> float:
        """The request's most: its input (~4 characters a token) and every output token it may ask
        for; once answers of this model have settled, no more than the most one of them cost."""
        chars = sum(len(m.content) for m in request.messages)
        upper = self.price.cost(chars // 4 + 1, request.max_tokens)
        return upper if self._observed is None else min(upper, self._observed)

    def _renew_held(self) -> None:
        with self._lock:
            held = list(self._held)
        if held:
            self.store.renew(held)

    def _stop(self) -> BudgetReached:
        spent = self.store.spent()
        self._reached = (f"sweep budget of ${self.cap_usd:g} reached (${spent:.6f} spent by the sweep's jobs; "
                         f"less than one request's cost left): no new requests are sent")
        log.warning("%s", self._reached)
        return BudgetReached(self._reached)

    async def _reserve(self, amount: float) -> str:
        if self._reached is not None:
            raise BudgetReached(self._reached)
        if self._gate is None:
            self._gate = asyncio.Lock()
        rid = uuid.uuid4().hex
        delay = POLL_MIN_S
        async with self._gate:  # one poller per process while the budget is tight
            while True:
                verdict = await asyncio.to_thread(self.store.reserve, rid, amount, self.cap_usd)
                if verdict == "ok":
                    with self._lock:
                        self._held.add(rid)
                    return rid
                if verdict == "spent" and self._reached is None:
                    # Another job may have learnt what this model's answers cost: a smaller estimate may fit.
                    observed = await asyncio.to_thread(self.store.observed_max, self.model)
                    if observed is not None and observed < amount:
                        self._observed = amount = observed
                        continue
                    raise self._stop()
                if self._reached is not None:
                    raise BudgetReached(self._reached)
                # Requests in flight elsewhere hold the rest: wait for them to settle.
                await asyncio.sleep(self._rng.uniform(delay / 2, delay))
                delay = min(delay * 1.5, POLL_MAX_S)

    async def _settle(self, rid: str, actual: float | None) -> None:
        with self._lock:
            self._held.discard(rid)
        observed = await asyncio.shield(asyncio.to_thread(self.store.settle, rid, actual, self.model))
        if observed is not None:
            self._observed = observed

    @asynccontextmanager
    async def hold(self, request: GenerateRequest) -> AsyncIterator[Bill]:
        """Reserve the request's estimated cost (BudgetReached when the budget is spent), then settle
        with what it cost (nothing when it failed)."""
        rid = await self._reserve(self.estimate(request))
        bill = Bill(self.price)
        try:
            yield bill
        finally:
            await self._settle(rid, bill.actual)

    def close(self) -> None:
        """Drop reservations still held (a cancelled request) and stop renewing. Blocking."""
        self._keeper.stop()
        with self._lock:
            held, self._held = list(self._held), set()
        try:
            for rid in held:
                self.store.settle(rid, None, self.model)
        except self._errors as exc:  # they lapse on their own within one lease
            log.warning("sweep budget: could not drop %d reservation(s) (%s); they lapse on their own",
                        len(held), exc)
        finally:
            self.store.close()
