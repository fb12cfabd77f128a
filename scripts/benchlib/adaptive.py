"""Workload 5, adaptive limits: a job that is not told the server's rate limit (model.adaptive_limits,
the default) against a simulator that admits at most `limit` requests per `window_s` and answers
429 beyond it. Its baseline is the limit itself: the share of it the job used in every full window
(the simulator counts what it admitted per window; the last, partly used window is left out), and
the share of the job's requests the simulator answered 429."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from benchlib.datasets import write_arithmetic
from benchlib.jobs import fresh, job_overrides, run_job
from benchlib.procs import BenchError, read_summary, simulator
from benchlib.results import Figure, WorkloadResult

NAME = "adaptive_limits"
TARGET_USE = 0.9
TARGET_429 = 0.02


def _stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_sim/stats", timeout=10) as reply:
        return json.loads(reply.read())


def run(work: Path, *, n: int, latency_ms: float, concurrency: int, limit: int, window_s: float) -> WorkloadResult:
    work.mkdir(parents=True, exist_ok=True)
    dataset = write_arithmetic(work / f"adaptive-{n}.jsonl", n, seed=5)
    run_dir, cache = work / "adaptive", work / "adaptive.sqlite"
    fresh(run_dir, cache)
    limits = ["--rate-limit-requests", str(limit), "--rate-limit-window-s", str(window_s)]
    with simulator(latency_ms, work / "logs", extra_args=limits) as url:
        # Retries as a real job has them: a 429 is retried after the server's retry-after.
        run_job(job_overrides(url=url, dataset=dataset, run_dir=run_dir, concurrency=concurrency),
                cache_path=cache, log_dir=work / "logs", name="adaptive")
        stats = _stats(url)
    summary = read_summary(run_dir)
    if summary["n_errors"]:
        raise BenchError(f"adaptive: {summary['n_errors']} sample(s) failed; see {work / 'logs'}")
    windows = stats["admitted_by_window"]
    full = windows[:-1] or windows
    per_window = sum(full) / len(full)
    sent, limited = stats["requests_total"], stats["rate_limited"]
    rate = n / float(summary["eval_time_s"])  # every sample is one request when none is refused
    limit_rate = limit / window_s
    figures = [
        Figure(workload=NAME, name="requests admitted per full window vs the server's limit", value=per_window,
               unit="requests", baseline=f"the simulator's limit per {window_s:g} s window", baseline_value=limit,
               ratio=per_window / limit, better="higher", target=f">= {TARGET_USE}x",
               met=per_window / limit >= TARGET_USE,
               note=f"{len(full)} full windows; the job was not told the limit"),
        Figure(workload=NAME, name="requests answered 429, share of all sent", value=limited, unit="requests",
               baseline="requests the job sent (retries included)", baseline_value=sent, ratio=limited / sent,
               target=f"<= {TARGET_429}x", met=limited / sent <= TARGET_429),
        Figure(workload=NAME, name="job's samples/s end to end vs the limit's rate", value=rate, unit="requests/s",
               baseline="limit / window", baseline_value=limit_rate, ratio=rate / limit_rate, better="higher",
               note="eval time holds the SDK import and the first window's start"),
    ]
    return WorkloadResult(workload=NAME, params={"n": n, "latency_ms": latency_ms, "concurrency": concurrency,
                                                 "limit": limit, "window_s": window_s},
                          figures=figures, raw={"admitted_by_window": windows, "requests_total": sent,
                                                "rate_limited": limited, "eval_time_s": summary["eval_time_s"]})
