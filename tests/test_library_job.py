"""evalsweep.run_job: the job from Python, in-process, the same files and rows as `python run.py`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import read_jsonl, run_cli

import evalsweep
from evalsweep.errors import ConfigError

ARGS = ["dataset.max_samples=12", "tracker=none", "run.progress=false", "cache.enabled=false", "seed=43"]


def _rows(path: Path) -> list[tuple]:
    return sorted((r["sample_id"], r["seed"], r["repeat"], r["output"], r["target"], r["score"], r["error"])
                  for r in read_jsonl(path))


def test_run_job_from_python_writes_the_rows_run_py_writes(tmp_path: Path) -> None:
    lib = evalsweep.run_job(ARGS, out_dir=tmp_path / "lib")
    cli = run_cli([*ARGS, f"hydra.run.dir={tmp_path / 'cli'}"])
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert lib.summary is not None and lib.summary.status == "complete" and lib.summary.n_done == 12
    assert _rows(lib.out_dir / "results.jsonl") == _rows(tmp_path / "cli" / "results.jsonl")
    from_cli = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert lib.summary.metrics["score"].mean == from_cli["metrics"]["score"]["mean"]
    for name in ("summary.json", "repro/record.json", ".hydra/config.yaml", "validation_report.txt", "run.log"):
        assert (lib.out_dir / name).is_file(), name
    assert "started the evalsweep simulator" in (lib.out_dir / "run.log").read_text()


def test_run_job_resumes_into_its_dir_and_skips_a_finished_job(tmp_path: Path) -> None:
    first = evalsweep.run_job(ARGS, out_dir=tmp_path / "job")
    before = (tmp_path / "job" / "results.jsonl").read_bytes()
    again = evalsweep.run_job(ARGS, out_dir=tmp_path / "job")
    assert first.summary is not None and again.summary is None  # complete: nothing ran
    assert (tmp_path / "job" / "results.jsonl").read_bytes() == before


def test_run_job_takes_a_validated_config(tmp_path: Path) -> None:
    from evalsweep.app.compose import compose

    _, exp = compose(ARGS)
    result = evalsweep.run_job(exp.model_copy(update={"seed": 44}), out_dir=tmp_path / "job")
    assert result.summary is not None and result.summary.seed == 44
    assert {r["seed"] for r in read_jsonl(tmp_path / "job" / "results.jsonl")} == {44}


@pytest.mark.parametrize("overrides, match", [
    (["model=gtp4"], "no config option model=gtp4"),
    (["model.temprature=0.5"], r"\+model.temprature"),
    (["+model.temprature=0.5"], "unknown config key"),
])
def test_run_job_raises_the_error_run_py_prints(tmp_path: Path, overrides: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        evalsweep.run_job([*ARGS, *overrides], out_dir=tmp_path / "job")
    assert not (tmp_path / "job").exists() or not any((tmp_path / "job").iterdir())


def test_run_job_takes_a_dict_of_changes_on_the_defaults(tmp_path: Path) -> None:
    changes = {"model": "sim_strong", "seed": 43, "tracker": "none", "cache": {"enabled": False},
               "run": {"progress": False}, "dataset": {"max_samples": 6},
               "spec": {"hypothesis": "quotes ' and commas, = {braces} survive"}}
    from_dict = evalsweep.run_job(changes, out_dir=tmp_path / "dict")
    from_list = evalsweep.run_job(["model=sim_strong", *ARGS[:4], "dataset.max_samples=6", "seed=43"],
                                  out_dir=tmp_path / "list")
    assert _rows(from_dict.out_dir / "results.jsonl") == _rows(from_list.out_dir / "results.jsonl")
    assert from_dict.summary is not None and from_dict.summary.model == "sim-strong"
    assert from_dict.summary.config["spec"]["hypothesis"] == changes["spec"]["hypothesis"]  # type: ignore[index]
