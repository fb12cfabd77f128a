"""Batch mode where the process is the point: SIGKILL while batches are in flight then the same
command (each batch created once, every sample once), a 2-model x 3-seed sweep that waits once and
reports."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PY, ROOT, base_args, cli_env, identities, job_dirs, kill, rows, run_cli, sim_server, spawn, summary

FAST = ["run.mode=batch", "run.batch_poll_s=0.05", "run.batch_poll_max_s=0.2"]


def _entries(job_dir: Path) -> list[dict]:
    """The batches saved (not an upload whose batch was still being created: batches/upload-*.json)."""
    return [json.loads(p.read_text()) for p in (job_dir / "batches").glob("*.json")
            if p.name != "endpoint.json" and not p.name.startswith("upload-")]


def _wait_for_batches(proc: subprocess.Popen[bytes], job_dir: Path, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (job_dir / "batches").is_dir() and len(_entries(job_dir)) >= n:
            return
        assert proc.poll() is None, f"job ended (rc={proc.returncode}) before it submitted {n} batches"
        time.sleep(0.01)
    raise AssertionError(f"{job_dir} did not get {n} batches in {timeout}s")


@pytest.mark.parametrize("model", ["sim", "sim_gemini"])  # OpenAI's batch API (an upload, then create); Gemini's
def test_sigkill_with_batches_in_flight_then_the_same_command(model: str, tmp_path: Path) -> None:
    run_dir = tmp_path / "job"
    with sim_server(batch_delay_s=60) as srv:
        args = [*base_args(run_dir, samples=8), *FAST, f"model={model}", f"model.base_url={srv.url}",
                "run.batch_max_requests=3"]
        env = cli_env(tmp_path)
        proc = spawn(args, env, tmp_path / "first.log")
        _wait_for_batches(proc, run_dir, 3)  # every request is in a batch the dir holds
        assert kill(proc) != 0
        assert srv.stats().batches_created == 3 and not (run_dir / "results.jsonl").read_text()
        srv.config.faults.batch_delay_s = 0  # the batches end while no job is there to see it
        done = run_cli(args, environ=env)
        assert done.returncode == 0, done.stderr[-2000:]
        stats = srv.stats()
        assert stats.batches_created == 3 and stats.batch_requests == 8  # re-attached: nothing submitted twice
        assert sorted(e["id"] for e in _entries(run_dir)) == sorted(
            e.split(":")[1] for e in stats.batch_events if e.startswith("create:"))
        counts = identities(run_dir / "results.jsonl")
        assert len(counts) == 8 and set(counts.values()) == {1}  # every sample exactly once
        assert summary(run_dir)["status"] == "complete" and stats.requests_total == 0


def test_batch_sweep_of_two_models_and_three_seeds_waits_once_and_reports(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    with sim_server(batch_delay_s=600) as srv:
        args = ["-m", "model=sim,sim_strong", "seed=42,43,44", *FAST, f"model.base_url={srv.url}",
                "tracker=none", "run.progress=false", "dataset.max_samples=6", "++spec.skip_validation=true",
                f"hydra.sweep.dir={sweep}"]
        proc = subprocess.Popen([PY, str(ROOT / "run.py"), *args], cwd=ROOT, env=cli_env(tmp_path),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 240
        # Until every job has submitted, polled once and finished its pass (its summary written).
        while len(list(sweep.glob("*/summary.json"))) < 6 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        srv.config.faults.batch_delay_s = 0  # the batches may end now
        out, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0, out[-3000:]
        assert out.count("sweep: waiting for 6 batch(es) of 6 job(s)") == 1, out[-3000:]
        stats = srv.stats()
        assert stats.batches_created == 6 and stats.batch_requests == 36
        kinds = [e.split(":")[0] for e in stats.batch_events]
        assert kinds == ["create"] * 6 + ["results"] * (len(kinds) - 6)  # every batch in before any answer out
        dirs = job_dirs(sweep)
        assert len(dirs) == 6 and all(summary(d)["status"] == "complete" and len(rows(d)) == 6 for d in dirs)
        assert (sweep / "report.md").exists()


def test_ctrl_c_says_which_batches_are_in_flight_and_how_to_go_on(tmp_path: Path) -> None:
    run_dir = tmp_path / "job"
    with sim_server(batch_delay_s=30) as srv:
        args = [*base_args(run_dir, samples=2), *FAST, f"model.base_url={srv.url}"]
        proc = spawn(args, cli_env(tmp_path), tmp_path / "out.log")
        _wait_for_batches(proc, run_dir, 1)
        assert kill(proc, signal.SIGINT) == 130
        out = (tmp_path / "out.log").read_text()
        [entry] = _entries(run_dir)
        assert f"1 batch(es): 1 in progress; 2 request(s) kept in {run_dir / 'batches'}" in out, out[-2000:]
        assert f"evalsweep batch cancel {run_dir}" in out and srv.stats().batches_created == 1
        assert entry["state"] == "in_progress"
