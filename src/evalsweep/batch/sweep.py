"""A -m sweep in batch mode waits once: each job submits its batches and returns (evalsweep.batch.run:
a job of a multirun does not wait), then, at the sweep's end (the SweepReport callback, before the
report), `collect_sweep` polls every job's open batches together until all have ended, and runs each
job again in this process into its own dir, which collects its answers from the batches it holds (a
solver's next step submits the next round: then the sweep waits again, once per round, not per job).

The jobs are re-run from the config their summary.json records, as a re-run into the same dir would."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

from tqdm import tqdm

from evalsweep.batch.backends import backend_for
from evalsweep.batch.common import Backend, BatchLost
from evalsweep.batch.state import DIR, BatchStore
from evalsweep.config.model import ModelConfig
from evalsweep.errors import EvalsweepError
from evalsweep.llm.errors import TransientError
from evalsweep.llm.service import api_key_for

log = logging.getLogger(__name__)
_UNREACHABLE = 10  # polls in a row that could not reach a job's provider before the sweep leaves it


def open_model(job_dir: Path) -> tuple[ModelConfig, str | None] | None:
    """The model whose batches a job dir holds, and where they are (batches/endpoint.json), enough to
    poll or cancel them; None when the dir has none."""
    endpoint = BatchStore(job_dir).endpoint()
    if endpoint is None:
        return None
    model = ModelConfig(provider=endpoint.provider, name=endpoint.model, simulated=endpoint.simulated,
                        base_url=endpoint.base_url, api_key_env=endpoint.api_key_env)
    return model, endpoint.base_url


def _job_dirs(sweep_dir: Path) -> list[Path]:
    return sorted((p.parent for p in sweep_dir.glob(f"*/{DIR}")), key=lambda p: (len(p.name), p.name))


async def _poll_all(jobs: dict[Path, tuple[Backend, list[str]]], poll_s: float, poll_max_s: float,
                    progress: bool) -> set[Path]:
    """Until every batch of every job has ended (or is unknown to its provider: its job submits it
    again). Returns the jobs whose provider could not be reached _UNREACHABLE polls in a row."""
    left = {(d, b) for d, (_, ids) in jobs.items() for b in ids}
    failures: dict[Path, int] = {}
    unreachable: set[Path] = set()
    bar = tqdm(total=len(left), desc="sweep batches", unit="batch", disable=not progress, leave=False)
    delay, t0 = poll_s, time.monotonic()
    try:
        while left:
            for job_dir, batch_id in sorted(left):
                if job_dir in unreachable:
                    continue
                backend = jobs[job_dir][0]
                try:
                    ended = (await backend.poll(batch_id)).state == "ended"
                    failures[job_dir] = 0
                except BatchLost:
                    ended = True
                except TransientError as exc:
                    failures[job_dir] = failures.get(job_dir, 0) + 1
                    ended = False
                    if failures[job_dir] >= _UNREACHABLE:
                        log.warning("sweep: cannot reach the batches of %s (%s); re-run the sweep into its dir "
                                    "later to collect them", job_dir, exc)
                        unreachable.add(job_dir)
                        left = {(d, b) for d, b in left if d != job_dir}
                        continue
                if ended:
                    left.discard((job_dir, batch_id))
                    bar.update(1)
            bar.set_postfix_str(f"{len(left)} in progress, {time.monotonic() - t0:.0f}s", refresh=False)
            if left:
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, max(poll_max_s, poll_s))
    finally:
        bar.close()
        for backend, _ in jobs.values():
            await backend.aclose()
    return unreachable


def _rerun(job_dir: Path, sweep_dir: Path) -> None:
    from omegaconf import OmegaConf

    from evalsweep.config.schema import validate
    from evalsweep.job.in_dir import run_in_dir
    from evalsweep.job.validation_context import JobContext
    from evalsweep.results.record import JobInfo

    container = json.loads((job_dir / "summary.json").read_text(encoding="utf-8"))["config"]
    exp = validate(container)
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    saved = OmegaConf.load(overrides_file) if overrides_file.exists() else []
    overrides = [str(o) for o in saved]  # type: ignore[union-attr]
    info = JobInfo(output_dir=str(job_dir), overrides=overrides, multirun=True, sweep_dir=str(sweep_dir),
                   job_num=int(job_dir.name) if job_dir.name.isdigit() else None)
    result = run_in_dir(exp, container, info, JobContext(output_dir=job_dir, seeds=[exp.seed], print_report=False),
                        log_file=job_dir / "run.log")
    if result is not None:
        mean = result.metrics["score"].mean
        log.info("sweep: collected %s (%s, seed %d): %s, mean score %s, n=%d, errors %d, cost $%.4f%s", job_dir,
                 exp.model.name, exp.seed, result.status, f"{mean:.3f}" if mean is not None else "n/a",
                 result.n_scored, result.n_errors, result.cost_usd, f" ({result.stop_reason})" if result.stop_reason
                 else "")


def collect_sweep(sweep_dir: Path, *, max_passes: int = 50) -> int:
    """Wait for and collect every batch job of a sweep; returns how many times it waited."""
    waits = 0
    unreachable: set[Path] = set()
    for _ in range(max_passes):
        jobs: dict[Path, tuple[Backend, list[str]]] = {}
        poll_s, poll_max_s, progress = 5.0, 60.0, True
        for job_dir in _job_dirs(sweep_dir):
            if job_dir in unreachable:
                continue
            open_ids = [e.id for e in BatchStore(job_dir).open_batches()]
            found = open_model(job_dir) if open_ids else None
            if found is None:
                continue
            model, base_url = found
            summary = job_dir / "summary.json"
            run = json.loads(summary.read_text(encoding="utf-8"))["config"].get("run") or {} if summary.exists() else {}
            poll_s, poll_max_s = float(run.get("batch_poll_s", poll_s)), float(run.get("batch_poll_max_s", poll_max_s))
            progress = bool(run.get("progress", True))
            jobs[job_dir] = (backend_for(model, api_key=api_key_for(model), base_url=base_url), open_ids)
        if not jobs:
            return waits
        n = sum(len(ids) for _, ids in jobs.values())
        log.info("sweep: waiting for %d batch(es) of %d job(s)", n, len(jobs))
        waits += 1
        unreachable |= asyncio.run(_poll_all(jobs, poll_s, poll_max_s, progress))
        for job_dir in jobs:
            if job_dir in unreachable:
                continue
            if not (job_dir / "summary.json").exists():
                log.warning("sweep: %s has no summary.json (a job that did not finish): re-run the sweep into "
                            "%s to collect its batches", job_dir, sweep_dir)
                continue
            try:
                _rerun(job_dir, sweep_dir)
            except EvalsweepError as exc:  # that job's record says what happened; the others go on
                log.error("sweep: collecting %s failed: %s", job_dir, exc)
    log.warning("sweep: batches still open after %d rounds; re-run the sweep into %s to go on", max_passes, sweep_dir)
    return waits
