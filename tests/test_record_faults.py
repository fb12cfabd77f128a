"""Faults that must never leave a record claiming more than it holds, or mix two runs in one dir.

Each test reproduces a fault as a user meets it (a file-size limit standing in for a full disk,
two processes racing on one dir, an edited dataset, SIGTERM, an interrupt while piping the output)
and checks the new behaviour: nothing lost, nothing mixed, one clear line."""

from __future__ import annotations

import asyncio
import hashlib
import json
import resource
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PY, ROOT, count_lines, identities, job_env, kill, run_cli, spawn, wait_for_lines

import evalsweep
from evalsweep.errors import ConfigError
from evalsweep.results.rows import OutputWriteError, ResultsFileError, JsonlWriter, json_line, read_done
from evalsweep.simulator import SimulatorConfig, SimulatorServer

# In-process jobs read the environment as run.py does: each test gets a cache of its own.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("private_cache")]


@pytest.fixture
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(latency_ms=20)) as srv:
        yield srv


def args_for(server: SimulatorServer, out: Path, *extra: str, n: int = 20) -> list[str]:
    return [f"model.base_url={server.url}", f"dataset.max_samples={n}", "run.progress=false", "tracker=none",
            f"hydra.run.dir={out}", *extra]


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def valid_jsonl(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), "a torn last line"
    return [json.loads(line) for line in data.splitlines()]


# 1. A write that fails reaches the job --------------------------------------------------------

def test_writer_failure_is_raised_and_leaves_only_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    async def write_until_it_fails() -> JsonlWriter:
        writer: JsonlWriter = JsonlWriter(path, serialize=json_line)
        writer.start()
        with pytest.raises(OutputWriteError, match="File too large"):
            for i in range(2000):
                writer.put({"i": i, "pad": "x" * 100})
                await asyncio.sleep(0)
            await writer.close()
        return writer

    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, hard))  # Python ignores SIGXFSZ: writes get EFBIG
    try:
        writer = asyncio.run(write_until_it_fails())
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    rows = valid_jsonl(path)
    assert 0 < len(rows) == writer.written < 2000
    assert [r["i"] for r in rows] == list(range(len(rows)))


def test_a_full_disk_fails_the_job_with_one_line_and_a_summary_that_counts_only_the_file(
        tmp_path: Path, server) -> None:
    out = tmp_path / "job"
    limit = 300_000  # results.jsonl of 200 samples x 4 repeats is ~520 KB; summary.json and the record stay below this

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run([PY, "run.py", *args_for(server, out, "cache.enabled=false", "repeats=4", n=200)], cwd=ROOT,
                          env=job_env(tmp_path), capture_output=True, text=True, timeout=120, preexec_fn=small_files)
    assert proc.returncode == 6, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("evalsweep: error")]
    assert len(errors) == 1 and "results.jsonl" in errors[0] and "File too large" in errors[0]
    assert "Traceback" not in proc.stderr and "never retrieved" not in proc.stderr
    rows = valid_jsonl(out / "results.jsonl")
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "failed" and "results.jsonl" in s["stop_reason"]
    assert s["n_done"] == len(rows) < 800
    # A resume with room to write finishes the job, each sample exactly once.
    r = run_cli(args_for(server, out, "cache.enabled=false", "repeats=4", n=200), environ=job_env(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    ids = identities(out / "results.jsonl")
    assert len(ids) == 800 and set(ids.values()) == {1}
    assert json.loads((out / "summary.json").read_text())["status"] == "complete"


# 2. One job dir, one writer -------------------------------------------------------------------

def test_a_second_run_into_a_busy_dir_stops_at_once(tmp_path: Path) -> None:
    out = tmp_path / "job"
    env = job_env(tmp_path)
    with SimulatorServer(SimulatorConfig(latency_ms=150)) as slow:
        args = args_for(slow, out, "model.max_concurrency=1", n=30)
        first = spawn(args, env, tmp_path / "first.log")
        wait_for_lines(first, out / "results.jsonl", 1)
        second = run_cli(args, environ=env)
        assert second.returncode == 2
        assert "in use by a running job" in second.stderr and len(second.stderr.strip().splitlines()) == 1
        assert first.wait(timeout=60) == 0
    ids = identities(out / "results.jsonl")
    assert len(ids) == 30 and set(ids.values()) == {1}  # no row twice


def test_a_lock_left_by_a_killed_job_is_taken_over(tmp_path: Path, server) -> None:
    out = tmp_path / "job"
    env = job_env(tmp_path)
    proc = spawn(args_for(server, out, "model.max_concurrency=1", "cache.enabled=false", n=30), env,
                 tmp_path / "killed.log")
    wait_for_lines(proc, out / "results.jsonl", 2)
    assert kill(proc) == -signal.SIGKILL
    assert (out / ".evalsweep.lock").read_text().startswith(f"{proc.pid}@")
    r = run_cli(args_for(server, out, "model.max_concurrency=1", "cache.enabled=false", n=30), environ=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"left by pid {proc.pid}" in r.stdout + r.stderr
    assert len(identities(out / "results.jsonl")) == 30


def lib_args(server: SimulatorServer, *extra: str, n: int = 20) -> list[str]:
    return [f"model.base_url={server.url}", f"dataset.max_samples={n}", "run.progress=false", "tracker=none",
            *extra]


def test_a_resume_against_another_server_is_refused(tmp_path: Path, server) -> None:
    out = tmp_path / "job"
    evalsweep.run_job(lib_args(server, n=3), out_dir=out)
    with SimulatorServer(SimulatorConfig()) as other, pytest.raises(ConfigError, match="model.base_url"):
        evalsweep.run_job(lib_args(other, n=4), out_dir=out)


def test_duplicate_rows_in_a_results_file_are_refused(tmp_path: Path, server) -> None:
    out = tmp_path / "job"
    evalsweep.run_job(lib_args(server, n=3), out_dir=out)
    results = out / "results.jsonl"
    first = results.read_bytes().splitlines(keepends=True)[0]
    results.write_bytes(results.read_bytes() + first)
    with pytest.raises(ResultsFileError, match="a second record of sample"):
        read_done(results)


# 3. Stale rows of an edited dataset -----------------------------------------------------------

def _dataset(path: Path, questions: dict[str, tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"id": k, "question": q, "answer": a, "difficulty": "easy"}) + "\n"
                            for k, (q, a) in questions.items()))
    return path


def test_resume_over_an_edited_dataset_is_refused_naming_the_first_changed_id(tmp_path: Path, server) -> None:
    items = {f"q{i}": (f"What is {i} + 1?", str(i + 1)) for i in range(6)}
    data = _dataset(tmp_path / "mine.jsonl", items)
    out = tmp_path / "job"
    # A version given by hand (a hash of the file would change with the edit and be refused first).
    args = lib_args(server, f"dataset.path={data}", "dataset.shuffle=false", "spec.skip_validation=true",
                    "dataset.version=v1", n=6)
    assert evalsweep.run_job(args, out_dir=out).summary.status == "complete"
    before = tree_hashes(out)
    items["q3"] = ("What is 30 + 1?", "31")  # same id, another question and target
    _dataset(data, items)
    with pytest.raises(ConfigError, match="sample 'q3' has a different target.*edited"):
        evalsweep.run_job(args, out_dir=out)  # the job is finished: it used to be skipped as complete
    assert tree_hashes(out) == before


def test_rows_of_samples_the_job_no_longer_runs_are_refused(tmp_path: Path, server) -> None:
    out = tmp_path / "job"
    evalsweep.run_job(lib_args(server, n=6), out_dir=out)
    before = tree_hashes(out)
    with pytest.raises(ConfigError, match="dataset.subset_seed"):
        evalsweep.run_job(lib_args(server, "dataset.subset_seed=7", n=6), out_dir=out)
    with pytest.raises(ConfigError, match="does not run"):
        evalsweep.run_job(lib_args(server, n=4), out_dir=out)
    assert tree_hashes(out) == before


def test_check_rows_accepts_the_same_rows_and_refuses_a_changed_target(tmp_path: Path) -> None:
    from evalsweep.task import prompts
    from evalsweep.config.task import PromptConfig
    from evalsweep.task.data import Sample
    from evalsweep.results.rows import ResultRecord
    from evalsweep.job.resume import check_rows
    from evalsweep.job.work import JobWork

    prompt = PromptConfig(name="p", user="{input}")
    samples = [Sample(id=str(i), input=f"q{i}", target=str(i)) for i in range(3)]
    work = JobWork(samples, prompt, repeats=1, seed=1)

    def rec(sample: Sample, target: str) -> ResultRecord:
        return ResultRecord(sample_id=sample.id, model="m", provider="openai", prompt="p", dataset="d", seed=1,
                            messages=prompts.render(prompt, sample), output="x", target=target, score=1.0,
                            scorer="exact")

    done = {(s.id, 1, 0): rec(s, s.target) for s in samples[:2]}
    check_rows(work, done, tmp_path / "results.jsonl")
    done[("1", 1, 0)] = rec(samples[1], "changed")
    with pytest.raises(ConfigError, match="sample '1' has a different target"):
        check_rows(work, done, tmp_path / "results.jsonl")


# 4. A refused start changes nothing ---------------------------------------------------------

def test_a_refused_resume_leaves_the_finished_job_dir_byte_for_byte(tmp_path: Path, server) -> None:
    out = tmp_path / "job"
    env = job_env(tmp_path)
    assert run_cli(args_for(server, out, "seed=9", n=4), environ=env).returncode == 0
    before = tree_hashes(out)
    assert (out / ".hydra" / "config.yaml").is_file() and "seed: 9" in (out / ".hydra" / "config.yaml").read_text()
    r = run_cli(args_for(server, out, "seed=10", n=4), environ=env)
    assert r.returncode == 2 and "seed=9" in r.stderr
    assert tree_hashes(out) == before


def test_a_refused_start_in_a_new_dir_leaves_no_dir(tmp_path: Path) -> None:
    out = tmp_path / "job"
    r = run_cli(["model=gpt4", "tracker=none", f"hydra.run.dir={out}"], environ={**job_env(tmp_path), "OPENAI_API_KEY": ""})
    assert r.returncode == 3 and "OPENAI_API_KEY" in r.stderr
    assert not out.exists()


def test_validate_only_jobs_are_not_counted_by_reports(tmp_path: Path) -> None:
    from evalsweep.report.errors import ReportError
    from evalsweep.report.jobdirs import find_job_dirs

    sweep = tmp_path / "sweep"
    r = run_cli(["-m", "seed=1,2", "validate_only=true", "tracker=none", f"hydra.sweep.dir={sweep}"], environ=job_env(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    assert (sweep / "0" / "validation_report.txt").is_file()  # the report the user asked for
    with pytest.raises(ReportError, match="no job dirs"):
        find_job_dirs(sweep)


# 5. SIGTERM and a broken pipe ---------------------------------------------------------------

def test_sigterm_saves_an_incomplete_summary_and_exits_143(tmp_path: Path, server) -> None:
    out = tmp_path / "job"
    proc = spawn(args_for(server, out, "model.max_concurrency=1", "cache.enabled=false", n=40), job_env(tmp_path),
                 tmp_path / "term.log")
    wait_for_lines(proc, out / "results.jsonl", 3)
    assert kill(proc, signal.SIGTERM) == 143
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "incomplete" and "SIGTERM" in s["stop_reason"]
    assert s["n_done"] == count_lines(out / "results.jsonl") < 40


def test_ctrl_c_while_piping_the_output_is_an_interrupt_not_a_failure(tmp_path: Path, server) -> None:
    out = tmp_path / "job"
    proc = subprocess.Popen([PY, "run.py", *args_for(server, out, "model.max_concurrency=1", "cache.enabled=false",
                                                     n=40)],
                            cwd=ROOT, env=job_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_lines(proc, out / "results.jsonl", 3)
    proc.stdout.close()  # `| tail` was interrupted too: the reader is gone
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    err = proc.stderr.read().decode()
    assert "BrokenPipeError" not in err and "Task was destroyed" not in err
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "incomplete" and s["n_done"] == count_lines(out / "results.jsonl")


# Resume asks failed samples again -----------------------------------------------------------

def test_resume_asks_failed_samples_again_and_says_how(tmp_path: Path) -> None:
    out = tmp_path / "job"
    env = job_env(tmp_path)
    base = ["dataset.max_samples=5", "run.progress=false", "tracker=none", "cache.enabled=false",
            f"hydra.run.dir={out}", "model.retry.max_attempts=1"]
    r = run_cli([*base, "model.simulator.faults.rate_500=1.0"], environ=env)
    assert r.returncode == 4
    assert f"to ask them again: " in r.stderr and f"hydra.run.dir={out}" in r.stderr
    assert all(row["error"] for row in valid_jsonl(out / "results.jsonl"))
    r = run_cli(base, environ=env)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = valid_jsonl(out / "results.jsonl")
    assert len(rows) == 5 and not any(row["error"] for row in rows)
    assert len(valid_jsonl(out / "retried_errors.jsonl")) == 5  # the earlier attempt stays on record
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "complete" and s["n_errors"] == 0 and s["n_done"] == 5


# Hydra's own errors as one line ----------------------------------------------------------------

@pytest.mark.parametrize("args, expect", [
    (["model=gtp4"], "model can be one of: claude, claude_thinking, gemini, gpt4"),
    (["model.temprature=0.5"], "+model.temprature="),
    (["seed=range(40,45)"], "add -m"),
    (["hydra.run.dir=README.md"], "as the output dir"),
    (["-m", "hydra/launcher=slurm"], "srun"),
])
def test_hydra_level_mistakes_are_one_line_and_exit_2(tmp_path: Path, args: list[str], expect: str) -> None:
    r = run_cli([*args, "tracker=none"], environ=job_env(tmp_path))
    assert r.returncode == 2, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evalsweep: error: ") and expect in lines[0]
