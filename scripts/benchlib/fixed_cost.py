"""Workload 3, per-job fixed cost: a multirun of small jobs (10 samples each, the API a separate
simulator process at a fixed latency). Cost per job beyond the API time = (sweep wall time - the
floor - the sweep's latency-bound API time) / jobs. The floor, measured in the same run, is
`python run.py --help`: interpreter start and Hydra, which a sweep pays once."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from benchlib.procs import BenchError, check, job_command, read_summary, run_measured, simulator
from benchlib.results import Figure, WorkloadResult, median

NAME = "per_job_fixed_cost"
TARGET_S = 1.5
SAMPLES = 10
CONCURRENCY = 32


def _floor(work: Path, rounds: int) -> list[float]:
    return [check(run_measured(job_command(["--help"]), log_dir=work / "logs", name=f"help-{r}"), "run.py --help").wall_s
            for r in range(rounds)]


def _sweep(url: str, work: Path, name: str, *, jobs: int, tracker: str, launcher: list[str]) -> float:
    sweep_dir, cache = work / name, work / f"{name}.sqlite"
    shutil.rmtree(sweep_dir, ignore_errors=True)
    cache.unlink(missing_ok=True)
    overrides = [
        f"seed={','.join(str(s) for s in range(1, jobs + 1))}", f"dataset.max_samples={SAMPLES}",
        f"model.base_url={url}", f"model.max_concurrency={CONCURRENCY}", f"tracker={tracker}",
        "run.progress=false", f"hydra.sweep.dir={sweep_dir}",
        # The sweep report is a once-per-sweep cost, not a per-job one.
        "hydra.callbacks.report.enabled=false", *launcher,
    ]
    env = {"EVALSWEEP_CACHE_PATH": str(cache), "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    res = check(run_measured(job_command(overrides, multirun=True), env=env, log_dir=work / "logs", name=name),
                f"multirun {name}")
    for i in range(jobs):
        summary = read_summary(sweep_dir / str(i))
        if summary["n_done"] != SAMPLES or summary["n_errors"]:
            raise BenchError(f"{name} job {i}: {summary['n_done']} of {SAMPLES} samples, {summary['n_errors']} errors")
    return res.wall_s


VARIANTS = ("basic-wandb", "basic-none", "hydra-sweeper-none", "joblib-wandb")
# Same-run comparisons of two variants: (figure, variant, baseline variant, the baseline's label, note).
COMPARISONS = (
    ("wandb's cost: seconds per job beyond the API, basic launcher, wandb", "basic-wandb", "basic-none",
     "the same sweep, tracker=none",
     "wandb (offline) adds {diff:+.3f} s per job; its import and service start are paid once per sweep"),
    ("the sweeper's cost: seconds per job beyond the API, basic launcher, tracker=none", "basic-none",
     "hydra-sweeper-none", "the same sweep, hydra/sweeper=basic",
     "composing each job once, not three times: {diff:+.3f} s per job"),
)


def run(work: Path, *, jobs: int, latency_ms: float, n_jobs_parallel: int, rounds: int,
        variants: tuple[str, ...] = VARIANTS) -> WorkloadResult:
    work.mkdir(parents=True, exist_ok=True)
    floors = _floor(work, rounds)
    floor = median(floors)
    api_per_job = math.ceil(SAMPLES / CONCURRENCY) * latency_ms / 1000
    joblib = ["hydra/launcher=parallel", f"hydra.launcher.n_jobs={n_jobs_parallel}"]
    known = {
        "basic-wandb": ("basic launcher, wandb (default)", "wandb", [], jobs * api_per_job),
        "basic-none": ("basic launcher, tracker=none", "none", [], jobs * api_per_job),
        # Hydra's own sweeper, which composes each job three times (the default composes it once).
        "hydra-sweeper-none": ("basic launcher, tracker=none, hydra/sweeper=basic", "none", ["hydra/sweeper=basic"],
                               jobs * api_per_job),
        "joblib-wandb": (f"joblib launcher ({n_jobs_parallel} workers), wandb", "wandb", joblib,
                         math.ceil(jobs / n_jobs_parallel) * api_per_job),
    }
    walls: dict[str, float] = {}
    figures: list[Figure] = []
    with simulator(latency_ms, work / "logs") as url:
        for i, key in enumerate(variants):
            label, tracker, launcher, api_total = known[key]
            walls[label] = _sweep(url, work, f"sweep-{i}", jobs=jobs, tracker=tracker, launcher=launcher)
            per_job = (walls[label] - floor - api_total) / jobs
            figures.append(Figure(
                workload=NAME, name=f"seconds per job beyond the API, {label}", value=per_job, unit="s",
                baseline="python run.py --help (the floor)", baseline_value=floor, ratio=per_job / floor,
                target=f"<= {TARGET_S:g} s", met=per_job <= TARGET_S,
                note=f"{jobs} jobs x {SAMPLES} samples; (sweep wall {walls[label]:.2f} s - floor - "
                     f"API {api_total:.2f} s) / {jobs}"))
    by_variant = {key: f.value for key, f in zip(variants, figures)}
    for name, key, base, base_label, note in COMPARISONS:
        if key in by_variant and base in by_variant:
            value, baseline = by_variant[key], by_variant[base]
            figures.append(Figure(workload=NAME, name=name, value=value, unit="s", baseline=base_label,
                                  baseline_value=baseline, ratio=value / baseline,
                                  note=note.format(diff=value - baseline)))
    return WorkloadResult(workload=NAME, params={"jobs": jobs, "samples_per_job": SAMPLES, "latency_ms": latency_ms,
                                                 "n_jobs_parallel": n_jobs_parallel, "rounds_floor": rounds,
                                                 "variants": list(variants)},
                          figures=figures, raw={"floor_s": floors, "sweep_wall_s": walls})
