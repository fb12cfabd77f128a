"""The one async interface every provider implements."""

from __future__ import annotations

from typing import Protocol

from evalsweep.llm.types import GenerateRequest, GenerateResponse


class ProviderClient(Protocol):
    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        """One attempt: no retries here. Raises TransientError, PermanentError or AuthError."""
        ...

    async def aclose(self) -> None: ...
