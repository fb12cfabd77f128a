"""The simulator's counters (`SimStats`, served at /_sim/stats) and the fault RNG they share a lock with."""

from __future__ import annotations

import random
import threading

from pydantic import BaseModel, Field

from evalsweep.simulator.config import FAULT_KINDS


class SimStats(BaseModel):
    """Counters of the model endpoints since start or the last reset."""

    requests_total: int = 0
    responses_ok: int = 0
    faults: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))
    by_model: dict[str, int] = Field(default_factory=dict)
    max_in_flight: int = 0
    in_flight: int = 0
    # Structured answers spoiled on purpose (FaultConfig.invalid_structured_*).
    invalid_structured: int = 0
    # Requests parsed, by wire format (openai, anthropic, gemini), and the structured ones among them
    # by how the object was asked for (openai_json_schema, anthropic_tool, gemini_json_schema, text, ...).
    by_format: dict[str, int] = Field(default_factory=dict)
    structured_by_wire: dict[str, int] = Field(default_factory=dict)
    # The batch APIs (evalsweep.simulator.batch_common): batches created, the requests they held, and
    # "create:<id>" / "results:<id>" in the order they happened.
    batches_created: int = 0
    batch_requests: int = 0
    batch_events: list[str] = Field(default_factory=list)
    # The server-side rate limit (FaultConfig.rate_limit): requests answered 429 for it, and the
    # requests admitted in each of its windows so far, in order.
    rate_limited: int = 0
    admitted_by_window: list[int] = Field(default_factory=list)


# The fault kind of a 429 for the server-side rate limit, counted in SimStats.rate_limited.
RATE_LIMITED = "rate_limited"


class SimState:
    """Counters and the fault RNG; mutated on the server loop, read from any thread."""

    def __init__(self, fault_seed: int) -> None:
        self._lock = threading.Lock()
        self._fault_seed = fault_seed
        self.in_flight = 0
        self._zero()

    def _zero(self) -> None:
        self.requests_total = 0
        self.responses_ok = 0
        self.faults = dict.fromkeys(FAULT_KINDS, 0)
        self.by_model: dict[str, int] = {}
        self.max_in_flight = self.in_flight
        self.invalid_structured_count = 0
        self.by_format: dict[str, int] = {}
        self.structured_by_wire: dict[str, int] = {}
        self.batches_created = 0
        self.batch_requests = 0
        self.batch_events: list[str] = []
        self.rate_limited = 0
        self.admitted_by_window: list[int] = []
        self.rng = random.Random(self._fault_seed)

    def reset(self) -> None:
        # Also restarts the fault sequence, so a reset server replays the same faults.
        with self._lock:
            self._zero()

    def begin(self) -> None:
        with self._lock:
            self.requests_total += 1
            self.in_flight += 1
            if self.in_flight > self.max_in_flight:
                self.max_in_flight = self.in_flight

    def end(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def saw_model(self, model: str) -> None:
        with self._lock:
            self.by_model[model] = self.by_model.get(model, 0) + 1

    def saw_format(self, fmt: str, structured_wire: str | None) -> None:
        with self._lock:
            self.by_format[fmt] = self.by_format.get(fmt, 0) + 1
            if structured_wire is not None:
                self.structured_by_wire[structured_wire] = self.structured_by_wire.get(structured_wire, 0) + 1

    def ok(self) -> None:
        with self._lock:
            self.responses_ok += 1

    def invalid_structured(self) -> None:
        with self._lock:
            self.invalid_structured_count += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            if kind == RATE_LIMITED:
                self.rate_limited += 1
            else:
                self.faults[kind] += 1

    def admitted(self, window: int) -> None:
        """One request admitted by the rate limit in this window (numbered from 0)."""
        with self._lock:
            while len(self.admitted_by_window) <= window:
                self.admitted_by_window.append(0)
            self.admitted_by_window[window] += 1

    def batch_created(self, batch_id: str, n_requests: int) -> None:
        with self._lock:
            self.batches_created += 1
            self.batch_requests += n_requests
            self.batch_events.append(f"create:{batch_id}")

    def batch_event(self, event: str) -> None:
        with self._lock:
            self.batch_events.append(event)

    def draw(self) -> float:
        with self._lock:
            return self.rng.random()

    def snapshot(self) -> SimStats:
        with self._lock:
            return SimStats(
                requests_total=self.requests_total,
                responses_ok=self.responses_ok,
                faults=dict(self.faults),
                by_model=dict(self.by_model),
                max_in_flight=self.max_in_flight,
                in_flight=self.in_flight,
                invalid_structured=self.invalid_structured_count,
                by_format=dict(self.by_format),
                structured_by_wire=dict(self.structured_by_wire),
                batches_created=self.batches_created,
                batch_requests=self.batch_requests,
                batch_events=list(self.batch_events),
                rate_limited=self.rate_limited,
                admitted_by_window=list(self.admitted_by_window),
            )
