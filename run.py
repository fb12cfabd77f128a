"""evalsweep entry point.

    python run.py                                       # one job on the bundled simulator
    python run.py -m model=sim_weak,sim_strong seed=42,43,44
"""

import sys

import hydra
from omegaconf import DictConfig

from evalsweep.cli_errors import run_hydra_app
from evalsweep.entry import final_exit_code, job_main


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    # Sync on purpose: Hydra never awaits an async task function; the job calls asyncio.run itself.
    job_main(cfg)


if __name__ == "__main__":
    run_hydra_app(main)
    sys.exit(final_exit_code())
