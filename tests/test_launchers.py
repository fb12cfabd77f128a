"""Sweeps beyond one process: the shipped launcher configs, the real submitit engine, and a
parallel sweep in which some jobs fail while the others finish and the report still runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import ROOT, cli_env, job_dirs, overrides_of, read_jsonl, run_cli_quiet, summary


def launcher_cfg(tmp_path: Path, *args: str) -> dict:
    """The composed hydra.launcher node, as Hydra would hand it to the launcher."""
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), *args, "--cfg", "hydra", "-p", "hydra.launcher"],
                          cwd=ROOT, env=cli_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Warning" not in proc.stderr  # no automatic-schema-matching deprecation noise
    return OmegaConf.to_container(OmegaConf.create(proc.stdout))  # type: ignore[return-value]


def test_parallel_config_is_joblib_with_this_projects_defaults(tmp_path: Path) -> None:
    cfg = launcher_cfg(tmp_path, "hydra/launcher=parallel")
    assert cfg["_target_"].endswith("JoblibLauncher") and cfg["n_jobs"] == 4
    assert launcher_cfg(tmp_path, "hydra/launcher=parallel", "hydra.launcher.n_jobs=2")["n_jobs"] == 2
    # The plugin's own config stays reachable, and typos are caught by its schema.
    assert launcher_cfg(tmp_path, "hydra/launcher=joblib")["n_jobs"] == -1
    proc = run_cli_quiet(["-m", "hydra/launcher=parallel", "hydra.launcher.n_job=2"], tmp_path)
    assert proc.returncode != 0 and "n_job" in proc.stderr


@pytest.mark.skipif((ROOT / "conf" / "local" / "slurm.yaml").exists(),
                    reason="this checkout has its own conf/local/slurm.yaml, which wins over the test's site dir")
def test_slurm_config_takes_a_sites_own_settings(tmp_path: Path) -> None:
    cfg = launcher_cfg(tmp_path, "hydra/launcher=slurm")
    assert cfg["_target_"].endswith("SlurmLauncher")
    assert (cfg["partition"], cfg["timeout_min"], cfg["cpus_per_task"], cfg["array_parallelism"]) == (None, 240, 2, 8)
    # A site's file (here in a dir given with -cd; normally conf/local/slurm.yaml) overrides the defaults,
    # and the command line overrides the site.
    site = tmp_path / "site"
    (site / "local").mkdir(parents=True)
    (site / "local" / "slurm.yaml").write_text((ROOT / "conf" / "local" / "slurm.yaml.example").read_text())
    cfg = launcher_cfg(tmp_path, "-cd", str(site), "hydra/launcher=slurm", "hydra.launcher.timeout_min=30")
    assert (cfg["partition"], cfg["account"], cfg["array_parallelism"], cfg["timeout_min"]) == ("cpu", "my-lab", 16, 30)
    assert cfg["additional_parameters"] == {"mail-type": "FAIL"} and cfg["setup"] == ["module load python/3.11"]


def _per_sample(job: Path) -> dict[str, tuple]:
    return {r["sample_id"]: (r["output"], r["score"], r["target"], r["error"]) for r in read_jsonl(job / "results.jsonl")}


def test_submitit_local_runs_the_sweep_like_the_basic_launcher(tmp_path: Path) -> None:
    sweep_args = ["-m", "seed=1,2", "dataset.max_samples=6"]
    # Separate caches, so the second run is answered by its simulator, not by the first run's cache.
    basic = run_cli_quiet([*sweep_args, f"hydra.sweep.dir={tmp_path / 'basic'}"], tmp_path / "a")
    assert basic.returncode == 0, basic.stderr[-2000:]
    sub = run_cli_quiet([*sweep_args, "hydra/launcher=submitit_local", f"hydra.sweep.dir={tmp_path / 'sub'}"],
                  tmp_path / "b", timeout=180)
    assert sub.returncode == 0, sub.stderr[-2000:]
    # The real submitit engine ran the jobs: one result pickle per job, written by its own process.
    assert len(list((tmp_path / "sub" / ".submitit").glob("*/*_result.pkl"))) == 2
    b_jobs, s_jobs = job_dirs(tmp_path / "basic"), job_dirs(tmp_path / "sub")
    assert [p.name for p in b_jobs] == [p.name for p in s_jobs] == ["0", "1"]
    for b, s in zip(b_jobs, s_jobs):
        assert overrides_of(b) == overrides_of(s)
        # The basic launcher ran the config the pre-run validation composed; submitit's workers composed
        # their own: the same job config either way.
        assert (b / ".hydra" / "config.yaml").read_text() == (s / ".hydra" / "config.yaml").read_text()
        bs, ss = summary(b), summary(s)
        assert bs["status"] == ss["status"] == "complete" and bs["n_scored"] == ss["n_scored"] == 6
        assert bs["seed"] == ss["seed"] and bs["metrics"]["score"]["mean"] == ss["metrics"]["score"]["mean"]
        assert ss["usage"]["input_tokens"] == bs["usage"]["input_tokens"] > 0
        assert _per_sample(b) == _per_sample(s) and len(_per_sample(s)) == 6


def test_failing_jobs_of_a_parallel_sweep_keep_the_others_and_the_report_runs(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    # Jobs with require_api_key=wrong get a 401 on their first request: a fatal error in the job.
    # Two workers run jobs #0 (good) and #1 (bad) side by side, then #2 and #3. One request at a
    # time at 150 ms, so a good job is still running when its bad neighbour fails.
    # No cache: a bad job must not be served the answers its good twin (same seed) already cached.
    proc = run_cli_quiet(["-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2", "seed=1,2",
                    "model.simulator.faults.require_api_key=null,wrong", "model.max_concurrency=1",
                    "model.simulator.latency_ms=150", "dataset.max_samples=6", "cache.enabled=false",
                    f"hydra.sweep.dir={sweep}"],
                   tmp_path, timeout=180)
    assert proc.returncode == 1
    # One clear line for the first failed job from the main process, no traceback.
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("evalsweep: error in job #")]
    assert len(errors) == 1 and "401" in errors[0] and "require_api_key=wrong" in errors[0]
    assert "Traceback" not in proc.stderr
    good, bad = [], []
    for job in job_dirs(sweep):
        (bad if "model.simulator.faults.require_api_key=wrong" in overrides_of(job) else good).append(job)
    assert len(good) == 2 and len(bad) == 2
    for job in good:  # finished in full, not killed when the other jobs failed
        s = summary(job)
        assert s["status"] == "complete" and s["n_scored"] == 6 and s["n_errors"] == 0
        assert len(read_jsonl(job / "results.jsonl")) == 6
    for job in bad:
        assert not (job / "summary.json").exists() or summary(job)["status"] != "complete"
        assert "rejected the API key" in (job / "run.log").read_text()
    report = subprocess.run([sys.executable, str(ROOT / "scripts" / "report.py"), str(sweep)], cwd=ROOT,
                            env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr[-2000:]
    text = (sweep / "report.md").read_text()
    for job in bad:
        assert str(job) in text  # named as a failed job, its rows left out
