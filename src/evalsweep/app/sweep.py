"""The sweep a job belongs to, as Hydra's basic sweeper expands it: every job's overrides, the
values each swept key takes, and how many jobs run at once. Validation uses it (seeds across the
sweep, the baseline among the variants) and the preflight validates every job before any runs."""

from __future__ import annotations

import copy
import functools
import logging
import os
from pathlib import Path
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from evalsweep.config.schema import ExperimentConfig
from evalsweep.job.validation_context import JobContext, Machine

log = logging.getLogger(__name__)
# Set by the pre-run validation (evalsweep.app.preflight) to the sweep dir once every job of it passed:
# its jobs then print no report of their own (each still saves it).
VALIDATED_SWEEP = "EVALSWEEP_VALIDATED_SWEEP"

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
# The project's default (conf/hydra/sweeper/evalsweep.yaml): the basic sweeper's jobs, composed once.
EVALSWEEP_SWEEPER = "hydra_plugins.evalsweep_sweeper.evalsweep_sweeper.EvalsweepSweeper"


def sweep_jobs(multirun_cfg: DictConfig) -> list[list[str]] | None:
    """Each job's overrides, in job order, as the basic sweeper (or the project's, which expands a
    sweep alike) builds them (None for any other sweeper, whose jobs cannot be known in advance)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    sweeper = multirun_cfg.hydra.sweeper
    if sweeper.get("_target_") not in (BASIC_SWEEPER, EVALSWEEP_SWEEPER):
        return None
    params = sweeper.get("params") or {}
    args = [f"{k}={v}" for k, v in params.items()] + list(multirun_cfg.hydra.overrides.task)
    loader = GlobalHydra.instance().config_loader() if GlobalHydra.instance().is_initialized() else None
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(args)
    batches = BasicSweeper.split_arguments(parsed, None)
    return [list(job) for job in batches[0]]


def swept_values(jobs: list[list[str]]) -> dict[str, list[str]]:
    """Key -> distinct values across the jobs, for keys that take more than one value."""
    values: dict[str, list[str]] = {}
    for job in jobs:
        for override in job:
            key, _, value = override.partition("=")
            key = key.lstrip("+~")
            seen = values.setdefault(key, [])
            if value not in seen:
                seen.append(value)
    return {k: v for k, v in values.items() if len(v) > 1}


def swept_seeds(jobs: list[list[str]], own_seed: int) -> list[int]:
    seeds = {own_seed}
    for value in swept_values(jobs).get("seed", []):
        try:
            seeds.add(int(value))
        except ValueError:
            continue  # an interpolation or other non-literal: that job's own check sees its seed
    return sorted(seeds)


def parallel_jobs(launcher: Any, n_jobs: int, cores: int) -> int:
    """How many jobs the launcher runs at once: one for the basic launcher, n_jobs for joblib."""
    n = launcher.get("n_jobs") if launcher is not None and hasattr(launcher, "get") else None
    if n is None:
        return 1
    n = int(n)
    if n < 0:  # joblib: -1 is all cores, -2 all but one, ...
        n = max(1, cores + 1 + n)
    return max(1, min(n, n_jobs))


def job_sweep() -> list[list[str]] | None:
    """Inside a job: the overrides of each job of the sweep it belongs to, read from the multirun.yaml
    Hydra saved in the sweep dir."""
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return None
    saved = Path(hc.sweep.dir) / "multirun.yaml"
    try:
        st = saved.stat()
    except OSError:
        log.debug("no %s: validating this job without its sweep", saved)
        return None
    return copy.deepcopy(_saved_sweep(saved, st.st_mtime_ns, st.st_size))


@functools.lru_cache(maxsize=2)
def _saved_sweep(saved: Path, mtime_ns: int, size: int) -> list[list[str]] | None:
    """Read once per state of the file: every job of a sweep reads the same multirun.yaml twice."""
    cfg = OmegaConf.load(saved)
    assert isinstance(cfg, DictConfig)
    return sweep_jobs(cfg)


def context_for_job(exp: ExperimentConfig, output_dir: Path) -> JobContext:
    """The validation context of the running Hydra job (a single run or one job of a sweep)."""
    machine = Machine.probe()
    jobs = job_sweep()
    if not jobs:
        return JobContext(output_dir=output_dir, seeds=[exp.seed], machine=machine)
    validated = os.environ.get(VALIDATED_SWEEP) == str(Path(HydraConfig.get().sweep.dir).resolve())
    return JobContext(output_dir=output_dir, seeds=swept_seeds(jobs, exp.seed), n_jobs=len(jobs),
                      parallel_jobs=parallel_jobs(HydraConfig.get().launcher, len(jobs), machine.cores),
                      swept=swept_values(jobs), machine=machine, print_report=not validated)
