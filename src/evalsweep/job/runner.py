"""The async loop: samples -> requests -> responses -> scored records, max_concurrency at once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from evalsweep.config.schema import ExperimentConfig
from evalsweep.task.data import Sample
from evalsweep.llm.errors import ProviderError
from evalsweep.llm.service import ModelService
from evalsweep.llm.types import GenerateRequest, GenerateResponse, Message, Usage, build_request, total_usage
from evalsweep.store.budget import BudgetReached
from evalsweep.job.answered import AnswerTotals, served_warning, truncated_warning
from evalsweep.job.metrics import RunningScores
from evalsweep.results.rows import ErrorInfo, JsonlWriter, ResultRecord, TurnInfo
from evalsweep.judge.grading import JudgeTotals
from evalsweep.task.scorer_api import ScoreInput
from evalsweep.task.scorer_set import JobScores, ScorerSet
from evalsweep.structured.ask import Structured, StructuredStats
from evalsweep.task.solvers import Conversation, Reply, Solver, SolverState

if TYPE_CHECKING:
    from evalsweep.structured.answers import StructuredAnswers

log = logging.getLogger(__name__)
_BAR = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
_BAR_NO_ETA = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}{postfix}]"
_WARM_SAMPLES = 20  # answers before the ETA is shown


@dataclass
class WorkItem:
    sample: Sample
    repeat: int
    messages: list[Message]


@dataclass
class RunTotals:
    """What the summary needs, accumulated as records arrive (never a list of every record)."""

    scores: RunningScores = field(default_factory=RunningScores)  # the primary metric (`score`)
    metrics: dict[str, RunningScores] = field(default_factory=dict)  # every metric, by name
    n_done: int = 0
    n_errors: int = 0
    n_cached: int = 0
    errors_by_type: Counter[str] = field(default_factory=Counter)
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0  # of output_tokens
    cache_write_tokens: int = 0  # prompt caching: not inside input_tokens
    cache_read_tokens: int = 0
    cost_usd: float = 0.0
    cost_saved_usd: float = 0.0
    # Why a run that ended left samples not run, other than the budget (run.mode=batch: batches in flight).
    stop_reason: str | None = None
    latency_sum_s: float = 0.0
    budget_stopped: bool = False
    # Why the sweep's budget (sweep.max_cost_usd, every job counted) stopped this job, else None.
    sweep_budget_reason: str | None = None
    # Typed answers (structured.response_model) and the judge (scorer=judge), counted apart.
    structured: StructuredStats = field(default_factory=StructuredStats)
    judge: JudgeTotals = field(default_factory=JudgeTotals)
    # Which model answered (evalsweep.job.answered).
    answers: AnswerTotals = field(default_factory=AnswerTotals)

    def add(self, rec: ResultRecord, cost: float) -> None:
        self.n_done += 1
        if self.answers.add(rec):  # once per job: every later row is counted in the summary
            log.warning("%s", served_warning(rec))
        if rec.structured is not None:
            self.structured.count(rec.structured.asks, rec.structured.valid)
        if rec.judge is not None:
            self.judge.add(rec.judge)
        if rec.error is not None:
            self.n_errors += 1
            self.errors_by_type[rec.error.type] += 1
        if rec.score is not None:
            self.scores.add(rec.sample_id, rec.score)
        for name, value in (rec.scores or {}).items():
            self.metrics.setdefault(name, RunningScores()).add(rec.sample_id, value)
        self.input_tokens += rec.usage.input_tokens
        self.output_tokens += rec.usage.output_tokens
        self.reasoning_tokens += rec.usage.reasoning_tokens
        self.cache_write_tokens += rec.usage.cache_write_tokens
        self.cache_read_tokens += rec.usage.cache_read_tokens
        if rec.cached:
            self.n_cached += 1
            self.cost_saved_usd += cost
        else:
            self.cost_usd += cost
            self.latency_sum_s += rec.latency_s

    def add_previous(self, rec: ResultRecord) -> None:
        """A record from an earlier, interrupted attempt at this job (resume)."""
        self.add(rec, 0.0 if rec.cached else rec.cost_usd)


class Runner:
    def __init__(self, cfg: ExperimentConfig, service: ModelService, scorer: ScorerSet, writer: JsonlWriter,
                 totals: RunTotals, on_record: Callable[[ResultRecord, RunTotals], None] | None = None,
                 structured: StructuredAnswers | None = None, *, solver: Solver) -> None:
        self.cfg = cfg
        self.structured = structured
        self.service = service
        self.scorer = scorer
        self.writer = writer
        self.totals = totals
        self.on_record = on_record
        self.solver = solver  # built and checked once, with the job's work (experiment.prepare)
        self._stop = False
        self.not_run = 0

    def request_for(self, item: WorkItem, messages: list[Message] | None = None) -> GenerateRequest:
        """The request of these messages (default: the item's rendered prompt) for this item."""
        return build_request(self.cfg.model, item.messages if messages is None else messages, seed=self.cfg.seed,
                             repeat=item.repeat)

    def _state(self, item: WorkItem) -> SolverState:
        return SolverState(item.sample, list(item.messages), seed=self.cfg.seed, repeat=item.repeat)

    def first_request(self, item: WorkItem) -> GenerateRequest:
        """The first request this item sends (the solver's steps before its first generate applied):
        plain, or the first ask of a typed answer."""
        request = self.request_for(item, self.solver.opening(self._state(item)))
        if self.structured is not None and self.solver.opens_structured:
            return self.structured.first_request(request)
        return request

    def cost_of(self, usage: Usage) -> float:
        return self.cfg.model.price.cost_of(usage)

    def record(self, item: WorkItem, response: GenerateResponse | None, error: ProviderError | None,
               latency_s: float, typed: Structured[Any] | None = None,
               scored: JobScores | None = None) -> tuple[ResultRecord, float]:
        cfg = self.cfg
        score = scored.score if scored is not None else None
        if error is None and scored is not None and scored.error is not None:
            error_info: ErrorInfo | None = ErrorInfo(type=scored.error[0], message=scored.error[1])  # the scorer's
        else:
            error_info = None if error is None else ErrorInfo(type=type(error).__name__, message=str(error)[:500],
                                                              status=error.status)
        usage = response.usage if response is not None else Usage()
        cost = self.cost_of(usage)
        rec = ResultRecord(
            sample_id=item.sample.id, model=cfg.model.name, provider=cfg.model.provider,
            prompt=cfg.prompt.name, dataset=cfg.dataset.name, seed=cfg.seed, repeat=item.repeat,
            messages=item.messages, output=response.text if response is not None else None,
            output_truncated=response is not None and response.text_truncated,  # cut by ModelService (max_output_chars)
            target=item.sample.target, score=score, scores=scored.scores if scored is not None else None,
            scorer=cfg.scorer_type, usage=usage,
            cost_usd=0.0 if response is not None and response.cached else cost,
            latency_s=round(latency_s, 6), cached=bool(response and response.cached),
            attempts=response.attempts if response is not None else getattr(error, "attempts", 1),
            finish_reason=response.finish_reason if response is not None else None,
            request_id=response.request_id if response is not None else None,
            served_model=response.model if response is not None else None,
            system_fingerprint=response.system_fingerprint if response is not None else None,
            error=error_info,
            simulated=cfg.model.simulated, metadata=item.sample.metadata,
            parsed=self.structured.parsed(typed) if self.structured and typed else None,
            structured=self.structured.info(typed) if self.structured and typed else None,
            judge=scored.judge if scored is not None else None,
            logprobs=response.logprobs if response is not None else None,
        )
        return rec, cost

    def _scored_text(self, response: GenerateResponse | None, typed: Structured[Any] | None) -> str | None:
        """What is scored (or judged): the reply, or the chosen field of a typed answer."""
        if response is None:
            return None
        if self.structured is not None and typed is not None:
            return self.structured.scored_text(typed)
        return response.text

    async def _score(self, item: WorkItem, text: str | None, state: SolverState) -> JobScores | None:
        if text is None:  # no answer (the request failed for good): nothing to score
            return None
        return await self.scorer.score(ScoreInput(
            text=text, sample=item.sample, messages=item.messages, seed=self.cfg.seed, repeat=item.repeat,
            outputs=tuple(state.outputs), conversation=tuple(state.messages),
            logprobs=state.turns[-1].response.logprobs if state.turns else None))

    async def _send(self, item: WorkItem, messages: list[Message], structured: bool) -> Reply:
        """One generate of the solver: through the model service (cache, retries, limits), as a typed
        answer when asked for one and the job has one."""
        request = self.request_for(item, messages)
        if structured and self.structured is not None:
            typed = await self.structured.ask(self.service, request)
            return Reply(typed.response, typed)
        return Reply(await self.service.generate(request))

    async def answer(self, item: WorkItem) -> None:
        """One item, start to record, outside the worker pool (run.mode=batch runs every item at once)."""
        await self._one(item)

    async def _one(self, item: WorkItem) -> None:
        start = time.perf_counter()
        state = self._state(item)
        error: ProviderError | None = None
        try:
            await self.solver.run(state, Conversation(partial(self._send, item)))
        except BudgetReached as exc:  # the sweep's budget is spent: this sample is not sent, nor any after it
            self._sweep_budget_stop(str(exc))
            return
        except ProviderError as exc:  # transient after all attempts, or permanent: recorded, job goes on
            error = exc
            log.warning("sample %s failed for good after %s attempt(s): %s",
                        item.sample.id, getattr(exc, "attempts", 1), exc)
        latency = time.perf_counter() - start  # the model's time; a judge's is not the model's
        last = state.turns[-1] if state.turns and error is None else None
        response = last.response if last is not None else None
        typed = last.typed if last is not None else None
        if last is not None and not self.solver.is_default:
            response = last.response.model_copy(update={"text": last.text})  # after a prefill: prefill + continuation
        try:
            scored = await self._score(item, self._scored_text(response, typed), state)
        except BudgetReached as exc:  # the judge's request was refused: no row, as for the model's
            self._sweep_budget_stop(str(exc))
            return
        rec, cost = self.record(item, response, error, latency, typed, scored)
        if not self.solver.is_default:
            rec, cost = self._conversation_row(rec, state, error)
        self.writer.put(rec)
        self.totals.add(rec, cost)
        if self.on_record is not None:
            self.on_record(rec, self.totals)
        self._check_budget()

    def _conversation_row(self, rec: ResultRecord, state: SolverState,
                          error: ProviderError | None) -> tuple[ResultRecord, float]:
        """A solver's row: the last request's messages, its turns, and what every turn used and cost.
        A turn served from the cache costs nothing, so a resumed conversation pays only what it asks."""
        responses = [t.response for t in state.turns]
        usage = total_usage(r.usage for r in responses)
        cached = error is None and bool(responses) and all(r.cached for r in responses)
        fresh = sum(self.cost_of(r.usage) for r in responses if not r.cached)
        turns = [TurnInfo(output=t.text, usage=t.response.usage, finish_reason=t.response.finish_reason,
                          cached=t.response.cached, attempts=t.response.attempts)
                 for t in state.turns] if self.solver.records_turns else None
        rec = rec.model_copy(update={
            "messages": state.sent if state.sent is not None else state.messages, "usage": usage,
            "cost_usd": 0.0 if cached else fresh, "cached": cached, "turns": turns,
            "attempts": sum(r.attempts for r in responses) + (getattr(error, "attempts", 1) if error else 0)})
        return rec, self.cost_of(usage) if cached else fresh  # a cached row's cost is what it saved

    def _sweep_budget_stop(self, reason: str) -> None:
        """The per-job budget's stop path, for the sweep's: no row for the sample refused, no new samples."""
        self.not_run += 1
        self.totals.budget_stopped = True
        self.totals.sweep_budget_reason = self.totals.sweep_budget_reason or reason
        self._stop = True

    def _check_budget(self) -> None:
        """Stop sending once the spend (earlier attempts at this job included) reaches max_cost_usd."""
        budget = self.cfg.model.max_cost_usd
        if budget is not None and self.totals.cost_usd >= budget and not self.totals.budget_stopped:
            log.warning("budget of $%.4f reached ($%.4f spent): no new samples will be sent",
                        budget, self.totals.cost_usd)
            self.totals.budget_stopped = True
            self._stop = True

    async def run(self, work: Iterator[WorkItem], total: int) -> None:
        # No ETA until a rate is known: the first answers wait for the SDK import and the connection,
        # and an estimate from them reads like hours.
        bar = tqdm(total=total, desc=f"{self.cfg.model.name} {self.cfg.prompt.name} seed={self.cfg.seed}",
                   unit="sample", disable=not self.cfg.run.progress, dynamic_ncols=True, mininterval=0.5,
                   leave=False,  # the end-of-job line replaces it: one line per job in a sweep
                   bar_format=_BAR_NO_ETA)
        warm = min(total, _WARM_SAMPLES)

        async def worker() -> None:
            for item in work:  # workers share one iterator: at most max_concurrency in flight
                self._check_budget()  # a resumed job may have spent its budget already
                if self._stop:
                    self.not_run += 1
                    continue
                cached = self.totals.n_cached
                await self._one(item)
                bar.update(1)
                if bar.n == warm and warm:
                    bar.bar_format = _BAR
                if self.totals.n_cached != cached:
                    # A cached answer returns without suspending: yield, or one worker would run the whole
                    # job while the results writer and the cache look-ahead wait for it to finish. Only
                    # then: after an answer that came over the network it costs ~0.2 ms a sample.
                    await asyncio.sleep(0)

        try:
            # Warnings (retries, a failed sample) print above the bar, not through it.
            with logging_redirect_tqdm():
                async with asyncio.TaskGroup() as tg:
                    for _ in range(min(self.cfg.model.max_concurrency, max(total, 1))):
                        tg.create_task(worker())
        finally:
            bar.close()
        if self.totals.answers.n_truncated:  # in run.log whichever way the job was started
            log.warning("%s", truncated_warning(self.totals.answers.n_truncated, self.totals.n_done,
                                                self.cfg.model.max_tokens))
