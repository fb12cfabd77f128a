"""Validate every job of a multirun before the first one starts.

Each job validates itself too, but with the basic launcher job 0 would already have spent money
by the time job 3 finds its spec incomplete, and with joblib the jobs run side by side. This Hydra
callback (registered in conf/config.yaml under hydra.callbacks) composes each job's config the way
the sweeper will and stops the whole multirun, before any job, when one of them fails."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict

from evalsweep.app.composed import begin as begin_composed
from evalsweep.cache.keys import not_sent
from evalsweep.config.schema import ExperimentConfig
from evalsweep.errors import ConfigError, EvalsweepError
from evalsweep.app.sweep import VALIDATED_SWEEP, parallel_jobs, sweep_jobs, swept_values
from evalsweep.job.validation import validate
from evalsweep.job.validation_context import JobContext, Machine
from evalsweep.job.validation_report import ValidationFailed, ValidationReport

log = logging.getLogger(__name__)
PREFLIGHT_TXT = "validation_preflight.txt"


def _label(i: int, overrides: list[str]) -> str:
    from evalsweep.results.redact import safe_override  # a key typed into an override is never repeated

    return f"#{i} [{' '.join(safe_override(o) for o in overrides) or 'no overrides'}]"


class ValidationPreflight(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from evalsweep.app.entry import fail, resolve  # entry imports the job machinery: only load it here

        _check_launcher(config, fail)
        jobs = sweep_jobs(config)
        if jobs is None:
            log.info("pre-run validation: sweeper %s cannot list its jobs ahead; each job validates itself",
                     config.hydra.sweeper.get("_target_"))
            return
        loader = GlobalHydra.instance().config_loader()
        shared = begin_composed(config)  # the launcher runs what is composed here (app/composed.py)
        composed: list[tuple[int, list[str], ExperimentConfig]] = []
        for i, overrides in enumerate(jobs):
            job_cfg = loader.load_sweep_config(config, list(overrides))
            shared.keep(overrides, job_cfg)
            with open_dict(job_cfg):
                job_cfg.pop("hydra")
            try:
                _, exp = resolve(job_cfg)
            except ConfigError as exc:
                fail(ConfigError(f"job {_label(i, overrides)} of the sweep, so no job was run: {exc}"))
            composed.append((i, overrides, exp))

        _check_swept_parameters(composed, swept_values(jobs), fail)
        _check_stores(composed, fail)
        machine = Machine.probe()
        sweep_dir = Path(str(config.hydra.sweep.dir))
        common = {"seeds": sorted({exp.seed for _, _, exp in composed}), "n_jobs": len(jobs),
                  "parallel_jobs": parallel_jobs(config.hydra.get("launcher"), len(jobs), machine.cores),
                  "swept": swept_values(jobs), "machine": machine}
        failures: list[tuple[str, ValidationReport]] = []
        first: ValidationReport | None = None
        for i, overrides, exp in composed:
            try:
                report = validate(exp, JobContext(output_dir=sweep_dir / str(i), **common))
            except EvalsweepError as exc:  # e.g. a dataset file that does not load: its own line and code
                fail(type(exc)(f"job {_label(i, overrides)} of the sweep, so no job was run: {exc}"))
            first = first or report
            if not report.passed:
                failures.append((_label(i, overrides), report))
        if not failures:
            # One report for the sweep (its jobs differ only in the swept values); each job saves its own.
            assert first is not None
            print(f"Pre-run validation: all {len(jobs)} jobs of the sweep pass. The report of job #0 "
                  f"(each job's own is saved in its dir):\n{first.render()}", end="", flush=True)
            os.environ[VALIDATED_SWEEP] = str(sweep_dir.resolve())  # launchers' workers inherit it
            return
        self._stop(failures, len(jobs), sweep_dir, fail)

    @staticmethod
    def _stop(failures: list[tuple[str, ValidationReport]], n_jobs: int, sweep_dir: Path, fail: Any) -> None:
        label, first = failures[0]
        print(f"Job {label} of the sweep:\n{first.render()}", end="", flush=True)
        text = "".join(f"Job {lab} of the sweep:\n{rep.render()}\n" for lab, rep in failures)
        try:
            sweep_dir.mkdir(parents=True, exist_ok=True)
            (sweep_dir / PREFLIGHT_TXT).write_text(text, encoding="utf-8")
        except OSError as exc:
            log.warning("could not save the validation reports in %s: %s", sweep_dir, exc)
        others = ", ".join(lab.split(" ")[0] for lab, _ in failures[1:6])
        more = f"; also {others}{' ...' if len(failures) > 6 else ''}" if others else ""
        where = f" for {len(failures)} of {n_jobs} jobs, so no job was run (first: job {label}{more})"
        fail(ValidationFailed(f"validation failed{where}: {first.fix_line()}"))


def _check_swept_parameters(composed: list[tuple[int, list[str], ExperimentConfig]], swept: dict[str, list[str]],
                            fail: Any) -> None:
    """A swept generation parameter that a job's model is never sent (temperature over Claude): its
    jobs would all send the same request, a sweep that looks like a result and is none."""
    for _, _, exp in composed:
        ignored = not_sent(exp.model.provider, exp.model.simulated, exp.model.reasoning)
        for key, values in swept.items():
            name = key.removeprefix("model.")
            if key.startswith("model.") and name in ignored:
                what = "a reasoning model" if exp.model.reasoning else f"provider {exp.model.provider}"
                fail(ConfigError(
                    f"{key} is swept ({', '.join(values)}), but {exp.model.name} ({what}) is not sent {name}: "
                    f"its jobs would all ask the same; sweep {name} over a model that takes it, or drop it "
                    f"from the sweep (docs/providers.md)"))


def _check_stores(composed: list[tuple[int, list[str], ExperimentConfig]], fail: Any) -> None:
    """The store every job will use answers (or its sqlite files are on local disks), checked once
    per distinct store before any job: with a parallel launcher each job would otherwise fail alone."""
    from evalsweep.store.checks import check_store

    seen: set[str] = set()
    for i, overrides, exp in composed:
        what = (exp.store.model_dump_json(), exp.cache.model_dump_json(), exp.shared_limit.model_dump_json())
        if "".join(what) in seen:
            continue
        seen.add("".join(what))
        try:
            check_store(exp.store, exp.cache, exp.shared_limit)
        except ConfigError as exc:
            fail(type(exc)(f"job {_label(i, overrides)} of the sweep, so no job was run: {exc}"))


def _check_launcher(config: DictConfig, fail: Any) -> None:
    """The SLURM launcher needs SLURM's commands here; without them submitit fails with a traceback."""
    target = str(config.hydra.launcher.get("_target_", ""))
    if "submitit" in target and "Slurm" in target and shutil.which("srun") is None:
        fail(ConfigError("hydra/launcher=slurm needs a SLURM cluster, but srun is not on PATH here: run the sweep "
                         "from a cluster's login node, or use hydra/launcher=parallel on this machine"))
