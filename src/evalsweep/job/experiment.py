"""One job, end to end: open_job (every check, nothing written) -> accept -> run_job -> summary."""

from __future__ import annotations

import logging
import random
import signal
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from dotenv import load_dotenv

from evalsweep.task import prompts

from evalsweep.job import resume

from evalsweep.job import summary
from evalsweep.config.base import PROJECT_ROOT
from evalsweep.config.schema import ExperimentConfig
from evalsweep.task.data import Samples, load_dataset
from evalsweep.task.fingerprint import dataset_fingerprint
from evalsweep.job.gctune import fewer_collections
from evalsweep.job.interrupt import Interrupted, SigintGuard
from evalsweep.llm.service import ModelService, ServiceStats, api_key_for
from evalsweep.job.prefetch import AheadPrefetch
from evalsweep.results.record import JobInfo, Provenance
from evalsweep.results.rows import JsonlWriter, ResultRecord, OutputWriteError, complete_lines, count_lines, drop_rows, read_done
from evalsweep.job.runner import Runner, RunTotals
from evalsweep.task.scorer_set import check_scorer, metric_name, open_scorer
from evalsweep.simulator.local import start_for
from evalsweep.store.budget import BudgetSpec, budget_spec
from evalsweep.store.checks import check_store
from evalsweep.structured.answers import StructuredAnswers
from evalsweep.task.solvers import Solver
from evalsweep.tracking.base import make_tracker
from evalsweep.job.validation_report import ValidationReport
from evalsweep.batch.check import check_batch
from evalsweep.job.work import Identity, JobWork

log = logging.getLogger(__name__)
RESULTS = "results.jsonl"
SUMMARY = "summary.json"
RETRIED = "retried_errors.jsonl"  # rows of samples asked again on resume (run.retry_errors)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)


def prepare(exp: ExperimentConfig) -> tuple[Samples, JobWork]:
    """Everything that can fail on bad input, done before any API call."""
    api_key_for(exp.model)  # a missing key stops here, before any work
    check_batch(exp.run, exp.model, exp.sweep.max_cost_usd)  # run.mode=batch where the provider or base_url has no batch API
    samples = load_dataset(exp.dataset, exp.seed, scorer=exp.scorer_type)  # scorer=choice checks targets at load
    check_scorer(exp)  # an unknown scorer, or (scorer=judge) a bad judge option, rubric or key
    StructuredAnswers.from_config(exp, quiet=True)  # a response model that cannot be imported stops here
    solver = Solver.from_config(exp.solver)  # an unknown step, or {output} before any reply, stops here
    for sample in samples:
        prompts.check_templates(exp.prompt, sample)
        solver.check(sample)
    check_store(exp.store, exp.cache, exp.shared_limit)  # a store that cannot be used stops here
    # Rendered as workers take items, never all at once: memory stays flat in the dataset size.
    return samples, JobWork(samples, exp.prompt, exp.repeats, exp.seed, solver=solver)


@dataclass
class JobStart:
    """A job whose checks passed: what it will do, and what an earlier attempt left in its dir.
    Nothing in the dir has changed yet; accept() makes the changes a resume needs."""

    exp: ExperimentConfig
    config: dict[str, Any]
    out_dir: Path
    work: JobWork
    todo: JobWork
    totals: RunTotals
    n_resumed: int
    retried: set[Identity]
    torn: bool
    previous: summary.Summary | None  # a finished job: nothing to do
    dataset_fingerprint: str  # of the samples this job asks (evalsweep.task.fingerprint): the report pairs on it

    @property
    def results_path(self) -> Path:
        return self.out_dir / RESULTS

    def accept(self) -> None:
        """Cut a torn last line and take the rows to ask again out of results.jsonl."""
        if self.torn:
            complete_lines(self.results_path, cut_torn_tail=True)
            log.warning("dropped a torn last line from %s (a crash mid-write); that sample is redone",
                        self.results_path)
        if self.retried:
            n = drop_rows(self.results_path, self.retried, self.out_dir / RETRIED)
            log.info("asking %d sample(s) that failed for good again (run.retry_errors=true); their earlier "
                     "rows are in %s", n, self.out_dir / RETRIED)


def open_job(exp: ExperimentConfig, cfg_container: dict[str, Any], out_dir: Path) -> JobStart:
    """Every check of a job's start, before anything is written: bad input, a missing key, a dir
    that holds another experiment or rows of an edited dataset all raise here."""
    _seed_everything(exp.seed)
    samples, work = prepare(exp)
    results_path = out_dir / RESULTS
    done, torn = read_done(results_path, cut_torn_tail=False)
    resume.check_compatible(exp, cfg_container, out_dir, done, out_dir / SUMMARY)
    resume.check_rows(work, done, results_path)
    retried = {ident for ident, rec in done.items() if rec.error is not None} if exp.run.retry_errors else set()
    kept = {ident: rec for ident, rec in done.items() if ident not in retried}
    totals = RunTotals()
    for rec in kept.values():
        totals.add_previous(rec)
    todo = work.without(kept)
    if kept:
        log.info("resuming: %d of %d samples already in %s", len(kept), len(work), results_path)
    previous = resume.already_complete(out_dir / SUMMARY, len(todo))
    return JobStart(exp=exp, config=cfg_container, out_dir=out_dir, work=work, todo=todo, totals=totals,
                    n_resumed=len(kept), retried=retried, torn=bool(torn), previous=previous,
                    dataset_fingerprint=dataset_fingerprint(samples))


@dataclass
class _Run:
    """What one run of a job's work holds: the writer and totals going in; the runner and the
    services' counts coming out (set even when the run fails, for its summary)."""

    writer: JsonlWriter
    totals: RunTotals
    on_record: Callable[[ResultRecord, RunTotals], None] | None = None
    runner: Runner | None = None
    stats: ServiceStats | None = None
    judge_stats: ServiceStats | None = None
    budget: BudgetSpec | None = None  # the sweep's (sweep.max_cost_usd), shared with its other jobs
    out_dir: Path | None = None
    in_sweep: bool = False  # a job of a multirun (run.mode=batch: the sweep's end waits for its batches)


async def _run_async(exp: ExperimentConfig, base_url: str | None, work: JobWork, run: _Run) -> Runner:
    if exp.run.mode == "batch":  # the provider's batch API (evalsweep.batch)
        from evalsweep.batch.run import run_batch

        assert run.out_dir is not None
        return await run_batch(exp, base_url, work, run, run.out_dir)
    service = ModelService(exp.model, exp.cache, base_url, exp.shared_limit, exp.store, run.budget)
    writer = run.writer
    writer.start()
    scorer = open_scorer(exp.with_budget(run.budget))  # a judge's spend counts against the sweep's budget too
    assert work.solver is not None  # prepare() gives the job's work its solver
    runner = Runner(exp, service, scorer, writer, run.totals, run.on_record,
                    structured=StructuredAnswers.from_config(exp), solver=work.solver)
    run.runner = runner
    try:
        # Cache lookups a window ahead of the workers: a cached re-run never waits on sqlite per
        # sample, and memory stays flat in the job size (evalsweep.job.prefetch).
        prefetch = AheadPrefetch(service, work, runner.first_request)
        try:
            await runner.run(await prefetch.start(), total=len(work))
        finally:
            await prefetch.aclose()
    finally:
        try:
            await writer.close()
        finally:
            try:  # counted after closing: a cache write that fails at the final flush is in the summary too
                await service.aclose()
            finally:
                run.stats = service.stats()
                try:
                    await scorer.aclose()
                finally:
                    run.judge_stats = scorer.stats()  # a scorer that asks a model (the judge) counts apart
    return runner


def run_job(start: JobStart, job: JobInfo, provenance: Provenance,
            report: ValidationReport | None = None) -> summary.Summary:
    """Run an accepted job into its dir; samples already in results.jsonl (a resume) are skipped."""
    exp, cfg_container, out_dir = start.exp, start.config, start.out_dir
    started, t0 = _now(), time.perf_counter()
    results_path, totals, todo, work = start.results_path, start.totals, start.todo, start.work
    run = _Run(JsonlWriter(results_path), totals,  # the file opens before the tracker starts
               budget=budget_spec(exp.sweep, Path(job.sweep_dir or out_dir)), out_dir=out_dir, in_sweep=job.multirun)
    tracker = make_tracker(exp, config=cfg_container, out_dir=out_dir, job=job, git=provenance.git,
                           n_resumed=start.n_resumed)
    if report is not None:
        tracker.log_text("validation_report", report.render())
    status: summary.Status = "failed"
    stop_reason: str | None = None
    failed = True
    t_eval = time.perf_counter()
    guard = SigintGuard().install()  # 1st Ctrl-C or SIGTERM: save and stop; 2nd: exit at once

    def finish(not_run: int | None) -> summary.Summary:
        # The summary counts what results.jsonl holds: rows still queued when a write failed are not in it.
        counted = totals if count_lines(results_path) == totals.n_done else _totals_on_disk(results_path, work)
        if not_run is None:
            not_run = len(work) - counted.n_done
        s = summary.build(
            exp=exp, outcome=summary.Outcome(status, stop_reason), totals=counted,
            facts=summary.JobFacts(cfg_container, provenance, report.to_summary() if report is not None else None,
                                   start.dataset_fingerprint, _primary_metric(run, exp)),
            services=summary.Services(run.stats, run.judge_stats),
            counts=summary.Counts(len(work), not_run, start.n_resumed),
            timing=summary.Timing(started, _now(), time.perf_counter() - t0, time.perf_counter() - t_eval),
        )
        summary.write(s, out_dir / SUMMARY)  # once per job, here
        tracker.log_summary(s.model_dump(mode="json"), results_path)
        return s

    try:
        with ExitStack() as stack:
            # The job's own simulator, unless base_url is set (kept for the process in batch mode).
            base_url = start_for(exp.model, stack, keep=exp.run.mode == "batch")
            stack.enter_context(fewer_collections())  # ~10% of an uncached run was young GC (gctune)
            run.on_record = lambda rec, tot: tracker.log_record(rec, {
                "done": tot.n_done, "mean_score": tot.scores.mean or 0.0, "errors": tot.n_errors,
                **{f"mean_{name}": m.mean or 0.0 for name, m in tot.metrics.items()}})
            try:
                guard.run(_run_async(exp, base_url, todo, run))
                status = "complete"
            except Interrupted as exc:
                status, stop_reason = "incomplete", f"interrupted ({signal.Signals(exc.signum).name})"
                raise
            except BaseExceptionGroup as group:
                # A fatal error in one worker (e.g. a rejected key) cancels the others; surface it alone.
                first = group.exceptions[0]
                stop_reason = f"{type(first).__name__}: {first}"
                raise first from None
            except OutputWriteError as exc:
                stop_reason = f"{type(exc).__name__}: {exc}"
                raise
        runner = run.runner
        assert runner is not None and run.stats is not None
        if totals.budget_stopped:
            status, stop_reason = "incomplete", (totals.sweep_budget_reason
                                                 or f"budget of ${exp.model.max_cost_usd} reached")
        elif totals.stop_reason is not None:
            status, stop_reason = "incomplete", totals.stop_reason
        on_disk = count_lines(results_path)
        if on_disk != totals.n_done:  # the record claims only what the file holds
            status, stop_reason = "failed", (f"{results_path} holds {on_disk} rows, {totals.n_done} were counted; "
                                             f"re-run into the same dir to redo the missing ones")
        s = finish(runner.not_run if on_disk == totals.n_done else None)
        failed = status == "failed"
        return s
    except BaseException:
        if run.stats is not None:
            try:
                finish(None)
            except OSError as exc:  # the disk that stopped the results stops the summary too
                log.error("could not write %s: %s", out_dir / SUMMARY, exc.strerror or exc)
        raise
    finally:
        tracker.finish(failed=failed)
        guard.restore()


def _primary_metric(run: _Run, exp: ExperimentConfig) -> str | None:
    """The metric the rows' `score` holds: the scorer set's, once it has scored a row."""
    if run.runner is not None and run.runner.scorer.primary is not None:
        return run.runner.scorer.primary
    # Nothing scored in this run (a resume whose requests all failed): right for a scorer of one number.
    return exp.scorer.primary or metric_name(exp.scorer_type)


def _totals_on_disk(results_path: Path, work: JobWork) -> RunTotals:
    """Totals recounted from the file itself (after a failed write), never from what was queued."""
    totals = RunTotals()
    done, _ = read_done(results_path, cut_torn_tail=False)
    for ident, rec in done.items():
        if ident in work:
            totals.add_previous(rec)
    return totals


def load_env() -> None:
    """Keys from a git-ignored .env at the project root; the environment wins."""
    load_dotenv(PROJECT_ROOT / ".env", override=False)
