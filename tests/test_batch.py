"""Batch mode (run.mode=batch, evalsweep.batch): in-process jobs on the simulator's batch APIs with
the real SDKs. The same outputs as live at the batch price, nothing asked twice, expired and errored
requests, typed re-asks and solver steps as rounds, the budget across rounds, and the checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import InprocJob, job_args, rows, sim_server, summary, write_dataset
from evalsweep.api import JobResult
from evalsweep.errors import ConfigError

PRICED = ["model.price.input_per_mtok=1.5", "model.price.output_per_mtok=6"]
FAST = ["run.mode=batch", "run.batch_poll_s=0.02", "run.batch_poll_max_s=0.1"]


def _ok(res: JobResult | Exception) -> JobResult:
    assert isinstance(res, JobResult), res
    return res


def _by_id(job_dir: Path) -> dict[str, dict]:
    return {r["sample_id"]: r for r in rows(job_dir)}


def _batches(job_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((job_dir / "batches").glob("*.json"))
            if p.name != "endpoint.json"]


@pytest.mark.parametrize("model", ["sim", "sim_strong", "sim_gemini"])  # OpenAI's, Anthropic's and Gemini's batch APIs
def test_batch_job_gives_the_live_outputs_at_half_the_cost(model: str, tmp_path: Path,
                                                           run_job_inproc: InprocJob) -> None:
    args = [*job_args(samples=10), f"model={model}", *PRICED]
    _ok(run_job_inproc(args, tmp_path / "live", env={"EVALSWEEP_CACHE_PATH": str(tmp_path / "c1.sqlite")}))
    _ok(run_job_inproc([*args, *FAST], tmp_path / "batch", env={"EVALSWEEP_CACHE_PATH": str(tmp_path / "c2.sqlite")}))
    live, batch = _by_id(tmp_path / "live"), _by_id(tmp_path / "batch")
    assert live.keys() == batch.keys() and len(batch) == 10
    for sid, row in live.items():
        assert (batch[sid]["output"], batch[sid]["score"], batch[sid]["usage"]) == (row["output"], row["score"],
                                                                                 row["usage"])
        assert batch[sid]["cost_usd"] == pytest.approx(row["cost_usd"] / 2)
        assert batch[sid]["error"] is None and not batch[sid]["cached"]
    s_live, s_batch = summary(tmp_path / "live"), summary(tmp_path / "batch")
    assert s_batch["status"] == "complete" and s_batch["n_scored"] == 10
    assert s_live["cost_usd"] > 0 and s_batch["cost_usd"] == pytest.approx(s_live["cost_usd"] / 2)
    assert s_batch["metrics"]["score"]["mean"] == s_live["metrics"]["score"]["mean"]
    [entry] = _batches(tmp_path / "batch")
    assert entry["state"] == "ended" and len(entry["custom_ids"]) == 10 and entry["counts"] == {"succeeded": 10}


@pytest.mark.parametrize("model", ["sim", "sim_gemini"])  # a file upload (OpenAI) and inline requests (Gemini)
def test_rerun_submits_nothing_and_batches_are_split_by_size(model: str, tmp_path: Path,
                                                             run_job_inproc: InprocJob) -> None:
    with sim_server() as srv:
        args = [*job_args(samples=7), *FAST, f"model={model}", f"model.base_url={srv.url}", "run.batch_max_requests=3"]
        _ok(run_job_inproc(args, tmp_path / "a"))
        assert srv.stats().batches_created == 3 and srv.stats().batch_requests == 7
        assert sorted(len(b["custom_ids"]) for b in _batches(tmp_path / "a")) == [1, 3, 3]
        again = _ok(run_job_inproc(args, tmp_path / "a"))  # the same dir: complete, nothing to do
        assert again.summary is None
        fresh = _ok(run_job_inproc(args, tmp_path / "b"))  # another dir, the same cache: every answer cached
        assert fresh.summary is not None and fresh.summary.status == "complete"
        assert srv.stats().batches_created == 3 and srv.stats().batch_requests == 7
        assert all(r["cached"] for r in rows(tmp_path / "b")) and len(rows(tmp_path / "b")) == 7
        assert not (tmp_path / "b" / "batches").exists()
        assert srv.stats().requests_total == 0  # not one live request


def test_expired_requests_are_not_run_then_submitted_again(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    data = write_dataset(tmp_path / "d.jsonl", ["What is 2 + 2?", "What is 3 + 5? LATE", "What is 7 - 1?"])
    with sim_server(batch_expire_substring="LATE") as srv:
        args = [*job_args(samples=3), *data, *FAST, f"model.base_url={srv.url}"]
        res = _ok(run_job_inproc(args, tmp_path / "a"))
        assert res.summary is not None and res.summary.status == "incomplete"
        assert res.summary.n_not_run == 1 and "expired" in (res.summary.stop_reason or "")
        assert sorted(_by_id(tmp_path / "a")) == ["q0", "q2"]  # no row for the expired one
        [entry] = _batches(tmp_path / "a")
        assert entry["counts"] == {"succeeded": 2, "expired": 1} and len(entry["retry"]) == 1
        srv.config.faults.batch_expire_substring = None  # the provider has time now
        res = _ok(run_job_inproc(args, tmp_path / "a"))
        assert res.summary is not None and res.summary.status == "complete"
        assert sorted(_by_id(tmp_path / "a")) == ["q0", "q1", "q2"]
        assert srv.stats().batches_created == 2 and srv.stats().batch_requests == 4  # only the expired one again


def test_errored_request_is_the_samples_error_as_in_live(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    data = write_dataset(tmp_path / "d.jsonl", ["What is 2 + 2?", "What is 3 + 5? ERR", "What is 7 - 1?"])
    with sim_server(batch_error_substring="ERR") as srv:
        args = [*job_args(samples=3), *data, *FAST, f"model.base_url={srv.url}"]
        res = _ok(run_job_inproc(args, tmp_path / "a"))
        assert res.summary is not None and res.summary.status == "complete" and res.summary.n_errors == 1
        bad = _by_id(tmp_path / "a")["q1"]
        assert bad["output"] is None and bad["score"] is None
        assert bad["error"]["type"] == "PermanentError" and bad["error"]["status"] == 500
        assert "batch request failed" in bad["error"]["message"]
        # A re-run asks failed samples again (run.retry_errors), in a new batch of that one request.
        srv.config.faults.batch_error_substring = None
        res = _ok(run_job_inproc(args, tmp_path / "a"))
        assert res.summary is not None and res.summary.n_errors == 0 and len(rows(tmp_path / "a")) == 3
        assert srv.stats().batches_created == 2 and srv.stats().batch_requests == 4


def test_typed_reasks_and_solver_steps_are_rounds(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    with sim_server(invalid_structured_rate=0.5) as srv:
        args = [*job_args(samples=8), *FAST, f"model.base_url={srv.url}",
                "structured.response_model=evalsweep.structured.models.Answer", "structured.score_field=answer"]
        _ok(run_job_inproc(args, tmp_path / "typed"))
        recs = rows(tmp_path / "typed")
        assert len(recs) == 8 and all(r["structured"]["valid"] for r in recs)
        reasked = sum(1 for r in recs if r["structured"]["asks"] == 2)
        assert reasked and srv.stats().batches_created == 2 and srv.stats().batch_requests == 8 + reasked
        rounds = sorted(b["round"] for b in _batches(tmp_path / "typed"))
        assert rounds == [1, 2]
        srv.reset()
        _ok(run_job_inproc([*job_args(samples=8), *FAST, f"model.base_url={srv.url}", "solver=are_you_sure"],
                           tmp_path / "solver"))
        recs = rows(tmp_path / "solver")
        assert len(recs) == 8 and all(len(r["turns"]) == 2 for r in recs)
        assert srv.stats().batches_created == 2 and srv.stats().batch_requests == 16


def test_budget_holds_across_rounds(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    with sim_server() as srv:
        args = [*job_args(samples=8), *FAST, *PRICED, f"model.base_url={srv.url}", "solver=are_you_sure",
                "model.max_cost_usd=0.0000001"]
        res = _ok(run_job_inproc(args, tmp_path / "a"))
        assert res.summary is not None and res.summary.status == "incomplete"
        assert "budget" in (res.summary.stop_reason or "") and res.summary.n_not_run == 8
        assert srv.stats().batches_created == 1  # the second step's batch was never submitted


def test_batch_wait_false_submits_and_a_rerun_collects(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    with sim_server(batch_delay_s=60) as srv:
        args = [*job_args(samples=5), *FAST, f"model.base_url={srv.url}"]
        res = _ok(run_job_inproc([*args, "run.batch_wait=false"], tmp_path / "a"))
        assert res.summary is not None and res.summary.status == "incomplete" and res.summary.n_not_run == 5
        assert f"hydra.run.dir={tmp_path / 'a'}" in (res.summary.stop_reason or "")
        assert not rows(tmp_path / "a") and srv.stats().batches_created == 1
        srv.config.faults.batch_delay_s = 0  # the batch has ended by the time the job is run again
        res = _ok(run_job_inproc(args, tmp_path / "a"))  # waits this time, on the same batch
        assert res.summary is not None and res.summary.status == "complete" and len(rows(tmp_path / "a")) == 5
        assert srv.stats().batches_created == 1 and srv.stats().batch_requests == 5


@pytest.mark.parametrize(("extra", "says"), [
    (["model=sim_gemini", "+model.extra_body={labels: {team: a}}"], "does not take model.extra_body on gemini"),
    (["model=sim_gemini", "model.simulated=false", "model.api_key_env=GEMINI_API_KEY",
      "model.base_url=http://127.0.0.1:8080"], "has no batch API"),
    (["model.simulated=false", "model.api_key_env=OPENAI_API_KEY", "model.base_url=http://127.0.0.1:8080/v1"],
     "has no batch API"),
])
def test_batch_mode_where_there_is_no_batch_api_stops_before_any_request(
        extra: list[str], says: str, tmp_path: Path, run_job_inproc: InprocJob) -> None:
    res = run_job_inproc([*job_args(samples=2), "run.mode=batch", *extra], tmp_path / "a",
                         env={"OPENAI_API_KEY": "sk-test-not-a-key", "GEMINI_API_KEY": "test-not-a-key"})
    assert isinstance(res, ConfigError) and says in str(res) and "use run.mode=live" in str(res)
    assert not (tmp_path / "a" / "results.jsonl").exists()


@pytest.mark.parametrize("model", ["sim", "sim_gemini"])
def test_batch_status_and_cancel(model: str, tmp_path: Path, run_job_inproc: InprocJob,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    from evalsweep.batch.cli import main as batch_cli

    run_dir = tmp_path / "job"
    with sim_server(batch_delay_s=60) as srv:
        args = [*job_args(samples=3), *FAST, f"model={model}", f"model.base_url={srv.url}"]
        _ok(run_job_inproc([*args, "run.batch_wait=false"], run_dir))
        capsys.readouterr()
        assert batch_cli(["status", str(run_dir)]) == 0
        out = capsys.readouterr().out
        assert "1 batch(es)" in out and "3 request(s), in progress" in out
        assert batch_cli(["cancel", str(run_dir)]) == 0
        assert "3 request(s), ended" in capsys.readouterr().out
        # The next run finds the batch canceled: its samples are not run; the one after asks them again.
        res = _ok(run_job_inproc(args, run_dir))
        assert res.summary is not None and res.summary.n_not_run == 3 and "canceled" in (res.summary.stop_reason or "")
        srv.config.faults.batch_delay_s = 0
        res = _ok(run_job_inproc(args, run_dir))
        assert res.summary is not None and res.summary.status == "complete" and len(rows(run_dir)) == 3
        assert srv.stats().batches_created == 2
    assert batch_cli(["status", str(tmp_path / "nothing")]) == 2



def test_polling_goes_on_through_transient_failures(tmp_path: Path) -> None:
    """Unit test of the rounds' wait: a poll that fails (after the SDK's own retries) is tried again."""
    import asyncio

    from evalsweep.batch.common import Result, Status
    from evalsweep.batch.rounds import Pacing, Rounds
    from evalsweep.batch.state import BatchStore
    from evalsweep.llm.errors import TransientError
    from evalsweep.llm.types import GenerateRequest, GenerateResponse, Message

    class FlakyBackend:  # a stand-in for the provider: two failed polls, then the batch has ended
        provider, max_requests, max_bytes = "openai", 10, 10**6
        polls = 0

        def line_bytes(self, cid: str, request: GenerateRequest) -> int:
            return 100

        async def upload(self, items: list) -> None:
            return None

        async def find(self, file_id: str) -> None:
            return None

        async def create(self, items: list, file_id: None) -> str:
            self.cids = [cid for cid, _ in items]
            return "b1"

        async def poll(self, batch_id: str) -> Status:
            self.polls += 1
            if self.polls <= 2:
                raise TransientError("connection error", status=None, cause="connection")
            return Status("ended", {})

        async def results(self, batch_id: str, requests: dict) -> dict:
            return {cid: Result("succeeded", response=GenerateResponse(text="4")) for cid in self.cids}

    backend = FlakyBackend()
    rounds = Rounds(backend, BatchStore(tmp_path), lambda r: r.messages[0].content, Pacing(True, 0.01, 0.02),
                    budget_spent=lambda spent: False, cost_of=lambda r: 0.0)
    request = GenerateRequest(provider="openai", model="m", messages=[Message(role="user", content="2+2")])

    async def go() -> str:
        rounds.started()
        drive = asyncio.create_task(rounds.drive())
        answer = await rounds.ask(request)
        rounds.finished()
        await drive
        return answer.text

    assert asyncio.run(go()) == "4" and backend.polls == 3
    assert BatchStore(tmp_path).entries["b1"].state == "ended"


def test_a_batch_made_of_an_upload_but_not_saved_is_found_not_submitted_again(
        tmp_path: Path, run_job_inproc: InprocJob) -> None:
    """A crash between OpenAI's batches.create and the batch's file: the run after finds the batch by
    the upload that was saved before create (made here by turning a saved batch back into that upload)."""
    with sim_server(batch_delay_s=60) as srv:
        args = [*job_args(samples=4), *FAST, f"model.base_url={srv.url}"]
        _ok(run_job_inproc([*args, "run.batch_wait=false"], tmp_path / "a"))
        srv.config.faults.batch_delay_s = 0
        [path] = [p for p in (tmp_path / "a" / "batches").glob("batch_*.json")]
        entry = json.loads(path.read_text())
        path.unlink()
        entry.update(id=f"upload-{entry['input_file_id']}", state="submitting")
        (path.parent / f"{entry['id']}.json").write_text(json.dumps(entry))
        res = _ok(run_job_inproc(args, tmp_path / "a"))
        assert res.summary is not None and res.summary.status == "complete" and len(rows(tmp_path / "a")) == 4
        assert srv.stats().batches_created == 1 and srv.stats().batch_requests == 4
        assert [b["id"] for b in _batches(tmp_path / "a")] == [path.stem]  # the intent is gone, the batch kept


def test_sweep_collect_leaves_a_job_whose_provider_cannot_be_reached(
        tmp_path: Path, run_job_inproc: InprocJob, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from evalsweep.batch import sweep as batch_sweep

    monkeypatch.setattr(batch_sweep, "_UNREACHABLE", 1)  # one failed poll (after the SDK's retries) is enough here
    with sim_server(batch_delay_s=60) as srv:
        job = tmp_path / "sweep" / "0"
        _ok(run_job_inproc([*job_args(samples=2), *FAST, f"model.base_url={srv.url}", "run.batch_wait=false"], job))
    # The simulator is gone: each poll fails (quickly: nothing listens), and the sweep gives that job up.
    with caplog.at_level("WARNING"):
        assert batch_sweep.collect_sweep(tmp_path / "sweep") == 1
    assert "cannot reach the batches of" in caplog.text
    assert _batches(job)[0]["state"] == "in_progress"  # kept for a later run


def test_a_batch_the_provider_no_longer_knows_is_submitted_again(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    from evalsweep.simulator import SimulatorConfig, SimulatorServer

    with sim_server(batch_delay_s=60) as srv:
        args = [*job_args(samples=3), *FAST, f"model.base_url={srv.url}"]
        _ok(run_job_inproc([*args, "run.batch_wait=false"], tmp_path / "a"))
        port = srv.port
    with SimulatorServer(SimulatorConfig(), port=port) as fresh:  # the same URL, none of the old batches
        res = _ok(run_job_inproc(args, tmp_path / "a"))
        assert res.summary is not None and res.summary.status == "complete" and len(rows(tmp_path / "a")) == 3
        assert fresh.stats().batches_created == 1 and fresh.stats().batch_requests == 3
    assert sorted(b["state"] for b in _batches(tmp_path / "a")) == ["ended", "lost"]


def test_samples_asking_the_same_request_share_one_batch_line_paid_once(tmp_path: Path,
                                                                         run_job_inproc: InprocJob) -> None:
    data = write_dataset(tmp_path / "d.jsonl", ["What is 2 + 2?", "What is 2 + 2?", "What is 3 + 3?"])
    with sim_server() as srv:
        res = _ok(run_job_inproc([*job_args(samples=3), *data, *FAST, *PRICED, f"model.base_url={srv.url}"],
                                 tmp_path / "a"))
        assert srv.stats().batch_requests == 2 and len(rows(tmp_path / "a")) == 3
    same = [r for r in rows(tmp_path / "a") if "2 + 2" in r["messages"][-1]["content"]]
    assert same[0]["output"] == same[1]["output"] and sorted(r["cost_usd"] > 0 for r in same) == [False, True]
    assert res.summary is not None and res.summary.cost_usd == pytest.approx(
        sum(r["cost_usd"] for r in rows(tmp_path / "a")))


def test_a_server_without_batch_endpoints_said_to_have_them_stops_with_one_line(
        tmp_path: Path, run_job_inproc: InprocJob) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotFound(BaseHTTPRequestHandler):  # a server that knows no batch route (as llama.cpp)
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            body = b'{"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}}'
            self.send_response(404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        res = run_job_inproc([*job_args(samples=2), *FAST, f"model.base_url={url}", "+model.batch_api=true"],
                             tmp_path / "a")
    finally:
        server.shutdown()
        server.server_close()
    assert isinstance(res, ConfigError) and "answered 404 to files.create" in str(res)
    assert "use run.mode=live" in str(res)


def test_batches_are_split_within_the_providers_bytes_and_by_seed(tmp_path: Path) -> None:
    """Unit test of the split: a batch never holds more bytes than its provider takes, nor two seeds."""
    from evalsweep.batch.rounds import Pacing, Rounds, _Ask
    from evalsweep.batch.state import BatchStore
    from evalsweep.llm.types import GenerateRequest, Message

    class Limits:  # only the limits matter here
        provider, max_requests, max_bytes = "openai", 100, 250

        def line_bytes(self, cid: str, request: GenerateRequest) -> int:
            return 100

    rounds = Rounds(Limits(), BatchStore(tmp_path), lambda r: "", Pacing(True, 1, 1),  # type: ignore[arg-type]
                    budget_spent=lambda spent: False, cost_of=lambda r: 0.0)

    def ask(n: int, seed: int) -> tuple[str, _Ask]:
        return f"c{n}", _Ask(GenerateRequest(provider="openai", model="m", seed=seed,
                                             messages=[Message(role="user", content=str(n))]))

    chunks = rounds._split([ask(i, 1) for i in range(5)] + [ask(9, 2)])
    assert [[cid for cid, _ in chunk] for chunk in chunks] == [["c0", "c1"], ["c2", "c3"], ["c4"], ["c9"]]
