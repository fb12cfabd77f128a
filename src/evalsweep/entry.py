"""The Hydra task function's body: config -> job, typed errors -> one clear line and an exit code."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from evalsweep.config import ExperimentConfig, validate
from evalsweep.errors import ConfigError, EvalsweepError
from evalsweep.launch import job_failed, runs_in_main_process

log = logging.getLogger("evalsweep")

EXIT_SAMPLE_ERRORS = 4
EXIT_INTERRUPTED = 130
# Jobs of this process that finished with failed samples (the basic launcher runs jobs here).
_jobs_with_errors: list[str] = []


def job_info() -> dict[str, Any]:
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    return {
        "output_dir": hc.runtime.output_dir,
        "overrides": list(hc.overrides.task),
        "job_num": hc.job.num if multirun else None,
        "sweep_dir": str(Path(hc.sweep.dir).resolve()) if multirun else None,
        "multirun": multirun,
        "name": hc.job.name,
    }


def resolve(cfg: DictConfig) -> tuple[dict[str, Any], ExperimentConfig]:
    try:
        container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "?"
        raise ConfigError(f"config value '{key}' cannot be resolved: {str(exc).splitlines()[0]}") from None
    assert isinstance(container, dict)
    return container, validate(container)


def fail(exc: EvalsweepError) -> None:
    print(f"evalsweep: error: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(exc.exit_code)


def _quiet_http_logs() -> None:
    # One INFO line per HTTP request drowns the progress bar and the retry lines that matter.
    for name in ("httpx", "httpx2", "httpcore", "openai", "anthropic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def job_main(cfg: DictConfig) -> None:
    _quiet_http_logs()
    # Imported here so `run.py --help` and config errors stay fast.
    from evalsweep import record
    from evalsweep.experiment import load_env, run_job
    from evalsweep.preflight import validate_running_job

    try:
        load_env()
        container, exp = resolve(cfg)
        info = job_info()
        out_dir = Path(info["output_dir"])
        if not validate_running_job(exp, out_dir, info):
            return  # validate_only=true
        with record.recording(seed=exp.seed, cfg_container=container, job=info,
                              hydra_overrides=list(HydraConfig.get().overrides.hydra), out_dir=out_dir) as rec:
            result = run_job(exp, container, out_dir, info)
            rec.status = result.status
    except EvalsweepError as exc:
        if not runs_in_main_process():
            # joblib/submitit: a SystemExit would abort the sweep's other running jobs (launch.py).
            raise job_failed(exc) from None
        fail(exc)
        return
    except KeyboardInterrupt:
        print("evalsweep: interrupted; finished samples are saved, re-run into the same dir to resume",
              file=sys.stderr, flush=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    m = result.metrics["score"]
    ci = f" 95% CI [{m.ci95[0]:.3f}, {m.ci95[1]:.3f}]" if m.ci95 else ""
    mean = f"{m.mean:.3f}" if m.mean is not None else "n/a"
    sim = " [SIMULATOR, not a real model]" if result.simulated else ""
    log.info("%s on %s (%s, seed %d): mean score %s%s n=%d, errors %d%s -> %s", result.model, result.dataset,
             result.prompt, result.seed, mean, ci, result.n_scored, result.n_errors, sim, out_dir)
    if result.n_errors and exp.run.fail_on_sample_errors:
        _jobs_with_errors.append(str(out_dir))
        if not info["multirun"]:
            print(f"evalsweep: {result.n_errors} sample(s) failed for good; see 'error' in {out_dir}/results.jsonl",
                  file=sys.stderr, flush=True)
            raise SystemExit(EXIT_SAMPLE_ERRORS)


def final_exit_code() -> int:
    """After a multirun: non-zero when any job recorded failed samples (in this process, or,
    for launchers that run jobs elsewhere, as read from the sweep's summaries)."""
    from evalsweep.callbacks import sweep_jobs_with_errors

    bad = sorted(set(_jobs_with_errors) | set(sweep_jobs_with_errors))
    if bad:
        print(f"evalsweep: {len(bad)} job(s) had failed or unfinished samples: {', '.join(bad)}",
              file=sys.stderr, flush=True)
        return EXIT_SAMPLE_ERRORS
    return 0
