"""wandb tracking: real offline runs written by real Hydra jobs, read back from disk (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsweep.config import PROJECT_ROOT
from evalsweep.wandb_offline import BLOCK, OfflineRunError, find_run_files, read_run, scan
from evalsweep.wandb_tracker import _scrub, run_group, run_name, wandb_mode
from _helpers_tracking import FAKE_KEY, cli, job_env, summary

N = 6


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 3-job multirun shared by the tests below (each job costs a process start)."""
    tmp = tmp_path_factory.mktemp("sweep")
    out = tmp / "multirun"
    r = cli(["-m", "seed=1,2,3", f"dataset.max_samples={N}", "run.progress=false", "wandb.table_rows=4",
             "wandb.log_every=2", "wandb.tags=[smoke,ci]", f"hydra.sweep.dir={out}",
             "hydra.callbacks.report.enabled=false"], job_env(tmp))
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
    job = {"overrides": ["model=sim_weak", "seed=42"], "job_num": 3, "sweep_dir": str(PROJECT_ROOT / "multirun/x")}
    assert run_name(job) == "#3 model=sim_weak seed=42"
    assert run_name({"overrides": []}) == "defaults"
    assert run_group(job, Path("/elsewhere")) == "multirun/x"
    assert run_group({"sweep_dir": None}, Path("/tmp/out/12-00")) == "/tmp/out/12-00"


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
