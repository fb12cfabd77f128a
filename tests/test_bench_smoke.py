"""The benchmark suite at tiny sizes (scripts/bench.py --smoke), so it cannot rot: every workload
runs its real jobs, baselines and simulator processes. No timing is asserted here; the shared CI
machine is too noisy for that (docs/benchmarks.md holds a full run's figures)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchlib.procs import run_measured
from benchlib.report import BEGIN, END, BenchRun, update_doc

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_suite_runs_every_workload_and_writes_ratios(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "scripts/bench.py", "--smoke", "--out", str(out), "--work-dir",
                           str(tmp_path / "work")], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = BenchRun.model_validate(json.loads(out.read_text()))
    assert [w.workload for w in run.workloads] == ["uncached_throughput", "cached_rerun", "per_job_fixed_cost",
                                                   "memory", "adaptive_limits"]
    for f in run.figures:
        # A count that should be 0 (requests answered 429) has ratio 0; every other ratio is > 0.
        assert math.isfinite(f.ratio) and (f.ratio > 0 or f.value == 0), f
        assert math.isclose(f.ratio, f.value / f.baseline_value, rel_tol=1e-9), f
    assert all(w.figures for w in run.workloads)
    # Each workload's targets are judged (met is True or False), whatever the outcome on this machine.
    assert {w.workload for w in run.workloads for f in w.figures if f.met is not None} == {
        "uncached_throughput", "cached_rerun", "per_job_fixed_cost", "memory", "adaptive_limits"}
    assert run.machine["nproc"] >= 1 and run.machine["python"]
    # The table a reader sees names every figure with its ratio.
    for f in run.figures:
        assert f.name in proc.stdout
    # The job dirs are real runs: the cached re-run answered from the cache and sent nothing.
    rerun = json.loads((tmp_path / "work" / "cached" / "cached-0" / "summary.json").read_text())
    assert rerun["cache"]["hits"] == rerun["n_samples"] == 20 and rerun["requests_sent"] == 0
    with_wandb = json.loads((tmp_path / "work" / "cached" / "cached-wandb-0" / "summary.json").read_text())
    assert with_wandb["cache"]["hits"] == 20 and with_wandb["config"]["tracker"] == "wandb"
    # The job under a server-side limit it was not told: every sample answered, the simulator's counts read.
    adaptive = next(w for w in run.workloads if w.workload == "adaptive_limits")
    assert sum(adaptive.raw["admitted_by_window"]) == 40 and adaptive.raw["requests_total"] >= 40


def test_peak_rss_is_the_childs_own(tmp_path: Path) -> None:
    grow = "b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096])"
    big = run_measured([sys.executable, "-c", grow], log_dir=tmp_path, name="big")
    small = run_measured([sys.executable, "-c", "pass"], log_dir=tmp_path, name="small")
    assert big.returncode == small.returncode == 0
    assert big.peak_rss_mb > 300 > small.peak_rss_mb  # not the max over every child waited for


def test_peak_rss_of_a_small_child_is_its_own_under_a_big_parent(tmp_path: Path) -> None:
    # Linux keeps the parent's high-water mark across exec, so wait4's ru_maxrss alone says a
    # trivial child of a 300 MB parent peaked above 300 MB. Run in a child of its own, so that
    # this test process does not carry 300 MB into every later test.
    script = (
        "import json, resource, sys\n"
        "from pathlib import Path\n"
        "from benchlib.procs import run_measured\n"
        "held = bytearray(b'x') * (300 * 2**20)\n"
        f"log = Path({str(tmp_path)!r})\n"
        "small = run_measured([sys.executable, '-c', 'pass'], log_dir=log, name='small')\n"
        "grow = 'b = bytearray(200 * 2**20); b[::4096] = b\"x\" * len(b[::4096])'\n"
        "mid = run_measured([sys.executable, '-c', grow], log_dir=log, name='mid')\n"
        "print(json.dumps({'parent': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'small': small.model_dump(exclude={'stdout', 'stderr'}),\n"
        "                  'mid': mid.model_dump(exclude={'stdout', 'stderr'})}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "scripts")}  # benchlib lives beside scripts/bench.py
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["parent"] > 300
    small, mid = out["small"], out["mid"]
    assert small["returncode"] == mid["returncode"] == 0
    assert 0 < small["peak_rss_mb"] < 50, small
    assert small["wait4_maxrss_mb"] > 300  # the floor wait4 alone would have reported
    assert 200 < mid["peak_rss_mb"] < 300, mid  # below the parent's peak, and still seen


def test_doc_table_is_replaced_between_markers_only(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\nprose above\n{BEGIN}\nold table\n{END}\nprose below\n")
    run = BenchRun(preset="full", started_utc="2026-01-01T00:00:00+00:00", duration_s=1.0, git_commit="abc",
                   machine={"nproc": 2, "cpu_model": "cpu", "memory_gb": 1.0, "python": "3.11", "platform": "linux",
                            "load_avg_1m_at_start": 0.5}, workloads=[])
    assert update_doc(run, doc)
    text = doc.read_text()
    assert "old table" not in text and text.startswith("# Benchmarks\nprose above\n") and text.endswith("prose below\n")
    assert "| workload | figure |" in text and "2 cores (cpu)" in text
    plain = tmp_path / "plain.md"
    plain.write_text("no markers\n")
    assert not update_doc(run, plain) and plain.read_text() == "no markers\n"
