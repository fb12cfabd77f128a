"""Batch mode on Gemini (evalsweep.batch.gemini_backend): in-process jobs on the simulator's
batchGenerateContent with the real google-genai SDK, where Gemini differs from the others: an
errored request is its sample's error, and an expired batch (it expires as a whole) leaves its
samples not run for the next run. (The same outputs as live at half the price, a re-run that
submits nothing, status / cancel: tests/test_batch.py, parametrized over sim_gemini.)"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import InprocJob, job_args, rows, sim_server, write_dataset
from evalsweep.api import JobResult

FAST = ["run.mode=batch", "run.batch_poll_s=0.02", "run.batch_poll_max_s=0.1", "model=sim_gemini"]


def _ok(res: JobResult | Exception) -> JobResult:
    assert isinstance(res, JobResult), res
    return res


def _batches(job_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((job_dir / "batches").glob("*.json"))
            if p.name != "endpoint.json"]


def test_errored_request_is_the_samples_error(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    data = write_dataset(tmp_path / "d.jsonl", ["What is 2 + 2?", "What is 3 + 5? ERR", "What is 7 - 1?"])
    with sim_server(batch_error_substring="ERR") as srv:
        args = [*job_args(samples=3), *data, *FAST, f"model.base_url={srv.url}"]
        res = _ok(run_job_inproc(args, tmp_path / "a"))
        assert res.summary is not None and res.summary.status == "complete" and res.summary.n_errors == 1
        by_id = {r["sample_id"]: r for r in rows(tmp_path / "a")}
        bad = by_id["q1"]
        assert bad["output"] is None and bad["error"]["type"] == "PermanentError" and bad["error"]["status"] == 500
        assert "batch request failed" in bad["error"]["message"]
        assert by_id["q0"]["error"] is None and by_id["q2"]["output"]
        [entry] = _batches(tmp_path / "a")
        assert entry["counts"] == {"succeeded": 2, "errored": 1}
        srv.config.faults.batch_error_substring = None  # a re-run asks the failed sample again, alone
        res = _ok(run_job_inproc(args, tmp_path / "a"))
        assert res.summary is not None and res.summary.n_errors == 0 and len(rows(tmp_path / "a")) == 3
        assert srv.stats().batches_created == 2 and srv.stats().batch_requests == 4


def test_expired_batch_leaves_its_samples_not_run_then_submits_them_again(tmp_path: Path,
                                                                          run_job_inproc: InprocJob) -> None:
    # A Gemini batch expires as a whole, with no answers (BATCH_STATE_EXPIRED): all its requests are not run.
    data = write_dataset(tmp_path / "d.jsonl", ["What is 2 + 2?", "What is 3 + 5? LATE", "What is 7 - 1?"])
    with sim_server(batch_expire_substring="LATE") as srv:
        args = [*job_args(samples=3), *data, *FAST, f"model.base_url={srv.url}"]
        res = _ok(run_job_inproc(args, tmp_path / "a"))
        assert res.summary is not None and res.summary.status == "incomplete"
        assert res.summary.n_not_run == 3 and "expired" in (res.summary.stop_reason or "")
        assert not rows(tmp_path / "a")
        [entry] = _batches(tmp_path / "a")
        assert entry["counts"] == {"expired": 3} and len(entry["retry"]) == 3
        srv.config.faults.batch_expire_substring = None
        res = _ok(run_job_inproc(args, tmp_path / "a"))
        assert res.summary is not None and res.summary.status == "complete" and len(rows(tmp_path / "a")) == 3
        assert srv.stats().batches_created == 2 and srv.stats().batch_requests == 6
