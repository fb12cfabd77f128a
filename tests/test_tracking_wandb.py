"""wandb tracking: real offline runs written by real Hydra jobs, read back from disk (no network)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import evalsweep
import evalsweep.tracking.wandb_run as wandb_tracker
from evalsweep.config.base import PROJECT_ROOT
from evalsweep.config.schema import validate
from evalsweep.results.provenance import GitInfo
from evalsweep.results.record import JobInfo
from evalsweep.tracking.wandb_offline import BLOCK, OfflineRunError, find_run_files, read_run, scan
from evalsweep.tracking.wandb_run import (_LAUNCH_INPUTS, TrackingError, WandbTracker, _scrub, load_wandb, run_group,
                                     run_name, starts_in_background, wandb_mode)
from conftest import FAKE_KEY, job_env, run_cli, summary

N = 6


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 3-job multirun shared by the tests below (each job costs a process start)."""
    tmp = tmp_path_factory.mktemp("sweep")
    out = tmp / "multirun"
    r = run_cli(["-m", "seed=1,2,3", f"dataset.max_samples={N}", "run.progress=false", "wandb.table_rows=4",
             "wandb.log_every=2", "wandb.tags=[smoke,ci]", f"hydra.sweep.dir={out}",
             "hydra.callbacks.report.enabled=false"], environ=job_env(tmp))
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.mark.slow
def test_multirun_gives_one_offline_run_per_job_in_one_group(sweep: Path) -> None:
    files = find_run_files(sweep)
    assert len(files) == 3, files
    runs = {f.relative_to(sweep).parts[0]: read_run(f) for f in files}
    assert sorted(runs) == ["0", "1", "2"]  # one run inside each job's own dir
    assert len({r.run_id for r in runs.values()}) == 3
    assert {r.group for r in runs.values()} == {str(sweep.resolve())[-128:]}
    for num, run in runs.items():
        assert run.exit_code == 0 and not run.torn
        assert run.name.startswith(f"#{num} ") and f"seed={int(num) + 1}" in run.name
        assert run.job_type == "eval" and run.project == "evalsweep"
        assert {"smoke", "ci", "simulated"} <= set(run.tags)


@pytest.mark.slow
def test_run_config_is_the_resolved_config_plus_commit_and_seed(sweep: Path) -> None:
    for job in ("0", "1", "2"):
        run = read_run(find_run_files(sweep / job)[0])
        seed = int(job) + 1
        assert run.config["seed"] == seed
        assert run.config["model"]["name"] == "sim" and run.config["model"]["simulated"] is True
        assert run.config["dataset"]["max_samples"] == N
        assert run.config["simulated"] is True
        assert len(run.config["git"]["commit"]) == 40
        assert run.config["job"]["sweep_dir"] == str(sweep.resolve())
        assert run.config["job"]["overrides"][:1] == [f"seed={seed}"]
        assert "${" not in json.dumps(run.config)  # resolved, no interpolation left


@pytest.mark.slow
def test_summary_holds_the_numbers_of_summary_json(sweep: Path) -> None:
    for job in ("0", "1", "2"):
        run = read_run(find_run_files(sweep / job)[0])
        s = summary(sweep / job)
        score = s["metrics"]["score"]
        assert run.summary["status"] == "complete" == s["status"]
        assert run.summary["n_done"] == N == s["n_done"]
        assert run.summary["score/mean"] == pytest.approx(score["mean"])
        assert run.summary["score/stderr"] == pytest.approx(score["stderr"])
        assert [run.summary["score/ci95_low"], run.summary["score/ci95_high"]] == pytest.approx(score["ci95"])
        assert run.summary["metrics"]["score"]["ci95"] == pytest.approx(score["ci95"])
        assert run.summary["usage"] == s["usage"]
        # Running metrics every 2 records, ending at the final count.
        done = [h["running/done"] for h in run.history if "running/done" in h]
        assert done == [2, 4, 6]
        assert all(h["running/samples_per_s"] > 0 for h in run.history if "running/done" in h)


@pytest.mark.slow
def test_sample_table_is_bounded_and_results_are_an_artifact(sweep: Path) -> None:
    for job in ("0", "1", "2"):
        run = read_run(find_run_files(sweep / job)[0])
        table_path = run.path.parent / "files" / run.summary["samples/path"]
        table = json.loads(table_path.read_text())
        assert run.summary["samples/nrows"] == 4 == len(table["data"])  # wandb.table_rows=4 of 6
        cols = table["columns"]
        first = json.loads((sweep / job / "results.jsonl").read_text().splitlines()[0])
        row = dict(zip(cols, table["data"][0]))
        assert row["sample_id"] == first["sample_id"] and row["output"] == first["output"]
        results = [a for a in run.artifacts if a["type"] == "results"]
        assert len(results) == 1 and {"results.jsonl", "summary.json"} <= set(results[0]["files"])


@pytest.mark.slow
def test_no_api_key_value_reaches_any_file(sweep: Path) -> None:
    for f in sweep.rglob("*"):
        if f.is_file():
            assert FAKE_KEY.encode() not in f.read_bytes(), f


# -- unit tests: one function each ---------------------------------------------------------

def test_mode_is_offline_unless_the_environment_says_otherwise() -> None:
    assert wandb_mode({}) == "offline"
    assert wandb_mode({"WANDB_API_KEY": "x"}) == "online"
    assert wandb_mode({"WANDB_MODE": "disabled", "WANDB_API_KEY": "x"}) is None  # wandb reads it itself


def test_name_and_group() -> None:
    job = JobInfo(output_dir="/x", overrides=["model=sim_weak", "seed=42"], job_num=3,
                  sweep_dir=str(PROJECT_ROOT / "multirun/x"))
    assert run_name(job) == "#3 model=sim_weak seed=42"
    assert run_name(JobInfo(output_dir="/x")) == "defaults"
    assert run_group(job, Path("/elsewhere")) == "multirun/x"
    assert run_group(JobInfo(output_dir="/x"), Path("/tmp/out/12-00")) == "/tmp/out/12-00"


def test_secret_valued_keys_are_redacted_but_key_names_kept() -> None:
    cfg = {"model": {"api_key_env": "OPENAI_API_KEY", "api_key": "sk-x", "max_tokens": 5},
           "x": [{"password": "p"}], "token": None}
    assert _scrub(cfg) == {"model": {"api_key_env": "OPENAI_API_KEY", "api_key": "<redacted>", "max_tokens": 5},
                           "x": [{"password": "<redacted>"}], "token": None}


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run written in this process whose config spans several 32 KiB blocks."""
    import wandb

    tmp = tmp_path_factory.mktemp("big")
    run = wandb.init(mode="offline", dir=str(tmp), project="p", config={"big": "x" * (3 * BLOCK), "n": 7},
                     settings=wandb.Settings(console="off", x_disable_stats=True, quiet=True))
    for i in range(50):
        run.log({"i": i})
    run.summary["final"] = 1.5
    run.finish(exit_code=1)
    # finish() returns before wandb-core has written everything; a process exit waits for it,
    # and so does teardown (which stops this process's wandb service).
    wandb.teardown()
    return find_run_files(tmp)[0]


def test_reader_joins_records_split_over_blocks(big_run: Path) -> None:
    run = read_run(big_run)
    assert run.config["big"] == "x" * (3 * BLOCK) and run.config["n"] == 7
    assert [h["i"] for h in run.history] == list(range(50))
    assert run.summary["final"] == 1.5 and run.exit_code == 1 and not run.torn


def test_reader_drops_a_torn_tail(big_run: Path, tmp_path: Path) -> None:
    data = big_run.read_bytes()
    payloads, _ = scan(big_run)
    torn = tmp_path / "run-torn.wandb"
    torn.write_bytes(data[: len(data) - 40])  # a kill mid-write
    cut, was_torn = scan(torn)
    assert was_torn and 0 < len(cut) < len(payloads) and cut == payloads[: len(cut)]
    assert read_run(torn).config["n"] == 7
    bad = tmp_path / "run-bad.wandb"
    bad.write_bytes(b"not a wandb file")
    with pytest.raises(OfflineRunError, match="not a wandb run file"):
        scan(bad)


# -- the tracker's start beside the job (a stand-in wandb, so the order of events is the test's) --

class _FakeRun:
    def __init__(self, run_dir: Path) -> None:
        self.id, self.dir, self.settings = "fake", str(run_dir), types.SimpleNamespace(mode="offline")
        self.rows: list[dict[str, Any]] = []
        self.exit_code: int | None = None

    def define_metric(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log(self, row: dict[str, Any]) -> None:
        self.rows.append(row)

    def finish(self, exit_code: int) -> None:
        self.exit_code = exit_code


def _fake_wandb(tmp_path: Path, *, fail: bool = False) -> tuple[types.SimpleNamespace, threading.Event]:
    gate = threading.Event()  # wandb.init returns once the test opens it
    fake = types.SimpleNamespace(Error=type("Error", (Exception,), {}), Settings=lambda **kw: kw,
                                 setup=lambda settings: None, runs=[])

    def init(**kwargs: Any) -> _FakeRun:
        gate.wait(10)
        if fail:
            raise fake.Error("the service did not start")
        run = _FakeRun(tmp_path)
        fake.runs.append(run)
        return run

    fake.init = init
    return fake, gate


def _tracker(monkeypatch: pytest.MonkeyPatch, fake: types.SimpleNamespace, tmp_path: Path) -> WandbTracker:
    monkeypatch.setattr(wandb_tracker, "load_wandb", lambda: fake)
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        cfg = OmegaConf.to_container(compose("config", overrides=["wandb.log_every=2"]), resolve=True)
    assert isinstance(cfg, dict)
    return WandbTracker(validate(cfg), config=cfg, out_dir=tmp_path, job=JobInfo(output_dir=str(tmp_path)),
                        git=GitInfo(commit=None, dirty=None))


def test_an_offline_run_starts_beside_the_job_and_gets_all_it_was_sent_in_order(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    fake, gate = _fake_wandb(tmp_path)
    tracker = _tracker(monkeypatch, fake, tmp_path)  # returns while wandb.init is still blocked
    tracker.log_text("validation_report", "all checks passed")
    for done in range(1, 5):
        tracker.log_record(None, {"done": done})  # type: ignore[arg-type]
    assert not fake.runs
    gate.set()
    tracker.finish(failed=False)
    (run,) = fake.runs
    assert [r["running/done"] for r in run.rows] == [2, 4] and run.exit_code == 0
    assert (tmp_path / "validation_report.txt").read_text() == "all checks passed"


def test_a_failed_start_stops_the_job_at_its_next_call_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    fake, gate = _fake_wandb(tmp_path, fail=True)
    gate.set()
    tracker = _tracker(monkeypatch, fake, tmp_path)
    tracker._thread.join(10)
    with pytest.raises(TrackingError, match="the service did not start"):
        tracker.log_record(None, {"done": 1})  # type: ignore[arg-type]
    # The job's own error handling then writes its summary and finishes the tracker: nothing more to raise.
    tracker.log_record(None, {"done": 2})  # type: ignore[arg-type]
    tracker.log_summary({"status": "failed"}, tmp_path / "results.jsonl")
    tracker.finish(failed=True)


def test_finish_never_raises_a_failed_start_over_the_jobs_own_error(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    fake, gate = _fake_wandb(tmp_path, fail=True)
    tracker = _tracker(monkeypatch, fake, tmp_path)
    gate.set()
    tracker.finish(failed=True)  # called in the job's `finally`, e.g. after a Ctrl-C
    assert "wandb could not start a run" in caplog.text and "the service did not start" in caplog.text


def test_an_online_run_is_up_before_the_job_sends_anything(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "x")
    assert not starts_in_background(wandb_mode({"WANDB_API_KEY": "x"}), {})
    assert starts_in_background(None, {"WANDB_MODE": "offline"}) and starts_in_background("offline", {})
    fake, gate = _fake_wandb(tmp_path, fail=True)
    gate.set()
    with pytest.raises(TrackingError, match="the service did not start"):  # raised by the constructor
        _tracker(monkeypatch, fake, tmp_path)


def test_launch_inputs_are_only_looked_for_when_wandb_launch_staged_some(monkeypatch: pytest.MonkeyPatch) -> None:
    load_wandb()
    from wandb.sdk import wandb_run

    applied: list[object] = []
    staged = types.ModuleType(_LAUNCH_INPUTS)
    staged.StagedLaunchInputs = lambda: types.SimpleNamespace(apply=applied.append)  # type: ignore[attr-defined]
    run = object()
    monkeypatch.delitem(sys.modules, _LAUNCH_INPUTS, raising=False)
    wandb_run.Run._detect_and_apply_job_inputs(run)  # type: ignore[arg-type]
    assert _LAUNCH_INPUTS not in sys.modules and applied == []  # nothing imported, nothing applied
    monkeypatch.setitem(sys.modules, _LAUNCH_INPUTS, staged)
    wandb_run.Run._detect_and_apply_job_inputs(run)  # type: ignore[arg-type]
    assert applied == [run]  # wandb's own method ran
    load_wandb()  # patched once, not wrapped again
    assert not getattr(wandb_run.Run._detect_and_apply_job_inputs.__wrapped__, "evalsweep_skips_unstaged", False)


def test_the_service_is_looked_for_often_and_still_within_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    load_wandb()
    from wandb.sdk.lib.service import service_port_file

    assert service_port_file._SLEEP is wandb_tracker._poll_sleep
    slept: list[float] = []
    monkeypatch.setattr(wandb_tracker, "time", types.SimpleNamespace(sleep=slept.append))  # this module only
    service_port_file._SLEEP(0.2)  # what wandb asks for between two looks at the port file
    service_port_file._SLEEP(0.003)
    assert slept == [wandb_tracker._POLL_S, 0.003]
    monkeypatch.undo()
    # The timeout is wandb's own loop's: a service that never writes its port file still fails.
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        with pytest.raises(service_port_file.ServicePollForTokenError, match="after 0.1 seconds"):
            service_port_file.poll_for_token(Path("/nonexistent/port.txt"), proc, timeout=0.1)
    finally:
        proc.kill()
        proc.wait()


def test_read_run_takes_a_job_dir_or_its_file_and_the_listing_is_rounded(tmp_path: Path, private_cache: None,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from evalsweep.tracking.wandb_offline import main

    for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    for n in (2, 10):
        evalsweep.run_job({"tracker": "wandb", "seed": n, "run": {"progress": False}, "dataset": {"max_samples": 4}}, out_dir=tmp_path / "sweep" / str(n))
    files = find_run_files(tmp_path / "sweep")
    assert [f.relative_to(tmp_path / "sweep").parts[0] for f in files] == ["2", "10"]  # natural order
    deadline = time.monotonic() + 60
    while read_run(files[0]).exit_code is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert read_run(str(tmp_path / "sweep" / "2")).run_id == read_run(files[0]).run_id == read_run(files[0].parent).run_id
    with pytest.raises(OfflineRunError, match="2 wandb runs there"):
        read_run(tmp_path / "sweep")
    assert main([str(tmp_path / "sweep" / "2")]) == 0


@pytest.mark.slow
def test_the_sweep_report_is_a_run_in_the_sweep_group(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    r = run_cli(["-m", "model=sim_weak,sim_strong", "seed=1", "dataset.max_samples=6", "run.progress=false",
                 f"hydra.sweep.dir={sweep}"], environ=job_env(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    (report_file,) = sorted((sweep / "wandb").glob("*run-*/run-*.wandb"))  # the sweep dir's own run
    report = read_run(report_file)
    job = read_run(find_run_files(sweep / "0")[0])
    assert report.job_type == "report" and job.job_type == "eval" and report.group == job.group
    assert report.config["simulated"] is True and "simulated" in report.tags
    assert report.summary["report/variants/_type"] == "table-file" and report.summary["report/variants/nrows"] == 2
    assert report.summary["report/pairwise/_type"] == "table-file"
    assert report.summary["plots/variants_forest/_type"] == "image-file" and report.exit_code == 0
    listing = subprocess.run([sys.executable, "-m", "evalsweep.wandb_offline", str(sweep)], capture_output=True,
                             text=True, timeout=60)
    lines = listing.stdout.splitlines()
    assert listing.returncode == 0 and len(lines) == 3  # two jobs and the report
    assert sum("report of the sweep" in ln for ln in lines) == 1 and sum("score=" in ln for ln in lines) == 2
