"""A dataset option's name, version, source and split describe its own file and mapping (issue 23):
a job that reads another file through the option must not be recorded as the shipped dataset, and
a spec written about another model or dataset is flagged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from conftest import ROOT, InprocJob, compose_exp, read_jsonl
from evalsweep.api import JobResult
from evalsweep.config.base import PROJECT_ROOT
from evalsweep.config.dataset import DatasetConfig, content_version
from evalsweep.config.schema import ExperimentConfig, validate
from evalsweep.job.validation_context import JobContext, Machine
from evalsweep.job.validation import validate as run_checks

GB = 1024**3
MINE = "dataset.fields.input=question dataset.fields.target=answer".split()


pytestmark = pytest.mark.usefixtures("private_cache")


def mine(tmp_path: Path, n: int = 4) -> Path:
    p = tmp_path / "mine.jsonl"
    p.write_text("".join(json.dumps({"id": f"m{i}", "question": f"What is {i} + {i}?", "answer": str(2 * i),
                                     "difficulty": "easy"}) + "\n" for i in range(n)))
    return p


def checks(exp: ExperimentConfig, tmp_path: Path, **kw) -> dict[str, object]:
    ctx = JobContext(**{"output_dir": tmp_path / "out", "seeds": [42], **kw,
                        "machine": Machine(cores=8, memory_available=32 * GB, memory_total=64 * GB,
                                           process_rss=GB // 8)})
    report = run_checks(exp, ctx)
    assert report.passed, report.render()
    return {c.key: c for c in report.checks}


def test_the_shipped_option_keeps_its_provenance() -> None:
    for option, version in (("arithmetic", "1.0"), ("arithmetic_mc", "1.0")):
        d = compose_exp(f"dataset={option}").dataset
        assert d.is_own_file is True and d.derived == {}
        assert (d.name, d.version, d.split) == (option, version, "test")
        assert d.source is not None and d.source.startswith("scripts/make_datasets.py")
    # The same file named by its absolute path is still the option's own.
    d = compose_exp(f"dataset.path={PROJECT_ROOT / 'data' / 'arithmetic.jsonl'}").dataset
    assert d.is_own_file and d.name == "arithmetic" and d.version == "1.0"


def test_an_overridden_path_is_not_labelled_as_the_shipped_dataset(tmp_path: Path) -> None:
    path = mine(tmp_path)
    exp = compose_exp("model=gpt4", f"dataset.path={path}", *MINE)
    d = exp.dataset
    assert d.is_own_file is False
    assert d.name == "mine" and d.version == content_version(path) and d.version.startswith("sha256:")
    assert d.source == str(path) and d.split is None
    assert set(d.derived) == {"name", "version", "source", "split"}
    by_key = checks(exp, tmp_path)
    # Not blocking (a quick run on your own file still runs), but never silent.
    assert by_key["dataset"].status == "pass"
    assert "Dataset: mine sha256:" in by_key["dataset"].message and "split not stated" in by_key["dataset"].message
    prov = by_key["provenance"]
    assert prov.status == "warn" and "not the file or mapping of dataset option arithmetic" in prov.message
    assert prov.fix == "dataset.name, dataset.version, dataset.source, dataset.split (what your file is)"
    # The default spec is about the simulator on arithmetic: flagged for gpt-4o on mine.jsonl.
    subject = by_key["spec_subject"]
    assert subject.status == "warn"
    assert "dataset arithmetic (this job runs mine)" in subject.message
    assert "the simulator (gpt-4o is a real model)" in subject.message


def test_a_changed_mapping_of_the_shipped_file_is_another_dataset(tmp_path: Path) -> None:
    d = compose_exp("dataset.fields.target=difficulty", "scorer=exact").dataset
    assert d.is_own_file is False and d.version != "1.0" and d.version == content_version(d.resolved_path)
    # Metadata is not part of what the items are.
    assert compose_exp("dataset.fields.metadata=[]").dataset.is_own_file is True


def test_values_given_for_your_file_are_kept(tmp_path: Path) -> None:
    path = mine(tmp_path)
    exp = compose_exp(f"dataset.path={path}", *MINE, "dataset.name=mine_v2", "dataset.version=2.1",
                      "dataset.source=hand-written", "dataset.split=test")
    d = exp.dataset
    assert (d.name, d.version, d.source, d.split) == ("mine_v2", "2.1", "hand-written", "test")
    assert d.derived == {}
    assert checks(exp, tmp_path)["provenance"].status == "pass"
    # Given only in part: the rest is still derived, not inherited.
    d = compose_exp(f"dataset.path={path}", *MINE, "dataset.split=test").dataset
    assert (d.name, d.split, d.source) == ("mine", "test", str(path))
    assert set(d.derived) == {"name", "version", "source"}


def test_a_config_without_provenance_is_taken_as_given(tmp_path: Path) -> None:
    d = DatasetConfig(name="t", path=str(mine(tmp_path)), version="1", source="s", split="dev")
    assert d.is_own_file is None and d.derived == {} and (d.name, d.version) == ("t", "1")


def test_spec_subject_follows_the_sweep(tmp_path: Path) -> None:
    # weak_vs_strong names sim-weak and sim-strong: fine within its sweep, flagged for one job alone.
    exp = compose_exp("experiment=weak_vs_strong")
    assert checks(exp, tmp_path, swept={"model": ["sim_weak", "sim_strong"]})["spec_subject"].status == "pass"
    alone = checks(exp, tmp_path)["spec_subject"]
    assert alone.status == "warn" and "model sim-weak" in alone.message
    # A sweep over a simulator and a real model may speak of the simulator.
    gpt = compose_exp("model=gpt4")
    assert checks(gpt, tmp_path)["spec_subject"].status == "warn"
    assert checks(gpt, tmp_path, swept={"model": ["sim", "gpt4"]})["spec_subject"].status == "pass"
    assert checks(compose_exp(), tmp_path)["spec_subject"].status == "pass"
    assert checks(compose_exp("dataset=arithmetic_mc", "scorer=choice"), tmp_path)["spec_subject"].status == "pass"


def test_records_and_summary_carry_the_derived_name(tmp_path: Path, run_job_inproc: InprocJob,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    res = run_job_inproc([f"dataset.path={mine(tmp_path, 3)}", *MINE], out)
    assert isinstance(res, JobResult), res
    assert {row["dataset"] for row in read_jsonl(out / "results.jsonl")} == {"mine"}
    assert json.loads((out / "summary.json").read_text())["dataset"] == "mine"
    printed = capsys.readouterr().out  # the pre-run report
    assert "⚠️  WARN: Dataset provenance: " in printed and "Dataset: mine sha256:" in printed


def test_the_recorded_config_carries_the_values_the_job_uses(tmp_path: Path) -> None:
    """What summary.json records and a resume compares is what labels the records: the shipped
    option still says version 1.0 (as dirs run before provenance blocks did), another file its own."""
    def container(*overrides: str) -> dict:
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)
        assert isinstance(cfg, dict)
        validate(cfg)
        return cfg["dataset"]

    shipped = container()
    assert (shipped["name"], shipped["version"], shipped["split"]) == ("arithmetic", "1.0", "test")
    other = container(f"dataset.path={mine(tmp_path)}", *MINE)
    assert other["name"] == "mine" and other["version"].startswith("sha256:") and other["split"] is None


def test_the_conf_options_are_read_once_and_an_edit_is_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The spec check reads conf/<group>/*.yaml for every job of a sweep: parsed once, but an option
    edited or added between two jobs is what the next one reads."""
    from evalsweep.job import validation_warnings as vw

    group = tmp_path / "conf" / "model"
    group.mkdir(parents=True)
    (group / "a.yaml").write_text("name: model-a\n")
    monkeypatch.setattr(vw, "PROJECT_ROOT", tmp_path)
    first = vw._conf_options("model")
    assert first == {"a": {"name": "model-a"}}
    first["a"]["name"] = "changed by a caller"
    hits = vw._parsed_options.cache_info().hits
    assert vw._conf_options("model") == {"a": {"name": "model-a"}}  # a copy each time, parsed once
    assert vw._parsed_options.cache_info().hits == hits + 1
    (group / "a.yaml").write_text("name: model-a-renamed\n")
    (group / "b.yaml").write_text("name: model-b\n")
    assert vw._conf_options("model") == {"a": {"name": "model-a-renamed"}, "b": {"name": "model-b"}}
