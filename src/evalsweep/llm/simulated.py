"""What a simulated model sends beyond what its provider's API takes, added around any client.

The simulator samples like a stochastic model, by the request's seed and temperature. The Anthropic
Messages API has no seed, and this project's Anthropic client sends no temperature or top_p, so a
simulated Claude would answer every seed alike. ModelService wraps a simulated model's client in
SimulatorExtras, which adds them as extra body fields and a header at send time (after the cache
key is made, so keys are unchanged): the provider clients never know they talk to the simulator.
"""

from __future__ import annotations

from typing import Any

from evalsweep.llm.base import ProviderClient
from evalsweep.llm.types import GenerateRequest, GenerateResponse

SEED_HEADER = "x-evalsweep-seed"  # what evalsweep.simulator.anthropic_wire reads


def simulator_body(request: GenerateRequest) -> dict[str, Any]:
    """The body fields the simulator samples by that the Anthropic client does not send."""
    return {k: v for k, v in (("temperature", request.temperature), ("top_p", request.top_p)) if v is not None}


class SimulatorExtras:
    """A ProviderClient that sends each request with the simulator's extras, then delegates."""

    def __init__(self, inner: ProviderClient) -> None:
        self._inner = inner

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        body = simulator_body(request)
        body.update(request.extra_body or {})  # the model's own extra_body wins
        headers = {SEED_HEADER: str(request.seed)} if request.seed is not None else {}
        headers.update(request.extra_headers or {})
        return await self._inner.generate(request.model_copy(update={"extra_body": body or None,
                                                                     "extra_headers": headers or None}))

    async def aclose(self) -> None:
        await self._inner.aclose()


def with_simulator_extras(provider: str, client: ProviderClient) -> ProviderClient:
    """The client as a simulated model of this provider uses it: only Anthropic's API lacks what
    the simulator reads (OpenAI's and Gemini's clients send seed and temperature themselves)."""
    return SimulatorExtras(client) if provider == "anthropic" else client
