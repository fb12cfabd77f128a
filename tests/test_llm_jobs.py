"""Retries, failures, bad keys, cost and budget seen from the user's side: jobs against a simulator
started here, whose counters are compared with summary.json. One job runs in-process
(evalsweep.run_job); exit codes, their one line and sweeps through `python run.py` in a subprocess."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import (InprocJob, base_args, cause_counts, job_args, job_log, rows, run_py, sim_server, summary,
                      write_dataset)
from evalsweep.api import JobResult

PRICE = ["model.price.input_per_mtok=3.0", "model.price.output_per_mtok=15.0"]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["sim", "sim_strong"])  # the OpenAI and the Anthropic wire formats
def test_job_with_30pct_transient_faults_completes_and_counts_them(tmp_path: Path, model: str,
                                                                   run_job_inproc: InprocJob) -> None:
    faults = dict(rate_429=0.1, rate_500=0.05, rate_503=0.05, rate_529=0.05, rate_drop=0.05, retry_after_s=0.01,
                  fault_seed=3)
    run_dir = tmp_path / "run"
    with sim_server(**faults) as srv:
        res = run_job_inproc([f"model={model}", f"model.base_url={srv.url}", "model.retry.max_attempts=12", *PRICE,
                              *job_args(samples=30)], run_dir)
        sim = srv.stats()
    assert isinstance(res, JobResult), res
    s, recs = summary(run_dir), rows(run_dir)
    assert s["status"] == "complete" and s["n_done"] == 30 and s["n_errors"] == 0
    assert len(recs) == 30 and all(r["error"] is None and r["output"] for r in recs)
    assert sum(sim.faults.values()) >= 5
    # What the simulator served is exactly what the job says it retried.
    assert s["retries_by_cause"] == cause_counts(sim.faults)
    assert s["retries"] == sum(sim.faults.values())
    assert s["requests_sent"] == sim.requests_total == sum(r["attempts"] for r in recs)
    # Cost is price x tokens, per sample and in total.
    for r in recs:
        assert r["cost_usd"] == pytest.approx((r["usage"]["input_tokens"] * 3 + r["usage"]["output_tokens"] * 15) / 1e6)
    tokens_in = sum(r["usage"]["input_tokens"] for r in recs)
    tokens_out = sum(r["usage"]["output_tokens"] for r in recs)
    assert s["usage"]["input_tokens"] == tokens_in and s["usage"]["output_tokens"] == tokens_out
    assert s["cost_usd"] == pytest.approx((tokens_in * 3 + tokens_out * 15) / 1e6) and s["cost_usd"] > 0
    assert "attempt 1 failed" in job_log(run_dir)  # each retry is logged (INFO) with its cause and wait


@pytest.mark.slow
def test_documented_fault_injection_command_completes_every_sample(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    # The overrides docs/providers.md shows, on the job's own simulator.
    overrides = ["model=sim", "model.simulator.faults.rate_429=0.1", "model.simulator.faults.rate_500=0.05",
                 "model.simulator.faults.rate_503=0.05", "model.simulator.faults.rate_529=0.05",
                 "model.simulator.faults.rate_drop=0.05"]
    doc = (Path(__file__).resolve().parents[1] / "docs" / "providers.md").read_text()
    assert " ".join(overrides) in doc
    run_dir = tmp_path / "run"
    res = run_job_inproc([*overrides, *job_args(samples=20)], run_dir)
    assert isinstance(res, JobResult), res
    s = summary(run_dir)
    assert s["status"] == "complete" and s["n_done"] == 20 and s["n_errors"] == 0
    assert s["retries"] > 0 and s["requests_sent"] == 20 + s["retries"]


@pytest.mark.slow
def test_failing_samples_are_recorded_and_the_job_goes_on(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    questions = ["What is 1 + 2?", "What is POISON + 3?", "What is 5 + 8?", "What is 4 + 4? " + "pad " * 100]
    data = write_dataset(tmp_path / "data.jsonl", questions)
    run_dir, cache = tmp_path / "run", tmp_path / "cache.sqlite"
    with sim_server(poison_substring="POISON", max_prompt_chars=300) as srv:
        args = ["model=sim", f"model.base_url={srv.url}", "model.retry.max_attempts=3", *data]
        proc = run_py([*args, *base_args(run_dir, samples=4)], cache=cache)
        first = srv.stats()
        # Errors are never cached: a re-run asks the two failed samples again, and only them.
        again = run_job_inproc([*args, *job_args(samples=4)], tmp_path / "rerun",
                               env={"EVALSWEEP_CACHE_PATH": str(cache)})
        second = srv.stats()
    assert proc.returncode == 4, proc.stderr[-3000:]  # EXIT_SAMPLE_ERRORS: the run has failed samples
    assert "2 sample(s) failed for good" in proc.stderr
    by_id = {r["sample_id"]: r for r in rows(run_dir)}
    assert set(by_id) == {"q0", "q1", "q2", "q3"}
    poisoned, too_long = by_id["q1"], by_id["q3"]
    assert poisoned["error"]["status"] == 500 and poisoned["attempts"] == 3 and poisoned["output"] is None
    assert too_long["error"]["status"] == 400 and too_long["attempts"] == 1  # permanent: not retried
    assert "too long" in too_long["error"]["message"]
    assert by_id["q0"]["error"] is None and by_id["q2"]["error"] is None
    s = summary(run_dir)
    assert s["n_done"] == 4 and s["n_errors"] == 2 and s["retries_by_cause"] == {"500": 2}
    assert first.requests_total == 1 + 3 + 1 + 1
    assert isinstance(again, JobResult) and again.summary is not None and again.summary.n_errors == 2
    assert second.requests_total - first.requests_total == 3 + 1
    assert summary(tmp_path / "rerun")["cache"]["hits"] == 2


@pytest.mark.slow
def test_rejected_key_stops_the_sweep_at_once_with_one_clear_line(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    with sim_server(require_api_key="the-right-key") as srv:
        t0 = time.perf_counter()
        args = ["-m", "model=sim", f"model.base_url={srv.url}", "model.api_key_env=SIM_KEY",
                "model.max_concurrency=2", "seed=1,2,3", *base_args(tmp_path / "unused"), f"hydra.sweep.dir={sweep}"]
        proc = run_py(args, cache=tmp_path / "cache.sqlite", env={"SIM_KEY": "a-wrong-key"})
        elapsed = time.perf_counter() - t0
        sim = srv.stats()
    assert proc.returncode == 3, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("evalsweep: error:")]
    assert len(errors) == 1 and "SIM_KEY" in errors[0] and "401" in errors[0]
    assert "a-wrong-key" not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    # Stopped at the first 401: only the first job's in-flight requests reached the server.
    assert sim.faults["401"] == sim.requests_total <= 2
    assert not (sweep / "1").exists() and not (sweep / "2").exists()
    assert elapsed < 60


@pytest.mark.slow
def test_budget_stops_sending_and_the_summary_says_so(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    run_dir = tmp_path / "run"
    # ~35 tokens in per sample at $30,000 per million: about $1 a sample.
    price = ["model.price.input_per_mtok=30000", "model.price.output_per_mtok=0"]
    with sim_server() as srv:
        res = run_job_inproc(["model=sim", f"model.base_url={srv.url}", "model.max_cost_usd=2.5",
                              "model.max_concurrency=1", *price, *job_args(samples=8)], run_dir)
        sim = srv.stats()
    assert isinstance(res, JobResult), res
    s, recs = summary(run_dir), rows(run_dir)
    assert s["budget_stopped"] is True and s["status"] == "incomplete" and "budget" in s["stop_reason"]
    assert s["budget_usd"] == 2.5
    assert 0 < s["n_not_run"] < 8 and s["n_done"] + s["n_not_run"] == 8 and len(recs) == s["n_done"]
    assert sim.requests_total == s["n_done"]  # nothing sent after the budget was reached
    costs = [r["cost_usd"] for r in recs]
    assert sum(costs) >= 2.5 > sum(costs[:-1])  # it stopped right after the sample that reached it
