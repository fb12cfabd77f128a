"""A job's run in batch mode (run.mode=batch): the live run's parts (runner, model service with its
cache, scorer, writer) with the batch client in place of the provider's, every sample started at
once, and the rounds of evalsweep.batch.rounds between them and the provider's batch API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from evalsweep.batch.backends import backend_for
from evalsweep.batch.rounds import BatchClient, NotRun, Pacing, Rounds
from evalsweep.batch.state import BatchStore, Endpoint, summary_line
from evalsweep.cache import cache_key
from evalsweep.config.model import ModelConfig, RetryConfig
from evalsweep.config.schema import ExperimentConfig
from evalsweep.job.runner import Runner, RunTotals, WorkItem
from evalsweep.job.work import JobWork
from evalsweep.llm.service import ModelService, ServiceStats, api_key_for, key_extra
from evalsweep.llm.types import GenerateRequest
from evalsweep.results.rows import JsonlWriter, ResultRecord
from evalsweep.structured.answers import StructuredAnswers
from evalsweep.task.scorer_set import open_scorer

log = logging.getLogger(__name__)
_DAYS = 10 * 86400.0  # a batch may take its provider's whole window (24 h) to answer


class JobRun(Protocol):
    """What evalsweep.job.experiment hands a run: the writer and totals going in; the runner and the
    services' counts coming out."""

    writer: JsonlWriter
    totals: RunTotals
    on_record: Callable[[ResultRecord, RunTotals], None] | None
    runner: Runner | None
    stats: ServiceStats | None
    judge_stats: ServiceStats | None
    in_sweep: bool


def batch_priced(exp: ExperimentConfig) -> ExperimentConfig:
    """The job's config with the model's batch prices (price.batch_discount of each): what rows cost."""
    p = exp.model.price
    # Every per-token price, prompt-cache ones included, at the batch share.
    price = p.model_copy(update={name: getattr(p, name) * p.batch_discount for name in type(p).model_fields
                                 if name.endswith("_per_mtok") and getattr(p, name) is not None})
    return exp.model_copy(update={"model": exp.model.model_copy(update={"price": price})})


def _service_model(cfg: ModelConfig) -> ModelConfig:
    """The model as the batch client's service holds it: no per-request limits, timeouts or retries
    (a batch is one call; its requests wait for it), no adaptive gate (it would let only its first 8
    requests into a round), the same cache keys as live."""
    return cfg.model_copy(update={"rpm": None, "tpm": None, "max_concurrency": 10**9, "request_timeout_s": _DAYS,
                                  "retry": RetryConfig(max_attempts=1), "adaptive_limits": False})


class _View:
    """The progress display: samples done, and the batches behind them."""

    def __init__(self, exp: ExperimentConfig, total: int) -> None:
        self.bar = tqdm(total=total, desc=f"batch {exp.model.name} {exp.prompt.name} seed={exp.seed}", unit="sample",
                        disable=not exp.run.progress, dynamic_ncols=True, mininterval=0.5, leave=False)

    def update(self, rounds: Rounds) -> None:
        ended = sum(1 for e in rounds.store.entries.values() if e.state == "ended")
        self.bar.set_postfix_str(f"batches {rounds.submitted} submitted, {rounds.in_flight} in progress, "
                                 f"{ended} ended", refresh=False)


async def run_batch(exp: ExperimentConfig, base_url: str | None, work: JobWork, run: JobRun, out_dir: Path) -> Runner:
    cfg = exp.model
    priced = batch_priced(exp)
    store = BatchStore(out_dir)
    backend = backend_for(cfg, api_key=api_key_for(cfg), base_url=base_url)
    extra = key_extra(cfg)

    def key_of(request: GenerateRequest) -> str:  # the cache key: a custom id of 64 characters, the same each run
        return cache_key(request, extra, simulated=cfg.simulated, reasoning=cfg.reasoning)

    totals = run.totals
    earlier = totals.cost_usd  # of the rows an earlier run left

    def budget_spent(answers: float) -> bool:
        spent = cfg.max_cost_usd is not None and earlier + answers >= cfg.max_cost_usd
        if spent:
            totals.budget_stopped = True
        return spent

    # A job of a -m sweep submits and returns: the sweep's end waits for every job's batches once.
    wait = exp.run.batch_wait and not run.in_sweep
    view = _View(exp, len(work))
    rounds = Rounds(backend, store, key_of,
                    Pacing(wait, exp.run.batch_poll_s, exp.run.batch_poll_max_s, exp.run.batch_max_requests),
                    budget_spent=budget_spent, cost_of=lambda r: priced.model.price.cost_of(r.usage),
                    on_change=view.update)
    store.endpoint_of_run = Endpoint(provider=cfg.provider, model=cfg.name, base_url=base_url,
                                     api_key_env=cfg.api_key_env, simulated=cfg.simulated)
    # The job's cache in the job's store (sqlite, or Redis with store.url), as live.
    service = ModelService(_service_model(cfg), exp.cache, base_url, None, exp.store, client=BatchClient(rounds))
    writer = run.writer
    writer.start()
    scorer = open_scorer(exp)
    assert work.solver is not None
    runner = Runner(priced, service, scorer, writer, totals, run.on_record,
                    structured=StructuredAnswers.from_config(exp), solver=work.solver)
    run.runner = runner
    done = False
    try:
        await service.prefetch(runner.first_request(item) for item in work)

        async def one(item: WorkItem) -> None:
            exc: BaseException | None = None
            try:
                await runner.answer(item)
            except NotRun as not_run:
                runner.not_run += 1
                exc = not_run
            finally:
                rounds.finished(exc)
                view.bar.update(1)

        with logging_redirect_tqdm():
            async with asyncio.TaskGroup() as tg:
                for item in work:
                    rounds.started()
                    tg.create_task(one(item))
                tg.create_task(rounds.drive())
        done = True
        _say_what_is_left(rounds, totals, out_dir, run.in_sweep)
    finally:
        view.bar.close()
        # Ctrl-C, SIGTERM, a failure: the batches go on without us. Read back from disk: a write the
        # interrupt cut short may still be finishing in its thread.
        kept = BatchStore(out_dir) if not done else None
        if kept is not None and (kept.open_batches() or kept.intents()):
            log.warning("%s kept in %s: re-run the same command into the same dir to collect them "
                        "(evalsweep batch status %s; evalsweep batch cancel %s to stop them)",
                        summary_line(kept), kept.dir, out_dir, out_dir)
        try:
            await writer.close()
        finally:
            try:
                await service.aclose()
            finally:
                run.stats = service.stats()
                try:
                    await backend.aclose()
                finally:
                    try:
                        await scorer.aclose()
                    finally:
                        run.judge_stats = scorer.stats()
    return runner


def _say_what_is_left(rounds: Rounds, totals: RunTotals, out_dir: Path, in_sweep: bool) -> None:
    """The reason a batch job left samples not run, for its summary, and how to go on."""
    in_flight = rounds.not_run.get("in_flight", 0)
    unanswered = rounds.not_run.get("expired", 0) + rounds.not_run.get("canceled", 0)
    reasons: list[Any] = []
    if in_flight:
        reasons.append(f"{in_flight} sample(s) wait on batches in flight")
        if in_sweep and not unanswered:  # the sweep's end collects them (evalsweep.batch.sweep)
            totals.stop_reason = reasons[0] + "; the sweep collects them when all its jobs have submitted"
            log.info("%s", totals.stop_reason)
            return
    if unanswered:
        reasons.append(f"{unanswered} sample(s) not answered by their batch (expired or canceled)")
    if not reasons:
        return
    totals.stop_reason = ("; ".join(reasons) + f"; to collect or ask them again, re-run the same command into the "
                          f"same dir (hydra.run.dir={out_dir})")
    log.warning("%s (evalsweep batch status %s)", totals.stop_reason, out_dir)
