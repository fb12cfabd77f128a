"""Overrides and runs of `run.py` jobs as the benchmarks use them."""

from __future__ import annotations

import shutil
from pathlib import Path

from benchlib.procs import ProcResult, check, job_command, run_measured

# Benchmarks measure the runner, not the terminal: no progress bar. Validation stays on (a default job runs it).
QUIET = ["run.progress=false"]


def job_overrides(*, url: str, dataset: Path, run_dir: Path, concurrency: int = 32, tracker: str = "none",
                  extra: list[str] | None = None) -> list[str]:
    return [
        # The bench's rows ({"id", "question", "answer"}) carry no metadata: map none.
        f"model.base_url={url}", f"dataset.path={dataset}", "dataset.max_samples=null", "dataset.fields.metadata=[]",
        f"model.max_concurrency={concurrency}", f"tracker={tracker}", f"hydra.run.dir={run_dir}", *QUIET,
        *(extra or []),
    ]


def fresh(run_dir: Path, cache_path: Path | None = None) -> None:
    """No earlier results (a job would resume them) and no earlier cache (it would answer)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    if cache_path is not None:
        for p in (cache_path, cache_path.with_name(cache_path.name + "-wal"),
                  cache_path.with_name(cache_path.name + "-shm")):
            p.unlink(missing_ok=True)


def run_job(overrides: list[str], *, cache_path: Path, log_dir: Path, name: str) -> ProcResult:
    env = {"EVALSWEEP_CACHE_PATH": str(cache_path), "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    return check(run_measured(job_command(overrides), env=env, log_dir=log_dir, name=name), f"job {name}")
