"""Run a job from Python (a script, a notebook, a test), writing the same files as `python run.py`.

    import evalsweep
    result = evalsweep.run_job(["model=sim_strong", "seed=43", "dataset.max_samples=20"])
    result.summary.metrics["score"].mean, result.out_dir / "results.jsonl"

The overrides are the ones run.py takes, composed on conf/ the same way (evalsweep.app.compose:
Hydra's compose API reads the config groups; nothing of Hydra's app runs: no launcher, no sweep,
no chdir). A validated
ExperimentConfig can be passed instead. Errors are raised as the typed EvalsweepError subclasses,
not turned into exit codes."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from evalsweep.config.base import PROJECT_ROOT
from evalsweep.app.compose import compose, overrides_from_dict
from evalsweep.config.schema import ExperimentConfig
from evalsweep.job.summary import Summary

_LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # as Hydra's job log


class JobResult(BaseModel):
    """What a job left: its dir, and its summary (None when nothing ran: validate_only, or complete)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    out_dir: Path
    summary: Summary | None


def default_out_dir() -> Path:
    """outputs/<date>/<time.microseconds>, as run.py's hydra.run.dir."""
    now = datetime.now()
    return PROJECT_ROOT / "outputs" / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S.%f")


def run_job(config: Sequence[str] | Mapping[str, Any] | ExperimentConfig = (), *,
            out_dir: Path | str | None = None) -> JobResult:
    """Run one job into out_dir (default: a new outputs/ dir); re-running into the same dir resumes.
    config: run.py's overrides, a dict of changes on the defaults (`{"model": "sim_strong",
    "dataset": {"max_samples": 20}}`, evalsweep.app.compose.overrides_from_dict), or a validated
    ExperimentConfig."""
    from evalsweep.job.experiment import load_env
    from evalsweep.job.in_dir import run_in_dir
    from evalsweep.results.record import JobInfo
    from evalsweep.job.validation_context import JobContext

    load_env()
    if isinstance(config, ExperimentConfig):
        overrides: list[str] = []
        container, exp = config.model_dump(mode="json"), config
    else:
        overrides = overrides_from_dict(config) if isinstance(config, Mapping) else list(config)
        container, exp = compose(overrides)
    target = Path(out_dir) if out_dir is not None else default_out_dir()
    target.mkdir(parents=True, exist_ok=True)
    info = JobInfo(output_dir=str(target.resolve()), overrides=overrides)
    handler = logging.FileHandler(target / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    ours = logging.getLogger("evalsweep")  # the job's own lines, at INFO, as run.py's log has them
    level = ours.level
    ours.addHandler(handler)
    ours.setLevel(min(level or logging.INFO, logging.INFO))
    try:
        summary = run_in_dir(exp, container, info, JobContext(output_dir=target, seeds=[exp.seed]),
                             on_accept=lambda: _write_config(target, container, overrides),
                             log_file=target / "run.log")
    finally:
        ours.removeHandler(handler)
        ours.setLevel(level)
        handler.close()
    return JobResult(out_dir=target, summary=summary)


def _write_config(out_dir: Path, container: dict[str, Any], overrides: list[str]) -> None:
    """.hydra/config.yaml and overrides.yaml, as run.py leaves them (reports read either)."""
    from omegaconf import OmegaConf

    hydra_dir = out_dir / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    (hydra_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(container)), encoding="utf-8")
    (hydra_dir / "overrides.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(overrides)), encoding="utf-8")
