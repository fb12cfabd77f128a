"""The cache seen from the user's side: a job run twice costs one run's requests, models and seeds
never share answers, four joblib jobs share one file, and `python -m evalsweep.cache`. Single jobs
run in-process (evalsweep.run_job); sweeps and launchers through `python run.py`."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalsweep.cache import ResponseCache
from evalsweep.cache.__main__ import main as cache_cli
from evalsweep.llm.types import GenerateRequest, GenerateResponse, Message

from conftest import NO_REPORT, ROOT, InprocJob, base_args, job_args, job_log, rows, run_py, sim_server, summary
from evalsweep.api import JobResult

PRICE = ["model.price.input_per_mtok=3.0", "model.price.output_per_mtok=15.0"]


@pytest.mark.slow
def test_a_rerun_sends_nothing_and_models_and_seeds_never_share(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    cache = tmp_path / "cache.sqlite"
    with sim_server() as srv:
        common = [f"model.base_url={srv.url}", *PRICE]
        first = run_job_inproc(["model=sim", *common, *job_args()], tmp_path / "r1",
                               env={"EVALSWEEP_CACHE_PATH": str(cache)})
        assert isinstance(first, JobResult), first
        after_first = srv.stats().requests_total
        second = run_job_inproc(["model=sim", *common, *job_args()], tmp_path / "r2",
                                env={"EVALSWEEP_CACHE_PATH": str(cache)})
        assert isinstance(second, JobResult), second
        after_second = srv.stats().requests_total
        # Same cache, another model and another seed: only sim at seed 42 was asked before.
        sweep = tmp_path / "sweep"
        third = run_py(["-m", "model=sim,sim_weak", "seed=42,43", *common, *base_args(tmp_path / "unused"),
                        NO_REPORT, f"hydra.sweep.dir={sweep}"], cache=cache)
        assert third.returncode == 0, third.stderr[-3000:]
        sim = srv.stats()
    assert after_first == 8
    assert after_second == after_first, "the re-run sent requests"
    s1, s2 = summary(tmp_path / "r1"), summary(tmp_path / "r2")
    assert s1["cache"]["misses"] == 8 and s1["requests_sent"] == 8
    assert s2["cache"]["hits"] == 8 and s2["cache"]["hit_rate"] == 1.0 and s2["requests_sent"] == 0
    rows1, rows2 = rows(tmp_path / "r1"), rows(tmp_path / "r2")
    assert all(r["cached"] for r in rows2) and not any(r["cached"] for r in rows1)
    # Rows are written in completion order, which differs between a fresh and a cached run.
    assert sorted((r["sample_id"], r["output"]) for r in rows2) == sorted((r["sample_id"], r["output"]) for r in rows1)
    # Cached answers cost nothing; what they would have cost is counted apart.
    assert s2["cost_usd"] == 0 and s2["cost_saved_usd"] == pytest.approx(s1["cost_usd"]) and s1["cost_usd"] > 0
    jobs = {(s["model"], s["seed"]): s for s in (summary(d) for d in sweep.iterdir() if (d / "summary.json").exists())}
    assert set(jobs) == {("sim", 42), ("sim", 43), ("sim-weak", 42), ("sim-weak", 43)}
    assert jobs[("sim", 42)]["cache"]["hits"] == 8 and jobs[("sim", 42)]["requests_sent"] == 0
    for k in [("sim", 43), ("sim-weak", 42), ("sim-weak", 43)]:
        assert jobs[k]["cache"]["misses"] == 8 and jobs[k]["cache"]["hits"] == 0, k
    assert sim.requests_total - after_second == 24
    assert sim.by_model == {"sim": 16, "sim-weak": 16}


@pytest.mark.slow
def test_four_joblib_jobs_write_one_cache_at_once(tmp_path: Path) -> None:
    cache, sweep = tmp_path / "cache.sqlite", tmp_path / "sweep"
    # Slow answers, few at once: each job runs for seconds, so the four overlap.
    with sim_server(latency_ms=100) as srv:
        proc = run_py(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4", "seed=1,2,3,4", "model=sim",
                       "model.max_concurrency=4", f"model.base_url={srv.url}", *base_args(tmp_path / "unused", samples=24),
                       NO_REPORT, f"hydra.sweep.dir={sweep}"], cache=cache, timeout=240)
        sim = srv.stats()
    assert sim.max_in_flight > 4, "the jobs did not run at the same time"
    logs = proc.stdout + proc.stderr + "".join(p.read_text() for p in sweep.rglob("*.log"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "database is locked" not in logs and "response cache off" not in logs
    assert sim.requests_total == 4 * 24
    for job in range(4):
        s = summary(sweep / str(job))
        assert s["status"] == "complete" and s["cache"]["misses"] == 24 and s["cache"].get("error") is None
    out = subprocess.run([sys.executable, "-m", "evalsweep.cache", "stats", "--json", "--path", str(cache)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["entries"] == 4 * 24  # every job's every answer is in the file


@pytest.mark.slow
def test_a_corrupt_cache_file_never_costs_a_result(tmp_path: Path, run_job_inproc: InprocJob,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(b"\x00not sqlite\x00" * 500)
    res = run_job_inproc(["model=sim", *job_args(samples=4)], tmp_path / "run", env={"EVALSWEEP_CACHE_PATH": str(cache)})
    assert isinstance(res, JobResult), res
    assert "is not a readable database" in job_log(tmp_path / "run")
    s = summary(tmp_path / "run")
    assert s["status"] == "complete" and s["n_done"] == 4 and s["cache"]["misses"] == 4
    assert len(list(tmp_path.glob("cache.sqlite.corrupt-*"))) == 1
    capsys.readouterr()
    assert _stats(cache, capsys)["entries"] == 4  # the fresh cache holds this run's answers


# --- python -m evalsweep.cache --------------------------------------------------------------------


def _fill(path: Path) -> None:
    """Entries for two models; a third of sim's are ten days old."""

    async def main() -> None:
        cache = ResponseCache(path)
        for model, n in (("sim", 6), ("sim-weak", 3)):
            r = GenerateRequest(provider="openai", model=model, messages=[Message(role="user", content="q")])
            for i in range(n):
                cache.put(f"{model}-{i}", r, GenerateResponse(text=str(i)))
        await cache.close()

    asyncio.run(main())
    conn = sqlite3.connect(path)
    with conn:
        old = time.time() - 10 * 86400
        conn.execute("UPDATE responses SET value = json_set(value, '$.created', ?) WHERE key IN ('sim-0', 'sim-1')",
                     (old,))
    conn.close()


def _stats(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    assert cache_cli(["stats", "--json", "--path", str(path), *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_cache_cli_stats_prune_and_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.sqlite"
    _fill(path)
    s = _stats(path, capsys)
    assert s["entries"] == 9 and {(m["model"], m["entries"]) for m in s["by_model"]} == {("sim", 6), ("sim-weak", 3)}
    assert _stats(path, capsys, "--older-than", "7d")["matching"] == 2
    assert _stats(path, capsys, "--model", "sim-weak")["matching"] == 3

    assert cache_cli(["prune", "--older-than", "7d", "--dry-run", "--path", str(path)]) == 0
    assert "would delete 2 entries" in capsys.readouterr().out
    assert _stats(path, capsys)["entries"] == 9
    assert cache_cli(["prune", "--older-than", "7d", "--path", str(path)]) == 0
    assert "deleted 2 entries" in capsys.readouterr().out
    assert {(m["model"], m["entries"]) for m in _stats(path, capsys)["by_model"]} == {("sim", 4), ("sim-weak", 3)}

    assert cache_cli(["clear", "--model", "sim-weak", "--path", str(path)]) == 0
    assert "deleted 3 entries" in capsys.readouterr().out
    assert {m["model"] for m in _stats(path, capsys)["by_model"]} == {"sim"}
    assert cache_cli(["clear", "--path", str(path)]) == 0
    assert "deleted 4 entries" in capsys.readouterr().out
    assert _stats(path, capsys)["entries"] == 0


def test_cache_cli_prune_needs_an_age_and_reads_durations(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cache_cli(["prune"])
    assert exc.value.code == 2 and "--older-than" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cache_cli(["prune", "--older-than", "7 days"])
    assert "30m, 12h, 7d or 2w" in capsys.readouterr().err


def test_cache_cli_missing_or_corrupt_file_is_one_clear_line(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert cache_cli(["stats", "--path", str(tmp_path / "none.sqlite")]) == 2
    assert "no response cache at" in capsys.readouterr().err
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"garbage" * 100)
    assert cache_cli(["clear", "--path", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable cache" in err and str(bad) in err
    assert bad.read_bytes() == b"garbage" * 100  # the CLI never deletes what it cannot read


def test_cache_cli_runs_as_a_module_with_the_env_path(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    _fill(path)
    out = subprocess.run([sys.executable, "-m", "evalsweep.cache", "stats"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env={**os.environ, "EVALSWEEP_CACHE_PATH": str(path)})
    assert out.returncode == 0, out.stderr
    assert str(path) in out.stdout and "openai/sim" in out.stdout and "9 entries" in out.stdout
