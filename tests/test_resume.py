"""Crash and resume: SIGKILL at random points, SIGINT, re-running into the same dir.

Every job talks to a simulator started here, so the test counts the requests each attempt
really sent. Jobs to be signalled run as `python run.py`; a resume that needs no signal runs in-process
(evalsweep.run_job). The cache is off in the kill tests: a sample may then only be skipped because
results.jsonl holds it, which makes "answered before the kill, not asked again" exact.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (InprocJob, count_lines, identities, job_env, job_log, kill, run_cli, settle, spawn, summary,
                      wait_for_lines)

from evalsweep.api import JobResult
from evalsweep.errors import ConfigError
from evalsweep.simulator import SimulatorConfig, SimulatorServer
from evalsweep.tracking.wandb_offline import find_run_files, read_run

N = 40
pytestmark = pytest.mark.slow


@pytest.fixture
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(latency_ms=20)) as srv:
        yield srv


def job_args(server: SimulatorServer, *extra: str, n: int = N) -> list[str]:
    # One request at a time: records land one by one, so a kill point is a number of lines.
    return [f"model.base_url={server.url}", f"dataset.max_samples={n}", "model.max_concurrency=1",
            "run.progress=false", *extra]


def test_sigkill_at_random_points_then_resume_loses_and_repeats_nothing(tmp_path: Path, server,
                                                                       run_job_inproc: InprocJob) -> None:
    out = tmp_path / "job"
    results = out / "results.jsonl"
    env = job_env(tmp_path)
    job = job_args(server, "cache.enabled=false", "tracker=none")
    args = [*job, f"hydra.run.dir={out}"]
    rng = random.Random(20261126)
    # Kill before the first record, then at two random points further on.
    points = [0, rng.randint(2, N // 3), rng.randint(N // 2, N - 4)]
    for attempt, point in enumerate(points):
        before = identities(results)
        asked_before = settle(server)
        proc = spawn(args, env, tmp_path / f"attempt{attempt}.log")
        if point == 0:
            time.sleep(0.3)  # still starting up: nothing written yet
        else:
            wait_for_lines(proc, results, point)
        assert kill(proc) == -signal.SIGKILL
        after = identities(results)
        asked = settle(server) - asked_before
        assert all(n == 1 for n in after.values()), "a sample was written twice"
        assert before.keys() <= after.keys(), "a finished sample was lost"
        # Only new samples were asked; beyond those written, at most the one in flight and the
        # one answered but still on its way to the file (one request at a time).
        assert len(after) - len(before) <= asked <= len(after) - len(before) + 2
    # Simulate a write torn by the kill: half a record without its newline.
    last = results.read_bytes().split(b"\n")[-2]
    with results.open("ab") as f:
        f.write(last[: len(last) // 2])
    missing = N - len(identities(results))
    asked_before = settle(server)
    logged_before = len(job_log(out))  # the killed attempts' lines: not this resume's
    r = run_job_inproc(job, out)  # the resume needs no signal: in-process
    assert isinstance(r, JobResult), r
    assert settle(server) - asked_before == missing  # exactly the samples not in the file
    final = identities(results)
    assert len(final) == N and set(final.values()) == {1}
    assert results.read_bytes().endswith(b"\n")
    s = summary(out)
    assert s["status"] == "complete" and s["n_done"] == N and s["n_resumed"] == N - missing
    assert "dropped a torn last line" in job_log(out)[logged_before:]


def test_multirun_resume_skips_finished_jobs_and_finishes_the_rest(tmp_path: Path, server) -> None:
    sweep = tmp_path / "sweep"
    env = job_env(tmp_path)
    n = 20
    args = ["-m", "model=sim_weak,sim_strong", *job_args(server, f"hydra.sweep.dir={sweep}", n=n),
            "hydra.callbacks.report.enabled=false"]
    proc = spawn(args, env, tmp_path / "first.log")
    point = random.Random(7).randint(3, n - 5)
    wait_for_lines(proc, sweep / "1" / "results.jsonl", point)  # job 0 done, job 1 part way
    assert kill(proc) == -signal.SIGKILL
    done_before = {j: identities(sweep / j / "results.jsonl") for j in ("0", "1")}
    assert len(done_before["0"]) == n and len(done_before["1"]) < n
    job0_summary = (sweep / "0" / "summary.json").read_bytes()
    before = settle(server)
    weak_before = server.stats().by_model.get("sim-weak", 0)

    r = run_cli(args, environ=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "already complete" in r.stdout + r.stderr
    settle(server)
    assert server.stats().by_model.get("sim-weak", 0) == weak_before  # job 0 sent nothing
    # Job 1 asked only what it had not written (answers before the kill may also be cached).
    assert server.stats().requests_total - before <= n - len(done_before["1"])
    for j in ("0", "1"):
        ids = identities(sweep / j / "results.jsonl")
        assert len(ids) == n and set(ids.values()) == {1}
        assert summary(sweep / j)["status"] == "complete"
    assert (sweep / "0" / "summary.json").read_bytes() == job0_summary
    # wandb: job 0 kept its single run; job 1 has the killed run and the finishing one.
    assert len(find_run_files(sweep / "0")) == 1
    runs = sorted((read_run(f) for f in find_run_files(sweep / "1")), key=lambda run: run.exit_code is None)
    assert len(runs) == 2
    finished, killed = runs
    assert killed.exit_code is None and finished.exit_code == 0  # wandb-core may not have flushed more
    assert finished.summary["n_resumed"] == len(done_before["1"]) and finished.summary["n_done"] == n
    assert finished.group == str(sweep.resolve())[-128:] and "resumed" in finished.tags


def test_sigint_saves_an_incomplete_summary_and_exits_130(tmp_path: Path, server) -> None:
    out = tmp_path / "job"
    env = job_env(tmp_path)
    proc = spawn(job_args(server, f"hydra.run.dir={out}"), env, tmp_path / "int.log")
    wait_for_lines(proc, out / "results.jsonl", 5)
    assert kill(proc, signal.SIGINT) == 130
    log = (tmp_path / "int.log").read_text()
    assert "interrupted" in log
    s = summary(out)
    ids = identities(out / "results.jsonl")
    assert s["status"] == "incomplete" and "SIGINT" in s["stop_reason"]
    assert s["n_done"] == len(ids) == count_lines(out / "results.jsonl") and 5 <= len(ids) < N
    assert s["n_not_run"] == N - len(ids)
    run = read_run(find_run_files(out)[0])
    assert run.exit_code == 1 and run.summary["status"] == "incomplete"  # marked failed


# A job whose cleanup after the first Ctrl-C is slow (here: a 30 s `finally`), as when a
# tracker or a cache waits on a stuck disk. A second Ctrl-C must not wait for it.
SLOW_CLEANUP = """
import asyncio, sys
from evalsweep.job.interrupt import SigintGuard

async def job():
    print("running", flush=True)
    try:
        await asyncio.sleep(60)
    finally:
        print("cleaning up", flush=True)
        await asyncio.shield(asyncio.sleep(30))

guard = SigintGuard().install()
try:
    guard.run(job())
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_second_sigint_exits_at_once() -> None:
    proc = subprocess.Popen([sys.executable, "-c", SLOW_CLEANUP], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "running"
    proc.send_signal(signal.SIGINT)
    assert proc.stdout.readline().strip() == "cleaning up"  # the first one cancels the job
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 130
    assert time.monotonic() - t0 < 2
    assert "second interrupt" in proc.stderr.read()


def test_first_sigint_cancels_the_job_and_raises_keyboardinterrupt() -> None:
    script = SLOW_CLEANUP.replace("asyncio.shield(asyncio.sleep(30))", "asyncio.sleep(0)")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "running"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 130
    assert proc.stdout.read().strip() == "cleaning up"
    assert "Ctrl-C again to quit at once" in proc.stderr.read()


def test_resume_into_a_dir_of_another_experiment_is_refused(tmp_path: Path, server,
                                                            run_job_inproc: InprocJob) -> None:
    out = tmp_path / "job"
    first = job_args(server, "tracker=none", n=3)
    assert isinstance(run_job_inproc(first, out), JobResult)
    before = (out / "results.jsonl").read_bytes()
    # Refused with the error run.py prints as its one line (exit 2).
    r = run_job_inproc(["model=sim_strong", *first], out)
    assert isinstance(r, ConfigError) and r.exit_code == 2, r
    assert "holds results of model=sim " in str(r) and "another output dir" in str(r)
    r = run_job_inproc([*first, "model.temperature=0.1"], out)
    assert isinstance(r, ConfigError) and "model.temperature" in str(r)
    assert (out / "results.jsonl").read_bytes() == before  # nothing written is lost
    assert json.loads((out / "summary.json").read_text())["status"] == "complete"
    assert not (out / "wandb").exists()  # tracker=none: no wandb run at all
