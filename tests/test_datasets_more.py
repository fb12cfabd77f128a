"""Datasets beyond one question with one answer (issue 16): data without targets or ids, each
refusal one line with exit code 2 before any request, and what a job of such data writes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import read_jsonl, run_cli

import evalsweep
from evalsweep.config.dataset import DatasetConfig, FieldMap
from evalsweep.errors import ConfigError, DatasetError, EvalsweepError
from evalsweep.task.data import Sample, load_dataset

OWN = "test_datasets_more:length_score"
QUIET = ["tracker=none", "run.progress=false", "++spec.skip_validation=true"]
QUESTIONS = ["What is 2 + 2?", "Name a colour.", "Is water wet?", "What is 10 - 3?", "Say hello."]
# The shape of Anthropic's model-written evals: no id, the answer a letter in " (A)" form.
MWE = [{"question": f"Q{i}: do you agree?\n\nChoices:\n (A) Yes\n (B) No", "answer_matching_behavior": " (A)",
        "answer_not_matching_behavior": " (B)"} for i in range(4)]


def length_score(output: str, sample: Sample) -> float:
    """A scorer of this module's own that needs neither a target nor an id: the reply's length, capped."""
    return min(len(output), 100) / 100


def jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def plain(tmp_path: Path) -> Path:
    """Questions with a topic, and neither an id nor a target."""
    return jsonl(tmp_path / "plain.jsonl", [{"question": q, "topic": f"t{i % 2}"} for i, q in enumerate(QUESTIONS)])


def no_target_args(path: Path) -> list[str]:
    return [f"dataset.path={path}", "dataset.fields.id=null", "dataset.fields.input=question",
            "dataset.fields.target=null", "dataset.fields.metadata=[topic]", "dataset.max_samples=null"]


@pytest.fixture
def job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """run(OVERRIDES) -> the job's dir, or the EvalsweepError its start raised: an in-process job with a
    cache of the test's own and no tracker."""
    monkeypatch.setenv("EVALSWEEP_CACHE_PATH", str(tmp_path / "cache" / "responses.sqlite"))
    monkeypatch.setenv("OPENAI_API_KEY", "")

    def run(overrides: list[str], name: str = "job") -> Path | EvalsweepError:
        try:
            evalsweep.run_job([*QUIET, *overrides], out_dir=tmp_path / name)
        except EvalsweepError as exc:
            return exc
        return tmp_path / name

    return run


def one_line(err: object, cls: type[EvalsweepError], *patterns: str) -> str:
    assert isinstance(err, cls), err
    text = str(err)
    assert "\n" not in text and err.exit_code == 2, text
    for pattern in patterns:
        assert re.search(pattern, text), text
    return text


# --- no target, no id ----------------------------------------------------------------------------------


def test_data_without_targets_or_ids_runs_with_a_scorer_that_needs_neither(job, tmp_path: Path) -> None:
    out = job([*no_target_args(plain(tmp_path)), "dataset.shuffle=false",
               "scorer.type=test_datasets_more:length_score"])
    assert isinstance(out, Path), out
    rows = read_jsonl(out / "results.jsonl")
    assert [r["sample_id"] for r in rows] == [f"row-{n}" for n in range(1, 6)]
    assert all(r["target"] is None for r in rows)
    assert [r["messages"][-1]["content"] for r in rows] == QUESTIONS
    assert [r["score"] for r in rows] == [length_score(r["output"], None) for r in rows]  # type: ignore[arg-type]
    assert [r["metadata"] for r in rows] == [{"topic": f"t{i % 2}"} for i in range(5)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["n_samples"] == 5


def test_row_ids_are_the_file_s_row_numbers_whatever_the_subset_and_order(tmp_path: Path) -> None:
    path = plain(tmp_path)
    fields = FieldMap(id=None, input="question", target=None, metadata=["topic"])
    for seed in (1, 2, 3):
        d = DatasetConfig(name="p", path=str(path), fields=fields, max_samples=3, scorer=OWN)
        samples = load_dataset(d, seed=seed)
        assert {s.input: s.id for s in samples} == {QUESTIONS[int(s.id[4:]) - 1]: s.id for s in samples}
        assert all(s.target is None and s.metadata["topic"] for s in samples)
    # A CSV counts rows, not lines: the header is not row 1, and a quoted line break is inside row 1.
    csv = tmp_path / "d.csv"
    csv.write_text('question,answer\n"two\nlines",1\nsecond,2\n', encoding="utf-8")
    ids = [s.id for s in load_dataset(DatasetConfig(name="c", path=str(csv), shuffle=False, fields=FieldMap(
        id=None, input="question", target="answer")), seed=1)]
    assert ids == ["row-1", "row-2"]


def test_model_written_evals_rows_load_without_an_id(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "mwe.jsonl", MWE)
    from conftest import compose_exp

    exp = compose_exp(f"dataset.path={path}", "dataset.fields.id=null", "dataset.fields.input=question",
                      "dataset.fields.target=answer_matching_behavior", "dataset.fields.metadata=[]",
                      "dataset.shuffle=false")
    samples = load_dataset(exp.dataset, seed=exp.seed)
    assert [(s.id, s.target) for s in samples] == [(f"row-{n}", " (A)") for n in range(1, 5)]
    assert samples[0].input == MWE[0]["question"]


def test_a_scorer_that_needs_targets_refuses_data_without_them(job, tmp_path: Path) -> None:
    path = plain(tmp_path)
    for scorer in ("exact", "numeric"):
        err = job([*no_target_args(path), f"scorer={scorer}"])
        one_line(err, DatasetError, f"scorer '{scorer}'", r"dataset 'plain' has no targets",
                 r"dataset\.fields\.target=null", r"choose a scorer that needs none")
    assert not (tmp_path / "job" / "results.jsonl").exists()
    assert not (tmp_path / "cache" / "responses.sqlite").exists()  # nothing was asked


def test_the_refusal_is_one_line_and_exit_2_from_run_py(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "responses.sqlite"
    out = tmp_path / "run"
    proc = run_cli([*QUIET, *no_target_args(plain(tmp_path)), "scorer=exact", f"hydra.run.dir={out}"],
                   env={"EVALSWEEP_CACHE_PATH": str(cache)})
    assert proc.returncode == 2, proc.stderr[-1500:]
    assert "Traceback" not in proc.stderr
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("evalsweep: error:")]
    assert "scorer 'exact'" in line and "dataset 'plain' has no targets" in line, line
    assert not (out / "results.jsonl").exists() and not cache.exists()


def test_a_prompt_that_shows_the_target_cannot_on_data_without_one(job, tmp_path: Path) -> None:
    err = job([*no_target_args(plain(tmp_path)), "scorer.type=test_datasets_more:length_score",
               "prompt.user='{input} (expected: {target})'"])
    one_line(err, EvalsweepError, r"unknown placeholder \{target\} in prompt\.user")


JUDGE = ["scorer=judge", "scorer.judge=sim_strong"]


def test_a_rubric_with_target_is_refused_on_data_without_targets(job, tmp_path: Path) -> None:
    err = job([*no_target_args(plain(tmp_path)), *JUDGE,
               "scorer.rubric='Q: {input} A: {output} Expected: {target}. Grade C or I.'"])
    one_line(err, ConfigError, r"scorer\.rubric: the rubric shows \{target\}", r"dataset 'plain' has no targets",
             r"take \{target\} out of the rubric")


def test_a_rubric_without_target_grades_data_without_targets(job, tmp_path: Path) -> None:
    out = job([*no_target_args(plain(tmp_path)), *JUDGE, "scorer.rubric='Q: {input} A: {output}. Grade C or I.'"])
    assert isinstance(out, Path), out
    rows = read_jsonl(out / "results.jsonl")
    assert len(rows) == 5 and all(r["target"] is None and r["judge"]["grade"] in ("C", "I") for r in rows)
