"""scripts/classify.py (issue 10): a classifier grades the rows of a finished multirun into
results.classify.jsonl; killed mid-way (SIGKILL) and resumed, no row is lost or doubled, and the
report can score by the new column."""

from __future__ import annotations

import csv
import json
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PY, ROOT, count_lines, identities, job_env, kill, settle
from evalsweep.simulator import SimulatorConfig, SimulatorServer
from evalsweep.tracking.wandb_offline import find_run_files, read_run


def classify(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "scripts/classify.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def results(job: Path) -> list[dict]:
    return [json.loads(line) for line in (job / "results.jsonl").read_text().splitlines()]


def key(row: dict) -> tuple:
    """What decides a classifier's request for a row."""
    return (row["messages"][-1]["content"], row["output"], row["target"], row["seed"], row["repeat"])


@pytest.fixture
def multirun(tmp_path: Path) -> Path:
    """Two finished jobs (sim-weak and sim, 8 items each) to classify."""
    sweep = tmp_path / "mr"
    res = subprocess.run(
        [PY, "run.py", "-m", "model=sim_weak,sim", "seed=1", "dataset.max_samples=8", "tracker=none",
         "run.progress=false", "++spec.skip_validation=true", "hydra.callbacks.report.enabled=false",
         f"hydra.sweep.dir={sweep}"],
        cwd=ROOT, env=job_env(tmp_path), capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    return sweep


def test_classify_multirun_killed_and_resumed(multirun: Path, tmp_path: Path) -> None:
    env = job_env(tmp_path)
    jobs = [multirun / "0", multirun / "1"]
    before = {j: (j / "results.jsonl").read_bytes() for j in jobs}
    wanted = {j: identities(j / "results.jsonl") for j in jobs}
    out = [j / "results.classify.jsonl" for j in jobs]
    with SimulatorServer(SimulatorConfig(latency_ms=150)) as srv:
        # The classifier (sim_strong, Anthropic wire format) at this test's slow simulator.
        over = ["--set", f"base_url={srv.url}", "--set", "max_concurrency=2"]
        proc = subprocess.Popen([PY, "scripts/classify.py", str(multirun), "--tracker", "none", *over], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while count_lines(out[0]) < 3:
            assert proc.poll() is None, "classify ended before it could be killed"
            assert time.monotonic() < deadline, "no rows classified in 60 s"
            time.sleep(0.01)
        kill(proc)
        sent_first = settle(srv)
        assert count_lines(out[0]) < 8 and not out[1].exists()  # killed mid-way through the first job
        # A crash mid-write leaves a torn last line: the resume must drop it, not choke on it.
        with out[0].open("ab") as f:
            f.write(b'{"sample_id": "arith-0')
        kept = count_lines(out[0])

        res = classify([str(multirun), *over], env)  # resumed, tracked in wandb (offline)
        assert res.returncode == 0, res.stderr[-2000:]
        sent_second = settle(srv) - sent_first
    assert f"({kept} already, {8 - kept} now)" in res.stdout
    # Only the missing rows were asked for; rows whose question, answer, seed and repeat equal
    # another's (both models may give the same answer) share one cached request.
    kept_ids = set(json.loads(line)["sample_id"] for line in out[0].read_text().splitlines()[:kept])
    missing = {key(r) for j in jobs for r in results(j) if j != jobs[0] or r["sample_id"] not in kept_ids}
    done_keys = {key(r) for r in results(jobs[0]) if r["sample_id"] in kept_ids}
    assert len(missing - done_keys) - 2 <= sent_second <= len(missing)
    for j, path in zip(jobs, out):
        assert identities(path) == wanted[j]  # every row once: none lost, none doubled
        assert (j / "results.jsonl").read_bytes() == before[j]  # generate's file is never rewritten
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert all(r["classify.grade"] in ("C", "I") and r["classify.error"] is None for r in rows)
        assert all(r["classify.classifier"] == "sim-strong" for r in rows)
        summary = json.loads((j / "summary.classify.json").read_text())
        assert summary["rows"] == 8 and 0.5 <= summary["agreement"] <= 1.0
    runs = [read_run(p) for p in find_run_files(multirun)]
    (run,) = [r for r in runs if r.job_type == "classify"]
    assert run.exit_code == 0 and run.summary["rows"] == 16 and run.summary["classified"] == 16 - kept
    assert run.config["classifier"]["name"] == "sim-strong" and "classify" in run.tags

    # The report scores by the classifier's column.
    res = subprocess.run([PY, "scripts/report.py", str(multirun), "--score-column", "classify.score",
                          "--out", str(tmp_path / "report")], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    with (tmp_path / "report" / "variants.csv").open() as f:
        means = {r["variant"]: float(r["mean"]) for r in csv.DictReader(f)}
    for j, model in zip(jobs, ("sim-weak", "sim")):
        rows = [json.loads(line) for line in (j / "results.classify.jsonl").read_text().splitlines()]
        assert means[f"model={model}"] == pytest.approx(sum(r["classify.score"] for r in rows) / len(rows))
    assert "scores are the column classify.score" in (tmp_path / "report" / "report.md").read_text()


def test_another_classifier_needs_its_own_name(multirun: Path, tmp_path: Path) -> None:
    env = job_env(tmp_path)
    res = classify([str(multirun / "0"), "--tracker", "none"], env)
    assert res.returncode == 0, res.stderr[-2000:]
    res = classify([str(multirun / "0"), "--tracker", "none", "--classifier", "sim"], env)
    assert res.returncode == 2 and "pass --name" in res.stderr and "Traceback" not in res.stderr
    # Under its own name, the OpenAI-format classifier writes a file of its own beside the first.
    res = classify([str(multirun / "0"), "--tracker", "none", "--classifier", "sim", "--name", "second"], env)
    assert res.returncode == 0, res.stderr[-2000:]
    first = identities(multirun / "0" / "results.classify.jsonl")
    assert identities(multirun / "0" / "results.second.jsonl") == first
    row = json.loads((multirun / "0" / "results.second.jsonl").read_text().splitlines()[0])
    assert row["second.classifier"] == "sim" and "second.grade" in row


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    env = job_env(tmp_path)
    res = classify([str(tmp_path / "nope"), "--tracker", "none"], env)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "no such file or directory" in res.stderr
    (tmp_path / "empty").mkdir()
    res = classify([str(tmp_path / "empty"), "--classifier", "gpt5"], env)
    assert res.returncode == 2 and "no model option conf/model/gpt5.yaml" in res.stderr
    res = classify([str(tmp_path / "empty"), "--grades", "C"], env)
    assert res.returncode == 2 and "GRADE=SCORE" in res.stderr
