"""One job in one output dir, without Hydra: the part of a run that `run.py` and `evalsweep.run_job`
share. The Hydra app (entry.py) only says where the job is and turns errors into exit codes.

    lock the dir -> validate -> open_job (every check, nothing written) -> accept -> on_accept
    (Hydra's .hydra/ files) -> reproducibility record -> run -> summary

A refused start (any EvalsweepError before the job is accepted) leaves the dir as it was
(evalsweep.job.jobdir); after that, a failure is recorded in the job's own summary and record."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalsweep.results import record
from evalsweep.results.record import JobInfo
from evalsweep.config.schema import ExperimentConfig
from evalsweep.errors import EvalsweepError
from evalsweep.job.experiment import open_job, run_job
from evalsweep.job.jobdir import JobDirLock, StartSnapshot
from evalsweep.job.summary import Summary
from evalsweep.job.validation import REPORT_JSON, REPORT_TXT, validate_job
from evalsweep.job.validation_context import JobContext
from evalsweep.job.validation_report import ValidationFailed

log = logging.getLogger(__name__)


def run_in_dir(exp: ExperimentConfig, config: dict[str, Any], info: JobInfo, ctx: JobContext, *,
               on_accept: Callable[[], None] | None = None, log_file: Path | None = None) -> Summary | None:
    """Run the job into info.output_dir. None: nothing ran (validate_only=true, or the job was
    complete already). Raises EvalsweepError (a refused start leaves the dir unchanged) or
    KeyboardInterrupt (evalsweep.job.interrupt.Interrupted: what was done is saved)."""
    out_dir = Path(info.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    snapshot = StartSnapshot.take(out_dir, log_file)
    lock = JobDirLock(out_dir).acquire()  # JobDirBusy: another run owns the dir, nothing of it is touched
    accepted = False
    try:
        report = validate_job(exp, ctx)
        if exp.validate_only:
            log.info("validate_only=true: validation passed, nothing was run (report in %s)", out_dir / REPORT_TXT)
            return None
        start = open_job(exp, config, out_dir)
        if start.previous is not None:  # a resumed sweep skips its finished jobs, changing nothing
            log.info("already complete: all %d samples are in %s; nothing to do", len(start.work),
                     start.results_path)
            return None
        start.accept()
        accepted = True
        if on_accept is not None:
            on_accept()
        with record.recording(seed=exp.seed, cfg_container=config, job=info, out_dir=out_dir) as rec:
            result = run_job(start, info, rec.provenance(), report)
            rec.status = result.status
        return result
    except EvalsweepError as exc:
        if not accepted:
            # A new dir refused by validation keeps the report that says why (reports ignore such a dir:
            # it holds no results, summary or .hydra/); any other refusal leaves nothing behind.
            keep = (REPORT_TXT, REPORT_JSON) if isinstance(exc, ValidationFailed) else ()
            snapshot.restore(keep=keep)
            lock.release()
            snapshot.remove_if_fresh()
        raise
    finally:
        lock.release()
