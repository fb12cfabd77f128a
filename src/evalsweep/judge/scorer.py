"""The judge: a model of its own (any conf/model option) that grades one output at a time through
a typed Grade response. Its calls go through a ModelService like the model under test (cache, rate
limits, retries) and are priced with the judge's own prices, counted apart.

In a job it is an ordinary scorer: `scorer=judge` finds JUDGE in evalsweep.task.scoring.SCORERS,
which checks the judge before any call and opens one JudgeScorer for the job."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

from evalsweep.config.model import ModelConfig
from evalsweep.config.run import CacheConfig
from evalsweep.config.store import StoreConfig
from evalsweep.config.schema import ExperimentConfig
from evalsweep.judge.grading import grade_model, render
from evalsweep.judge.setup import judge_model
from evalsweep.llm.errors import ProviderError
from evalsweep.llm.service import ModelService, ServiceStats
from evalsweep.llm.types import GenerateRequest, Message, Usage, build_request
from evalsweep.results.rows import JudgeInfo
from evalsweep.simulator.local import start_for
from evalsweep.store.budget import BudgetSpec
from evalsweep.structured.ask import ask
from evalsweep.task.scorer_api import ScoreInput, Scored

log = logging.getLogger(__name__)


def price_of(usage: Usage, model: ModelConfig) -> float:
    return model.price.cost_of(usage)


class JudgeScorer:
    def __init__(self, *, model: ModelConfig, rubric: str, grades: Mapping[str, float], cache: CacheConfig,
                 store: StoreConfig | None = None, budget: BudgetSpec | None = None) -> None:
        self.model = model
        self.rubric = rubric
        self.grades = dict(grades)
        self.grade_model = grade_model(self.grades)
        # The judge's own simulator when it is a simulated model without a base_url; stopped in aclose.
        self._stack = ExitStack()
        base_url = start_for(model, self._stack)
        # Its cache in the job's store too, and its spend in the sweep's budget (at the judge's prices).
        self.service = ModelService(model, cache, base_url, store=store, budget=budget)
        # The judge's own concurrency bound, inside the job's (a judge may allow fewer requests).
        self._slots = asyncio.Semaphore(model.max_concurrency)

    def request_for(self, prompt: str, seed: int | None, repeat: int) -> GenerateRequest:
        return build_request(self.model, [Message(role="user", content=prompt)], seed=seed, repeat=repeat)

    async def grade(self, *, sample_id: str, question: str, target: str, output: str,
                    metadata: Mapping[str, Any] | None, seed: int | None, repeat: int) -> JudgeInfo:
        """The judge's grade of `output`. Never raises for a failed or unparseable judgement: that
        is recorded on the row (error, raw) and the job goes on. A rejected key (AuthError) stops it;
        a spent sweep budget (BudgetReached) ends the sample as it does for the model's own request."""
        prompt = render(self.rubric, sample_id=sample_id, question=question, target=target, output=output,
                        metadata=metadata)
        request = self.request_for(prompt, seed, repeat)
        async with self._slots:
            try:
                result = await ask(self.service, request, self.grade_model, mode=self.model.structured_output,
                                   max_reasks=self.model.structured_reasks)
            except ProviderError as exc:
                log.warning("judge %s failed on sample %s: %s", self.model.name, sample_id, exc)
                return JudgeInfo(model=self.model.name, error=f"judge request failed: {exc}"[:1000],
                                 asks=0)
        response = result.response
        cost = 0.0 if response.cached else price_of(response.usage, self.model)
        common: dict[str, Any] = {"model": self.model.name, "asks": result.asks, "cached": response.cached,
                                  "usage": response.usage, "cost_usd": cost}
        if result.value is None:
            return JudgeInfo(**common, raw=result.raw[:4000], error=(
                f"judge reply could not be parsed as a grade ({'/'.join(self.grades)}) after "
                f"{result.asks} ask(s): {result.error}")[:1500])
        grade = str(result.value.grade)  # type: ignore[attr-defined]
        return JudgeInfo(**common, grade=grade, score=self.grades[grade],
                         explanation=str(result.value.explanation))  # type: ignore[attr-defined]

    async def score(self, item: ScoreInput) -> Scored:
        """The JobScorer face: the judge's grade of one answer, and its record for the row."""
        judged = await self.grade(sample_id=item.sample.id, question=item.question, target=item.sample.target,
                                  output=item.text, metadata=item.sample.metadata, seed=item.seed,
                                  repeat=item.repeat)
        return Scored(judged.score, judge=judged)

    def stats(self) -> ServiceStats:
        return self.service.stats()

    async def aclose(self) -> None:
        try:
            await self.service.aclose()
        finally:
            self._stack.close()


class JudgeFactory:
    """scorer=judge in the scorer registry."""

    def check(self, exp: ExperimentConfig) -> None:
        judge_model(exp)  # a bad option, rubric or a missing judge key stops here, before any call

    def open(self, exp: ExperimentConfig) -> JudgeScorer:
        model = judge_model(exp)
        assert model is not None and exp.scorer.rubric is not None  # scorer=judge, enforced by ScorerConfig
        return JudgeScorer(model=model, rubric=exp.scorer.rubric, grades=exp.scorer.grades, cache=exp.cache,
                           store=exp.store, budget=exp.budget)


JUDGE = JudgeFactory()
