"""The Hydra task function's body: config -> job, typed errors -> one clear line and an exit code."""

from __future__ import annotations

import logging
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from evalsweep.config.schema import ExperimentConfig, validate
from evalsweep.errors import ConfigError, EvalsweepError, ExitCode
from evalsweep.job.interrupt import Interrupted
from evalsweep.app.launch import job_failed, runs_in_main_process

if TYPE_CHECKING:
    from evalsweep.results.record import JobInfo

log = logging.getLogger("evalsweep")

EXIT_SAMPLE_ERRORS = ExitCode.SAMPLE_ERRORS
EXIT_FAILED = ExitCode.OUTPUT  # the job could not finish its record (e.g. results.jsonl could not be written)
EXIT_INTERRUPTED = ExitCode.INTERRUPTED
# Jobs of this process that finished with failed samples (the basic launcher runs jobs here).
_jobs_with_errors: list[str] = []


def job_info() -> JobInfo:
    from evalsweep.app.config_flags import config_flags
    from evalsweep.results.record import JobInfo  # the job machinery loads only once a job runs

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    return JobInfo(output_dir=hc.runtime.output_dir, overrides=list(hc.overrides.task),
                   job_num=hc.job.num if multirun else None,
                   sweep_dir=str(Path(hc.sweep.dir).resolve()) if multirun else None,
                   multirun=multirun, name=hc.job.name, hydra_overrides=list(hc.overrides.hydra),
                   config_flags=config_flags())


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


def write_hydra_files(cfg: DictConfig, out_dir: Path) -> None:
    """Hydra's own record of the job (.hydra/config.yaml, hydra.yaml, overrides.yaml), written once
    the job is accepted: hydra.output_subdir is null in conf/config.yaml so that a refused start
    never rewrites the files of the job that owns the dir. The same content Hydra writes."""
    from evalsweep.results.redact import redact

    hydra_dir = out_dir / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    files = (("config.yaml", cfg), ("hydra.yaml", HydraConfig.instance().cfg),
             ("overrides.yaml", HydraConfig.get().overrides.task))
    container = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(container, dict)
    for name, node in files:  # a key pasted into any value is not saved (evalsweep.results.redact)
        (hydra_dir / name).write_text(redact(OmegaConf.to_yaml(node), container), encoding="utf-8")


def python_command() -> str:
    """How to call this interpreter from the current dir (a venv's python, not a bare `python`)."""
    exe = Path(sys.executable)
    try:
        return str(exe.relative_to(Path.cwd()))
    except ValueError:
        return shlex.quote(str(exe))


def retry_command(info: JobInfo) -> str:
    """The command that re-runs into the same dir, which asks failed samples again (run.retry_errors)."""
    if info.multirun:
        return f"{python_command()} run.py -m <the same sweep> hydra.sweep.dir={shlex.quote(str(info.sweep_dir))}"
    over = " ".join(shlex.quote(o) for o in info.overrides)
    return f"{python_command()} run.py {over + ' ' if over else ''}hydra.run.dir={shlex.quote(info.output_dir)}"


def job_main(cfg: DictConfig) -> None:
    _quiet_http_logs()
    # Imported here so `run.py --help` and config errors stay fast.
    from evalsweep.job.experiment import load_env
    from evalsweep.job.in_dir import run_in_dir
    from evalsweep.results.rows import OutputWriteError
    from evalsweep.app.sweep import context_for_job

    info = job_info()
    out_dir = Path(info.output_dir)
    try:
        load_env()
        container, exp = resolve(cfg)
        result = run_in_dir(exp, container, info, context_for_job(exp, out_dir),
                            on_accept=lambda: write_hydra_files(cfg, out_dir),
                            log_file=out_dir / f"{info.name}.log")
    except EvalsweepError as exc:
        _leave(exc)
        return
    except OSError as exc:
        if exc.filename is None:
            raise
        # The job's own files (record, summary) on a full or read-only disk: what was written stays.
        _leave(OutputWriteError(f"cannot write {exc.filename}: {exc.strerror}; every row written before is kept: "
                                f"free disk space or make the dir writable, then re-run into the same dir"))
        return
    except KeyboardInterrupt as exc:
        _quiet_broken_stdout()
        print("evalsweep: interrupted; finished samples are saved, re-run into the same dir to resume",
              file=sys.stderr, flush=True)
        raise SystemExit(exc.exit_code if isinstance(exc, Interrupted) else EXIT_INTERRUPTED) from None
    if result is not None:
        _report_end(result, exp, out_dir, info)


def _leave(exc: EvalsweepError) -> None:
    if not runs_in_main_process():
        # joblib/submitit: a SystemExit would abort the sweep's other running jobs (launch.py).
        raise job_failed(exc) from None
    fail(exc)


def _quiet_broken_stdout() -> None:
    """After `run.py | tail` is interrupted the reader is gone: send what is left of stdout nowhere,
    so the interrupt ends as an interrupt, not as a BrokenPipeError at exit."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _report_end(result: Any, exp: ExperimentConfig, out_dir: Path, info: JobInfo) -> None:
    m = result.metrics["score"]
    ci = f" 95% CI [{m.ci95[0]:.3f}, {m.ci95[1]:.3f}]" if m.ci95 else ""
    mean = f"{m.mean:.3f}" if m.mean is not None else "n/a"
    sim = " [SIMULATOR, not a real model]" if result.simulated else ""
    progress = f" [{sweep_progress(info)}]" if info.multirun else ""
    # Answers cut at the token limit: said on the line itself, as a warning, with the fix.
    cut = f", {result.n_truncated} truncated at max_tokens (raise model.max_tokens)" if result.n_truncated else ""
    log.log(logging.WARNING if cut else logging.INFO,
            "%s on %s (%s, seed %d): mean score %s%s n=%d, errors %d, retries %d, cache hits %d/%d%s%s -> %s%s",
            result.model, result.dataset, result.prompt, result.seed, mean, ci, result.n_scored, result.n_errors,
            result.retries, result.cache.get("hits", 0),
            # Of the lookups (one per request: a multi-turn solver asks more than once a sample).
            result.cache.get("hits", 0) + result.cache.get("misses", 0) or result.n_samples, cut, sim, out_dir, progress)
    if result.status == "failed":
        _jobs_with_errors.append(str(out_dir))
        if not info.multirun:
            print(f"evalsweep: error: job failed: {result.stop_reason}", file=sys.stderr, flush=True)
            raise SystemExit(EXIT_FAILED)
    if result.n_errors and exp.run.fail_on_sample_errors:
        _jobs_with_errors.append(str(out_dir))
        if not info.multirun:
            print(f"evalsweep: {result.n_errors} sample(s) failed for good; see 'error' in {out_dir}/results.jsonl; "
                  f"to ask them again: {retry_command(info)}", file=sys.stderr, flush=True)
            raise SystemExit(EXIT_SAMPLE_ERRORS)


def sweep_progress(info: JobInfo) -> str:
    """'sweep: 4/12 jobs done, ETA ~3m' after a job of a multirun, from the job dirs on disk (right for the
    basic launcher's jobs one after the other; for parallel launchers an estimate)."""
    from evalsweep.app.sweep import job_sweep

    jobs = job_sweep()
    sweep_dir = Path(str(info.sweep_dir))
    n_total = len(jobs) if jobs else None
    n_done = sum(1 for p in sweep_dir.glob("*/summary.json"))
    started = (sweep_dir / "multirun.yaml").stat().st_mtime if (sweep_dir / "multirun.yaml").exists() else None
    if not n_total:
        return f"sweep: {n_done} jobs done"
    eta = ""
    if started is not None and 0 < n_done < n_total:
        import time

        left = (time.time() - started) / n_done * (n_total - n_done)
        eta = f", ETA ~{left / 60:.0f}m" if left >= 90 else f", ETA ~{left:.0f}s"
    return f"sweep: {n_done}/{n_total} jobs done{eta}"


def final_exit_code() -> int:
    """After a multirun: non-zero when any job recorded failed samples (in this process, or,
    for launchers that run jobs elsewhere, as read from the sweep's summaries)."""
    from evalsweep.app.callbacks import sweep_jobs_with_errors

    bad = sorted(set(_jobs_with_errors) | set(sweep_jobs_with_errors))
    if bad:
        print(f"evalsweep: {len(bad)} job(s) had failed or unfinished samples: {', '.join(bad)}",
              file=sys.stderr, flush=True)
        return EXIT_SAMPLE_ERRORS
    return 0
