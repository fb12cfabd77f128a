"""What each workload reports: figures, each a ratio against a baseline from the same run."""

from __future__ import annotations

import statistics
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Figure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workload: str
    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    # value / baseline_value: read with `better` (lower or higher is better).
    ratio: float
    better: str = "lower"
    target: str | None = None
    met: bool | None = None
    note: str | None = None


class WorkloadResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workload: str
    params: dict[str, Any]
    figures: list[Figure]
    # Every repetition's raw numbers, so a reader can see the spread behind a median.
    raw: dict[str, Any] = Field(default_factory=dict)


def median(values: list[float]) -> float:
    return statistics.median(values)
