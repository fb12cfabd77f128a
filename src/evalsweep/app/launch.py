"""How a job's fatal error leaves the job, depending on where the launcher runs it.

The basic launcher runs jobs in the main process, one after the other: a fatal error (bad config,
missing or rejected key) ends the process with SystemExit and its exit code, so the sweep stops
before the next job spends anything.

joblib (loky worker processes) and submitit (one process per job, local or on SLURM) run jobs out
of the main process and side by side. There a SystemExit is the wrong signal: joblib re-raises it
in the main process and aborts the sweep, killing the jobs still running mid-sample (no
summary.json for them); submitit's process ends before it writes a result, and the main process
fails with a long "has not produced any output" traceback. A job there raises JobFailed instead:
Hydra's run_job records any Exception as the job's FAILED result, the launcher carries on with
the other jobs, and once all are done Hydra's sweeper re-raises the first failure. A
CompactHydraException is printed by Hydra as its message alone (no traceback), exit code 1.
"""

from __future__ import annotations

import logging

from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException

from evalsweep.errors import EvalsweepError

log = logging.getLogger("evalsweep")

BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


class JobFailed(CompactHydraException):
    """A job's fatal error, handed back to the launcher as the job's result.
    One string argument only: it crosses process boundaries by pickle."""


def runs_in_main_process() -> bool:
    """True for the basic launcher (single runs and sequential multiruns)."""
    return HydraConfig.get().launcher.get("_target_") == BASIC_LAUNCHER


def job_failed(exc: EvalsweepError) -> JobFailed:
    """The error as one line naming the job, logged now (the job's run.log and console) and
    returned to be raised: the main process prints it again when the sweep ends."""
    hc = HydraConfig.get()
    overrides = " ".join(hc.overrides.task) or "no overrides"
    line = f"evalsweep: error in job #{hc.job.num} ({overrides}): {exc}"
    log.error("%s", line)
    return JobFailed(line)
