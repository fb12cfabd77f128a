"""The per-sample record written to results.jsonl: built in one place, read back on resume."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evalsweep.llm.types import Message, Usage


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    message: str
    status: int | None = None


class ResultRecord(BaseModel):
    """One line of results.jsonl: one sample (x seed x repeat) of one job."""

    model_config = ConfigDict(extra="forbid")

    sample_id: str
    model: str
    provider: str
    prompt: str
    dataset: str
    seed: int
    repeat: int = 0
    messages: list[Message]
    output: str | None
    target: str
    score: float | None
    scorer: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_s: float = 0.0
    cached: bool = False
    attempts: int = 0
    finish_reason: str | None = None
    request_id: str | None = None
    error: ErrorInfo | None = None
    simulated: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def identity(self) -> tuple[str, int, int]:
        """Stable identity used by resume: the same sample, seed and repeat is the same work."""
        return (self.sample_id, self.seed, self.repeat)
