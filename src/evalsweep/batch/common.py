"""What every provider's batch backend shares: the interface rounds drive (Backend), a batch's
state as polled (Status), one request's result (Result), and the errors of a batch API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, Protocol

from evalsweep.config.model import ModelConfig
from evalsweep.errors import ConfigError
from evalsweep.llm.errors import PermanentError, ProviderError
from evalsweep.llm.types import GenerateRequest, GenerateResponse

Outcome = Literal["succeeded", "errored", "expired", "canceled"]
Polled = Literal["in_progress", "canceling", "ended"]


class BatchLost(Exception):
    """The provider does not know the batch (another endpoint, or a simulator that was restarted)."""


@dataclass
class Result:
    outcome: Outcome
    response: GenerateResponse | None = None
    error: ProviderError | None = None


@dataclass
class Status:
    state: Polled
    counts: dict[str, int]


class Backend(Protocol):
    provider: str
    max_requests: int
    max_bytes: int

    def line_bytes(self, cid: str, request: GenerateRequest) -> int: ...

    async def upload(self, items: list[tuple[str, GenerateRequest]]) -> str | None:
        """The requests' file, where the batch API takes one (OpenAI); None where they go inline."""
        ...

    async def create(self, items: list[tuple[str, GenerateRequest]], file_id: str | None) -> str: ...

    async def find(self, file_id: str) -> str | None:
        """The batch made of this upload, if any (a crash between upload and create's reply)."""
        ...

    async def poll(self, batch_id: str) -> Status: ...

    async def results(self, batch_id: str, requests: dict[str, GenerateRequest]) -> dict[str, Result]: ...

    async def cancel(self, batch_id: str) -> Status: ...

    async def aclose(self) -> None: ...


@contextmanager
def no_endpoint(cfg: ModelConfig, call: str) -> Iterator[None]:
    """A 404 on submitting: the server has no batch API (model.batch_api=true on one that has none)."""
    try:
        yield
    except BatchLost:
        raise ConfigError(f"run.mode=batch: {cfg.base_url or cfg.provider} answered 404 to {call} (model "
                          f"{cfg.name}): it has no batch API; use run.mode=live") from None


def errored(message: str, status: int | None) -> Result:
    return Result("errored", error=PermanentError(f"batch request failed: {message}", status=status,
                                                  cause=str(status) if status else "batch_error"))
