"""Hydra callbacks: the sweep report at the end of a multirun, and the multirun's exit code.

Hydra skips on_multirun_end when a job raises (hydra#2284), so jobs record sample failures
inside themselves and the report stays runnable alone: `python scripts/report.py <sweep dir>`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("evalsweep.report")

# Set at the end of a multirun in this process, read by run.py for its exit code.
sweep_jobs_with_errors: list[str] = []


def jobs_with_errors(sweep_dir: Path) -> list[str]:
    """Job dirs of a sweep whose summary counts failed samples (any launcher: read from disk)."""
    bad = []
    for summary in sorted(sweep_dir.glob("*/summary.json")):
        data = json.loads(summary.read_text(encoding="utf-8"))
        # A budget stop is "incomplete" by design, not a failure; an interrupt exits 130 itself.
        if data.get("n_errors") or data.get("status") == "failed":
            bad.append(str(summary.parent))
    return bad


class SweepReport(Callback):
    def __init__(self, enabled: bool = True, correction: str = "holm", mde_delta: float = 0.05,
                 group_by: str | None = None) -> None:
        self.enabled = enabled
        self.correction = correction
        self.mde_delta = mde_delta
        self.group_by = group_by  # a metadata field: the report's --group-by (e.g. category)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        if any(sweep_dir.glob("*/batches")):  # run.mode=batch: the jobs submitted; wait once for them all
            from evalsweep.batch.sweep import collect_sweep

            collect_sweep(sweep_dir)
        sweep_jobs_with_errors.extend(jobs_with_errors(sweep_dir))
        if not self.enabled or not any(sweep_dir.glob("*/results.jsonl")):
            return  # nothing ran (e.g. validate_only=true): no report to write
        from evalsweep.report import ReportError, write_report

        try:
            result = write_report([sweep_dir], sweep_dir, correction=self.correction, mde_delta=self.mde_delta,
                                  group_by=self.group_by)
        except ReportError as exc:
            # The jobs' results are safe on disk; a sweep the report cannot use is said, not raised.
            log.warning("no report for %s: %s", sweep_dir, exc)
            return
        log.info("report: %s (open %s in a browser)", result.files.get("report.md"), result.files.get("report.html"))
        if config.get("tracker") == "wandb":
            from evalsweep.tracking.report_run import log_report

            wandb_cfg = config.get("wandb") or {}
            # The report as a run in the sweep's group, beside its jobs' runs (job type "report").
            log_report(sweep_dir, result.files, project=str(wandb_cfg.get("project") or "evalsweep"),
                       entity=wandb_cfg.get("entity"), simulated=bool(config.model.get("simulated", False)))
