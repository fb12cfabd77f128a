"""The main job end to end: one job in-process (evalsweep.run_job, the same files as run.py), and
sweeps, exit codes and Hydra's own dirs as a user runs them: `python run.py ...` in a subprocess."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import NO_REPORT, ROOT, InprocJob, job_dirs, read_jsonl, run_cli
from evalsweep.api import JobResult
from evalsweep.errors import AuthError

RECORD_FIELDS = {"sample_id", "model", "provider", "prompt", "dataset", "seed", "messages", "output", "target",
                 "score", "usage", "latency_s", "cached", "error"}


def test_default_job_writes_every_field_and_a_summary(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    out = tmp_path / "run"
    res = run_job_inproc(["dataset.max_samples=12"], out)
    assert isinstance(res, JobResult), res
    rows = read_jsonl(out / "results.jsonl")
    assert len(rows) == 12 and len({r["sample_id"] for r in rows}) == 12
    for r in rows:
        assert RECORD_FIELDS <= set(r)
        assert set(r["usage"]) >= {"input_tokens", "output_tokens"} and r["usage"]["input_tokens"] > 0
        assert r["model"] == "sim" and r["provider"] == "openai" and r["prompt"] == "direct"
        assert r["dataset"] == "arithmetic" and r["seed"] == 42 and r["error"] is None
        assert 0.0 <= r["score"] <= 1.0 and r["simulated"] is True
        assert r["messages"][-1]["role"] == "user" and r["messages"][-1]["content"].startswith("What is")
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "complete" and s["simulated"] is True and "simulator" in s["note"]
    assert (s["n_samples"], s["n_scored"], s["n_errors"]) == (12, 12, 0)
    m = s["metrics"]["score"]
    assert m["mean"] == pytest.approx(sum(r["score"] for r in rows) / 12)
    assert m["stderr"] > 0 and m["ci95"][0] < m["mean"] < m["ci95"][1]
    assert s["usage"]["input_tokens"] == sum(r["usage"]["input_tokens"] for r in rows)
    assert s["wall_time_s"] > 0 and s["samples_per_s"] > 0 and s["seed"] == 42
    assert len(s["git"]["commit"]) == 40 and isinstance(s["git"]["dirty"], bool)
    assert s["packages"]["hydra-core"] and s["config"]["model"]["name"] == "sim"
    assert (out / ".hydra" / "config.yaml").exists()


def test_sweep_of_two_models_and_three_seeds(tmp_path: Path, cache_env: dict[str, str]) -> None:
    sweep = tmp_path / "sweep"
    proc = run_cli(["-m", "model=sim_weak,sim_strong", "seed=42,43,44", "tracker=none", "dataset.max_samples=40",
                    NO_REPORT, f"hydra.sweep.dir={sweep}"], env=cache_env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dirs = job_dirs(sweep)
    assert len(dirs) == 6
    means: dict[str, list[float]] = {}
    for d in dirs:
        s = json.loads((d / "summary.json").read_text())
        assert s["status"] == "complete" and s["n_scored"] == 40
        means.setdefault(s["model"], []).append(s["metrics"]["score"]["mean"])
    weak, strong = sum(means["sim-weak"]) / 3, sum(means["sim-strong"]) / 3
    # Configured 0.45 and 0.92: the gap must show, and each near its setting.
    assert strong - weak > 0.3
    assert abs(weak - 0.45) < 0.15 and abs(strong - 0.92) < 0.1
    seeds = {json.loads((d / "summary.json").read_text())["seed"] for d in dirs}
    assert seeds == {42, 43, 44}


def test_real_providers_without_keys_stop_at_once(tmp_path: Path, cache_env: dict[str, str]) -> None:
    sweep = tmp_path / "sweep"
    start = time.monotonic()
    proc = run_cli(["-m", "model=gpt4,claude", "seed=42,43,44", "tracker=none", f"hydra.sweep.dir={sweep}"],
                   env=cache_env)
    assert proc.returncode != 0
    assert "OPENAI_API_KEY" in proc.stderr and "model=sim" in proc.stderr
    assert time.monotonic() - start < 60
    # No job got as far as writing results, and only the first job was attempted.
    assert not list(sweep.rglob("results.jsonl"))
    assert "#1 :" not in proc.stdout or len(list(sweep.glob("*/.hydra"))) <= 1


def test_claude_without_key_names_anthropic_variable(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    err = run_job_inproc(["model=claude"], tmp_path / "r")
    assert isinstance(err, AuthError) and err.exit_code == 3  # the line run.py prints, and its exit code
    assert "ANTHROPIC_API_KEY" in str(err) and "model=sim" in str(err)


def test_every_dataset_prompt_and_scorer_option_runs(tmp_path: Path, cache_env: dict[str, str],
                                                     run_job_inproc: InprocJob) -> None:
    sweep = tmp_path / "sweep"
    proc = run_cli(["-m", "model=sim,sim_strong", "dataset=arithmetic,arithmetic_mc", "prompt=direct,cot,fewshot",
                    "dataset.max_samples=5", "tracker=none", NO_REPORT, f"hydra.sweep.dir={sweep}"], env=cache_env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dirs = job_dirs(sweep)
    assert len(dirs) == 12
    seen = set()
    for d in dirs:
        s = json.loads((d / "summary.json").read_text())
        assert s["n_scored"] == 5 and s["n_errors"] == 0
        seen.add((s["model"], s["dataset"], s["prompt"], s["scorer"]))
        rows = read_jsonl(d / "results.jsonl")
        if s["prompt"] == "cot":
            assert all("Answer:" in r["output"] for r in rows)
        if s["prompt"] == "fewshot":
            assert rows[0]["messages"][1] == {"role": "user", "content": "What is 12 + 30?"}
    assert {x[3] for x in seen} == {"numeric", "choice"}
    assert len(seen) == 12
    # The exact-match scorer, chosen over the dataset's own.
    out = tmp_path / "exact"
    res = run_job_inproc(["scorer=exact", "dataset.max_samples=5"], out)
    assert isinstance(res, JobResult), res
    assert {r["scorer"] for r in read_jsonl(out / "results.jsonl")} == {"exact"}


def test_experiment_bundle_runs_the_comparison_it_names(tmp_path: Path, cache_env: dict[str, str]) -> None:
    sweep = tmp_path / "sweep"
    proc = run_cli(["experiment=weak_vs_strong", "dataset.max_samples=3", "tracker=none", "run.progress=false",
                    "hydra.callbacks.report.enabled=false", f"hydra.sweep.dir={sweep}"], env=cache_env, timeout=400)
    assert proc.returncode == 0, proc.stderr[-2000:]
    jobs = {(s["model"], s["prompt"], s["seed"]) for s in
            (json.loads(p.read_text()) for p in sweep.glob("*/summary.json"))}
    assert jobs == {(m, p, seed) for m in ("sim-weak", "sim-strong") for p in ("direct", "cot") for seed in (42, 43, 44)}
    # One job of the bundle, its own defaults: hydra.mode=RUN.
    out = tmp_path / "one"
    proc = run_cli(["experiment=weak_vs_strong", "hydra.mode=RUN", "dataset.max_samples=3", "tracker=none",
                    f"hydra.run.dir={out}"], env=cache_env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads((out / "summary.json").read_text())
    assert (s["model"], s["prompt"], s["provider"]) == ("sim-strong", "cot", "anthropic")


def test_two_sweeps_in_the_same_second_get_their_own_dirs(tmp_path: Path, cache_env: dict[str, str]) -> None:
    import subprocess
    import sys

    env = {**__import__("os").environ, **cache_env, "WANDB_MODE": "offline"}
    args = [sys.executable, str(ROOT / "run.py"), "-m", "seed=1", "dataset.max_samples=2", "tracker=none",
            f"hydra.sweep.dir={tmp_path}/multirun/${{now:%Y-%m-%d}}/${{now:%H-%M-%S.%f}}"]
    procs = [subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]
    sweeps = list((tmp_path / "multirun").glob("*/*"))
    assert len(sweeps) == 2


def test_default_sweep_dir_pattern_has_subsecond_precision() -> None:
    import yaml

    cfg = yaml.safe_load((ROOT / "conf" / "config.yaml").read_text())
    assert "%f" in cfg["hydra"]["sweep"]["dir"] and cfg["hydra"]["sweep"]["dir"].startswith("multirun/")
    assert "%f" in cfg["hydra"]["run"]["dir"] and cfg["hydra"]["run"]["dir"].startswith("outputs/")
