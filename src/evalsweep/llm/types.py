"""Pydantic models that cross the client boundary: what is asked and what comes back."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    content: str


class GenerateRequest(BaseModel):
    """Everything that decides a response. Retries, timeouts and concurrency are not here."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["openai", "anthropic"]
    model: str
    base_url: str | None = None
    messages: list[Message]
    temperature: float = 0.0
    max_tokens: int = 256
    top_p: float | None = None
    stop: list[str] | None = None
    seed: int | None = None
    # Index of this ask when one item is asked several times in a job (repeats).
    repeat: int = 0

    @property
    def system(self) -> str | None:
        parts = [m.content for m in self.messages if m.role == "system"]
        return "\n\n".join(parts) if parts else None

    @property
    def chat(self) -> list[Message]:
        return [m for m in self.messages if m.role != "system"]


class Usage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_tokens: int = 0
    output_tokens: int = 0


class GenerateResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None
    request_id: str | None = None
    model: str | None = None
    cached: bool = False
    latency_s: float = 0.0
    attempts: int = 1
