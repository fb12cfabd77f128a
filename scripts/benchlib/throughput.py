"""Workload 1, uncached throughput: n samples at a fixed simulated latency, against two baselines
from the same run: the latency-bound ideal (n x latency / concurrency) and a minimal loop of
asyncio + semaphore + the raw openai SDK sending the same requests (benchlib.rawloop)."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import OmegaConf

from benchlib.datasets import write_arithmetic
from benchlib.jobs import fresh, job_overrides, run_job
from benchlib.procs import PYTHON, BenchError, check, read_summary, run_measured, simulator
from benchlib.results import Figure, WorkloadResult, median
from evalsweep.config.base import PROJECT_ROOT
from evalsweep.config.task import PromptConfig
from evalsweep.task.data import Sample
from evalsweep.task.prompts import render

NAME = "uncached_throughput"
TARGET_VS_SDK = 1.2


def write_requests(dataset: Path, out: Path) -> Path:
    """The messages the job sends for each sample (its default prompt), for the raw loop to send too."""
    prompt = PromptConfig.model_validate(OmegaConf.to_container(OmegaConf.load(PROJECT_ROOT / "conf/prompt/direct.yaml")))
    with dataset.open(encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        for line in src:
            row = json.loads(line)
            sample = Sample(id=row["id"], input=row["question"], target=row["answer"])
            dst.write(json.dumps([m.model_dump() for m in render(prompt, sample)]) + "\n")
    return out


def _raw_loop(url: str, requests: Path, concurrency: int, work: Path, name: str) -> tuple[float, float]:
    cmd = [PYTHON, str(Path(__file__).with_name("rawloop.py")), "--url", url, "--requests", str(requests),
           "--concurrency", str(concurrency)]
    res = check(run_measured(cmd, log_dir=work / "logs", name=name), "raw SDK loop")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    if out["errors"]:
        raise BenchError(f"raw SDK loop: {out['errors']} request(s) failed; see {work / 'logs'}")
    return float(out["wall_s"]), float(out["loop_s"])


def _runner(url: str, dataset: Path, concurrency: int, work: Path, name: str) -> float:
    run_dir = work / name
    fresh(run_dir, work / f"{name}.sqlite")
    run_job(job_overrides(url=url, dataset=dataset, run_dir=run_dir, concurrency=concurrency),
            cache_path=work / f"{name}.sqlite", log_dir=work / "logs", name=name)  # a fresh, empty cache
    summary = read_summary(run_dir)
    if summary["n_errors"] or summary["cache"]["hits"]:
        raise BenchError(f"{name}: expected every sample answered uncached, got {summary['n_errors']} errors and "
                           f"{summary['cache']['hits']} cache hits")
    return float(summary["eval_time_s"])


def run(work: Path, *, n: int, latency_ms: float, concurrency: int, rounds: int) -> WorkloadResult:
    work.mkdir(parents=True, exist_ok=True)
    dataset = write_arithmetic(work / f"throughput-{n}.jsonl", n, seed=1)
    requests = write_requests(dataset, work / f"throughput-{n}.requests.jsonl")
    ideal = n * latency_ms / 1000 / concurrency
    raw_s: list[float] = []
    loop_s: list[float] = []
    runner_s: list[float] = []
    with simulator(latency_ms, work / "logs") as url:
        _raw_loop(url, requests, concurrency, work, "tp-warmup")  # the first run pays for cold disk caches
        for r in range(rounds):
            # Alternate who goes first, so a slow spell of the shared machine hits both alike.
            order = ["raw", "runner"] if r % 2 == 0 else ["runner", "raw"]
            for kind in order:
                if kind == "raw":
                    wall, loop = _raw_loop(url, requests, concurrency, work, f"tp-raw-{r}")
                    raw_s.append(wall)
                    loop_s.append(loop)
                else:
                    runner_s.append(_runner(url, dataset, concurrency, work, f"tp-runner-{r}"))
    runner, raw, loop = median(runner_s), median(raw_s), median(loop_s)
    ratio = runner / raw
    sdk = "asyncio + semaphore + openai SDK"
    figures = [
        Figure(workload=NAME, name="runner eval time vs raw SDK loop", value=runner, unit="s",
               baseline=f"{sdk}, SDK import to last answer", baseline_value=raw, ratio=ratio,
               target=f"<= {TARGET_VS_SDK}x", met=ratio <= TARGET_VS_SDK,
               note="both clocks hold the SDK import and the client; the job's also the cache and results.jsonl"),
        Figure(workload=NAME, name="runner eval time vs raw SDK loop alone", value=runner, unit="s",
               baseline=f"{sdk}, loop alone", baseline_value=loop, ratio=runner / loop,
               note="the SDK import (once per process) counted against the runner"),
        Figure(workload=NAME, name="runner eval time vs latency-bound ideal", value=runner, unit="s",
               baseline="n x latency / concurrency", baseline_value=ideal, ratio=runner / ideal),
        Figure(workload=NAME, name="raw SDK loop alone vs latency-bound ideal", value=loop, unit="s",
               baseline="n x latency / concurrency", baseline_value=ideal, ratio=loop / ideal,
               note="what the SDK itself costs on this machine"),
    ]
    return WorkloadResult(workload=NAME, params={"n": n, "latency_ms": latency_ms, "concurrency": concurrency,
                                                 "rounds": rounds},
                          figures=figures, raw={"runner_eval_s": runner_s, "raw_sdk_s": raw_s, "raw_loop_s": loop_s})
