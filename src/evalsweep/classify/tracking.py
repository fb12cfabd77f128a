"""The classify stage in wandb, like a job: one run per stage invocation (job_type "classify"),
offline unless WANDB_MODE / WANDB_API_KEY say otherwise, living in <first dir>/wandb/, grouped
with the sweep it classifies. `--tracker none` turns it off (evalsweep.tracking.base.NullTracker)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Protocol

from evalsweep.classify.stage import JobResult

log = logging.getLogger(__name__)
LOG_EVERY = 25


class StageTracker(Protocol):
    def log_row(self, row: dict[str, Any]) -> None: ...

    def log_job(self, result: JobResult) -> None: ...

    def finish(self, totals: dict[str, Any], failed: bool) -> None: ...


class WandbStageTracker:
    def __init__(self, *, project: str, run_dir: Path, config: dict[str, Any], name: str, group: str,
                 tags: list[str]) -> None:
        import wandb

        from evalsweep.tracking.wandb_run import TrackingError, run_settings, wandb_mode

        mode = wandb_mode(os.environ)
        if mode == "offline":
            wandb.setup(settings=wandb.Settings(mode="offline"))
        try:
            self.run = wandb.init(project=project, dir=str(run_dir), mode=mode,  # type: ignore[arg-type]
                                  config=config, group=group[-128:], name=name[:128], job_type="classify",
                                  tags=tags, settings=run_settings())
        except wandb.Error as exc:
            raise TrackingError(f"wandb could not start a run in {run_dir}/wandb: {exc}; "
                                f"run with --tracker none to go without") from None
        self.run.define_metric("running/*", step_metric="running/done")
        self._done = 0
        self._errors = 0
        self._t0 = time.perf_counter()
        self._finished = False
        log.info("wandb run %s in %s", self.run.id, self.run.dir)

    def log_row(self, row: dict[str, Any]) -> None:
        self._done += 1
        self._errors += any(k.endswith(".error") and v for k, v in row.items())
        if self._done % LOG_EVERY == 0:
            self._log_running()

    def _log_running(self) -> None:
        elapsed = time.perf_counter() - self._t0
        self.run.log({"running/done": self._done, "running/errors": self._errors,
                      "running/rows_per_s": self._done / elapsed if elapsed > 0 else 0.0})

    def log_job(self, result: JobResult) -> None:
        key = f"job/{Path(result.job_dir).name}"
        self.run.summary.update({f"{key}/{k}": v for k, v in result.model_dump().items()
                                 if isinstance(v, (int, float)) and not isinstance(v, bool)})

    def finish(self, totals: dict[str, Any], failed: bool) -> None:
        if self._finished:
            return
        self._finished = True
        if self._done % LOG_EVERY:
            self._log_running()
        self.run.summary.update({k: v for k, v in totals.items() if not isinstance(v, (dict, list))})
        self.run.finish(exit_code=1 if failed else 0)
