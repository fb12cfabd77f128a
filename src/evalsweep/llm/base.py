"""The one async interface every provider implements, and how a provider's client is made
(the classes in evalsweep.llm.providers.PROVIDERS, built-in or your own)."""

from __future__ import annotations

from typing import Protocol

from evalsweep.config.model import ModelConfig
from evalsweep.llm.types import GenerateRequest, GenerateResponse


class ProviderClient(Protocol):
    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        """One attempt: no retries here. Raises TransientError, PermanentError or AuthError."""
        ...

    async def aclose(self) -> None: ...


class Provider(Protocol):
    """A client class as `model.provider` names it. ModelService makes one client per job, on the
    job's first request that misses the cache, and closes it when the job ends."""

    @classmethod
    def from_config(cls, cfg: ModelConfig, *, api_key: str, base_url: str | None) -> ProviderClient:
        """The client for this model. api_key: the value of cfg.api_key_env (a placeholder for a
        simulated model that needs none); base_url: cfg.base_url, or the URL of the simulator the
        job started for a simulated model."""
        ...

    async def generate(self, request: GenerateRequest) -> GenerateResponse: ...

    async def aclose(self) -> None: ...
