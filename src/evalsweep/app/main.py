"""The Hydra app: `python run.py ARGS` and `evalsweep run ARGS` both land here.

One thin layer above the job (evalsweep.job.in_dir): Hydra composes the config, launches the sweep and
calls job_main per job; Hydra's own usage errors become one line (evalsweep.app.cli_errors)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from evalsweep.app.cli_errors import run_hydra_app
from evalsweep.config.base import PROJECT_ROOT
from evalsweep.app.entry import final_exit_code, job_main


@hydra.main(version_base="1.3", config_path=str(PROJECT_ROOT / "conf"), config_name="config")
def _main(cfg: DictConfig) -> None:
    # Sync on purpose: Hydra never awaits an async task function; the job calls asyncio.run itself.
    job_main(cfg)


def run(argv: list[str]) -> int:
    """Run the app on these arguments (run.py's); returns the process exit code."""
    sys.argv = ["run.py", *argv]  # Hydra reads its arguments from sys.argv
    run_hydra_app(_main)
    return final_exit_code()
