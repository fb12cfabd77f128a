"""The model client of a job, for a script or a notebook: the same cache, retries, rate and
concurrency limits and cost accounting, without a job around it.

    import asyncio, evalsweep

    async def main():
        async with evalsweep.open_model("sim_strong", max_concurrency=2) as model:
            one = await model.generate("What is 2 + 2?")
            many = await model.batch([f"What is {i} + 1?" for i in range(100)])
            print(one.text, [r.text for r in many], model.cost_usd, model.stats())

    asyncio.run(main())

`name` is a model option of conf/model/ (sim, sim_strong, gpt4, claude, ...); keyword overrides set
its fields (temperature=0.2, max_concurrency=2, base_url=...). A simulated model without a
base_url gets a simulator of its own, as in a job (and its answers are labelled as such)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import ExitStack, asynccontextmanager
from typing import Any, TypeVar, overload

from pydantic import BaseModel
from tqdm import tqdm

from evalsweep.config.model import ModelConfig, SharedLimitConfig
from evalsweep.config.run import CacheConfig
from evalsweep.config.store import StoreConfig, SweepConfig
from evalsweep.llm.errors import ProviderError
from evalsweep.llm.service import ModelService, api_key_for
from evalsweep.llm.types import GenerateRequest, GenerateResponse, Message, build_request

M = TypeVar("M", bound=BaseModel)
Prompt = str | Sequence[Message | dict[str, str]]


def _messages(prompt: Prompt) -> list[Message]:
    if isinstance(prompt, str):
        return [Message(role="user", content=prompt)]
    return [m if isinstance(m, Message) else Message.model_validate(m) for m in prompt]


class Model:
    """One model, opened by open_model(); the service is closed when the `async with` ends."""

    def __init__(self, config: ModelConfig, service: ModelService, seed: int | None) -> None:
        self.config = config
        self.service = service
        self.seed = seed
        self.cost_usd = 0.0

    def request(self, prompt: Prompt, *, seed: int | None = None, repeat: int = 0) -> GenerateRequest:
        return build_request(self.config, _messages(prompt), seed=self.seed if seed is None else seed, repeat=repeat)

    @overload
    async def generate(self, prompt: Prompt, response_model: None = None, *, seed: int | None = None,
                       repeat: int = 0) -> GenerateResponse: ...

    @overload
    async def generate(self, prompt: Prompt, response_model: type[M], *, seed: int | None = None,
                       repeat: int = 0) -> M: ...

    async def generate(self, prompt: Prompt, response_model: type[M] | None = None, *, seed: int | None = None,
                       repeat: int = 0) -> GenerateResponse | M:
        """A reply (cached when asked before), or with a response_model the validated object.
        Raises ProviderError when the request failed for good, AuthError on a bad key."""
        request = self.request(prompt, seed=seed, repeat=repeat)
        if response_model is not None:
            typed = await self.service.parse(request, response_model)
            self._count(typed.response)
            return typed.unwrap()
        response = await self.service.generate(request)
        self._count(response)
        return response

    def _count(self, response: GenerateResponse) -> None:
        if not response.cached:
            self.cost_usd += self.config.price.cost_of(response.usage)

    async def batch(self, prompts: Sequence[Prompt], *, progress: bool = True,
                    return_errors: bool = False) -> list[GenerateResponse | ProviderError]:
        """Every prompt, in order, at most max_concurrency in flight (held by the service), with a
        progress bar. A prompt that failed for good raises, or with return_errors is its error."""
        bar = tqdm(total=len(prompts), desc=self.config.name, unit="ask", disable=not progress, mininterval=0.5)

        async def one(prompt: Prompt) -> GenerateResponse | ProviderError:
            try:
                return await self.generate(prompt)
            except ProviderError as exc:
                if not return_errors:
                    raise
                return exc
            finally:
                bar.update(1)

        try:
            return list(await asyncio.gather(*(one(p) for p in prompts)))
        finally:
            bar.close()

    def stats(self) -> dict[str, Any]:
        return {**self.service.stats().model_dump(), "cost_usd": round(self.cost_usd, 8)}


@asynccontextmanager
async def open_model(name: str = "sim", *, seed: int | None = 0, cache: CacheConfig | None = None,
                     store: StoreConfig | None = None, shared_limit: SharedLimitConfig | None = None,
                     sweep: SweepConfig | None = None, **overrides: Any) -> AsyncIterator[Model]:
    """The model option `name` with field overrides, ready to ask (see the module doc). `store`,
    `shared_limit` and `sweep` as in a job's config: a Redis store shared with other processes, a
    limit held across them, and a budget they share (sweep.budget_key names it; BudgetReached is
    raised once it is spent)."""
    from evalsweep.app.compose import compose
    from evalsweep.job.experiment import load_env
    from evalsweep.simulator.local import start_for
    from evalsweep.store.budget import script_budget
    from evalsweep.store.checks import check_store

    load_env()
    _, exp = compose([f"model={name}", "tracker=none"])
    config = ModelConfig.model_validate({**exp.model.model_dump(), **overrides})
    api_key_for(config)  # a missing key stops here, before anything is sent
    store, cache = store or exp.store, cache or exp.cache
    shared_limit = shared_limit or exp.shared_limit
    check_store(store, cache, shared_limit)  # an unreachable store, or sqlite on NFS, stops here too
    with ExitStack() as stack:
        base_url = start_for(config, stack)
        service = ModelService(config, cache, base_url, shared_limit, store, script_budget(sweep))
        try:
            yield Model(config, service, seed)
        finally:
            await service.aclose()
