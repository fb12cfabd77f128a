"""Experiment trackers. The runner talks to this interface only; `tracker=none` gives NullTracker.

A tracker is created per job and finished in `finally` (never module-level: the joblib launcher
reuses worker processes, and an unfinished wandb run would swallow the next job's logs).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from evalsweep.results.rows import ResultRecord
from evalsweep.results.provenance import GitInfo
from evalsweep.results.record import JobInfo

if TYPE_CHECKING:
    from evalsweep.config.schema import ExperimentConfig


class Tracker(Protocol):
    def log_record(self, record: ResultRecord, running: dict[str, float]) -> None: ...

    def log_summary(self, summary: dict[str, Any], results_path: Path) -> None: ...

    def log_text(self, name: str, text: str) -> None: ...

    def finish(self, failed: bool) -> None: ...


class NullTracker:
    """tracker=none (and `classify --tracker none`): the one tracker that records nothing. It has
    every method of both protocols, the job's Tracker and the classify stage's StageTracker."""

    def log_record(self, record: ResultRecord, running: dict[str, float]) -> None:
        pass

    def log_summary(self, summary: dict[str, Any], results_path: Path) -> None:
        pass

    def log_text(self, name: str, text: str) -> None:
        pass

    def log_row(self, row: dict[str, Any]) -> None:
        pass

    def log_job(self, result: Any) -> None:
        pass

    def finish(self, *args: Any, **kwargs: Any) -> None:  # Tracker.finish(failed); StageTracker.finish(totals, failed)
        pass


def make_tracker(exp: ExperimentConfig, *, config: dict[str, Any], out_dir: Path, job: JobInfo, git: GitInfo,
                 n_resumed: int = 0) -> Tracker:
    """config is the resolved config (OmegaConf.to_container(resolve=True))."""
    if exp.tracker == "none":
        return NullTracker()
    from evalsweep.tracking.wandb_run import WandbTracker  # `import wandb` only when it is used

    return WandbTracker(exp, config=config, out_dir=out_dir, job=job, git=git, n_resumed=n_resumed)
