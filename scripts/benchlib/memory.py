"""Workload 4, memory: a large dataset streamed through one job (simulator at latency 0, a fresh
cache), the job process's peak RSS against the same job on a tenth of the samples. Flat memory
means the ratio stays near 1; the target is also an absolute cap."""

from __future__ import annotations

from pathlib import Path

from benchlib.datasets import write_arithmetic
from benchlib.jobs import fresh, job_overrides, run_job
from benchlib.procs import BenchError, ProcResult, read_summary, simulator
from benchlib.results import Figure, WorkloadResult

NAME = "memory"
TARGET_MB = 400.0
# Peak RSS of the large job over the small one's: "flat" allows this much growth.
TARGET_GROWTH = 1.25


def _peak(url: str, n: int, work: Path, *, cached: bool = False) -> ProcResult:
    """The run of a job over n samples (its peak RSS, wall time): uncached into a fresh cache, or
    (cached=True) the same job again, every answer from that cache."""
    dataset = work / f"memory-{n}.jsonl"
    if not cached:
        write_arithmetic(dataset, n, seed=4)
    run_dir, cache = work / f"memory-{n}{'-cached' if cached else ''}", work / f"memory-{n}.sqlite"
    fresh(run_dir, None if cached else cache)
    proc = run_job(job_overrides(url=url, dataset=dataset, run_dir=run_dir, concurrency=100),
                   cache_path=cache, log_dir=work / "logs", name=run_dir.name)
    summary = read_summary(run_dir)
    if summary["n_done"] != n or summary["n_errors"]:
        raise BenchError(f"{run_dir.name}: {summary['n_done']} of {n} samples done, {summary['n_errors']} errors")
    if cached and summary["cache"]["hits"] != n:
        raise BenchError(f"{run_dir.name}: {summary['cache']['hits']} of {n} answers from the cache")
    return proc


def run(work: Path, *, n_small: int, n_large: int) -> WorkloadResult:
    work.mkdir(parents=True, exist_ok=True)
    with simulator(0, work / "logs") as url:
        runs = {str(n_small): _peak(url, n_small, work), str(n_large): _peak(url, n_large, work),
                f"{n_large}-cached": _peak(url, n_large, work, cached=True)}
    small, large, rerun = (r.peak_rss_mb for r in runs.values())
    growth = large / small
    figures = [
        Figure(workload=NAME, name=f"peak RSS, {n_large:,} samples", value=large, unit="MB",
               baseline=f"peak RSS, {n_small:,} samples", baseline_value=small, ratio=growth,
               target=f"<= {TARGET_MB:g} MB and <= {TARGET_GROWTH}x", met=large <= TARGET_MB and growth <= TARGET_GROWTH,
               note="the job process's own peak (bench.procs.run_measured: VmHWM, or ru_maxrss above the "
                    "benchmark's own peak); the simulator runs in its own process"),
        Figure(workload=NAME, name=f"peak RSS, {n_large:,} samples, cached re-run", value=rerun, unit="MB",
               baseline=f"peak RSS, {n_small:,} samples", baseline_value=small, ratio=rerun / small,
               target=f"<= {TARGET_MB:g} MB", met=rerun <= TARGET_MB,
               note="the same job again, every answer read from the cache"),
    ]
    return WorkloadResult(workload=NAME, params={"n_small": n_small, "n_large": n_large}, figures=figures,
                          raw={"peak_rss_mb": {k: r.peak_rss_mb for k, r in runs.items()},
                               "peak_rss_how": {k: r.peak_rss_how for k, r in runs.items()},
                               # What wait4 alone said, and the floor under it: the benchmark's own peak.
                               "wait4_maxrss_mb": {k: r.wait4_maxrss_mb for k, r in runs.items()},
                               "bench_process_hwm_mb": {k: r.parent_hwm_mb for k, r in runs.items()},
                               "wall_s": {k: r.wall_s for k, r in runs.items()}})
