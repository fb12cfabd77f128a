"""scorer=judge (issue 10): `scorer=judge scorer.judge=sim_strong` end to end on the simulator, in-process
(the bad-settings test through run.py, for its exit code); the model under test speaks the OpenAI wire
format, the judge the Anthropic one."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import InprocJob, base_args, job_args, rows, run_py, summary
from evalsweep.config.task import ScorerConfig
from evalsweep.errors import ConfigError
from evalsweep.judge.grading import check_rubric, grade_model, render
from evalsweep.judge.options import load_model_option

JUDGE = ["scorer=judge", "scorer.judge=sim_strong"]


def truly_right(row: dict) -> bool:
    return float(row["output"]) == float(row["target"])


def test_inline_judge_grades_every_row_and_is_counted_apart(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    # A contrary judge (always wrong) makes every grade checkable; a price makes its cost visible.
    args = job_args(samples=8) + JUDGE + [
        "+scorer.judge_overrides.simulator.judge_accuracy=0.0",
        "+scorer.judge_overrides.price.input_per_mtok=1000", "+scorer.judge_overrides.price.output_per_mtok=2000"]
    res = run_job_inproc(args, tmp_path / "a")
    assert not isinstance(res, Exception), res
    recs = rows(tmp_path / "a")
    assert len(recs) == 8
    for r in recs:
        j = r["judge"]
        assert j["model"] == "sim-strong" and j["error"] is None and j["asks"] == 1
        assert j["grade"] == ("I" if truly_right(r) else "C")  # judge accuracy 0: every grade flipped
        assert r["score"] == j["score"] == {"C": 1.0, "I": 0.0}[j["grade"]]
        assert j["explanation"] and r["scorer"] == "judge"
        usage = j["usage"]
        assert j["cost_usd"] == pytest.approx((usage["input_tokens"] * 1000 + usage["output_tokens"] * 2000) / 1e6)
    s = summary(tmp_path / "a")
    assert s["scorer"] == "judge"
    assert s["cost_usd"] == 0.0  # the model under test is free; the judge is not
    assert s["requests_sent"] == 8 and s["judge"]["requests_sent"] == 8
    assert s["judge"]["graded"] == 8 and s["judge"]["errors"] == 0
    assert s["judge"]["cost_usd"] == pytest.approx(sum(r["judge"]["cost_usd"] for r in recs))
    assert s["judge"]["input_tokens"] == sum(r["judge"]["usage"]["input_tokens"] for r in recs)
    assert s["metrics"]["score"]["mean"] == pytest.approx(sum(r["score"] for r in recs) / 8)

    # Again into a new dir: model and judge both answered from the cache, nothing spent.
    res = run_job_inproc(args, tmp_path / "b")  # the same test's cache
    assert not isinstance(res, Exception), res
    s2 = summary(tmp_path / "b")
    assert s2["requests_sent"] == 0 and s2["judge"]["requests_sent"] == 0
    assert s2["judge"]["cached"] == 8 and s2["judge"]["cost_usd"] == 0.0
    assert {r["sample_id"]: r["judge"]["grade"] for r in rows(tmp_path / "b")} == \
        {r["sample_id"]: r["judge"]["grade"] for r in recs}


def test_unparseable_judge_answer_is_recorded_and_the_job_goes_on(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    args = job_args(samples=10) + JUDGE + [
        "+scorer.judge_overrides.simulator.judge_accuracy=1.0",
        # The judge never gives a valid grade when the question holds this text.
        "+scorer.judge_overrides.simulator.faults.invalid_structured_substring='What is 1'",
        "+scorer.judge_overrides.structured_reasks=1"]
    res = run_job_inproc(args, tmp_path / "a")
    assert not isinstance(res, Exception), res
    recs = rows(tmp_path / "a")
    bad = [r for r in recs if "What is 1" in r["messages"][-1]["content"]]
    good = [r for r in recs if r not in bad]
    assert bad and good
    for r in bad:
        j = r["judge"]
        assert j["grade"] is None and r["score"] is None and j["asks"] == 2
        assert "could not be parsed as a grade (C/I)" in j["error"] and "validation error" in j["error"]
        assert j["raw"]  # the judge's own reply, for a person to read
        assert r["error"] is None and r["output"] is not None  # the model's answer itself is fine
    for r in good:
        assert r["judge"]["grade"] == ("C" if truly_right(r) else "I")  # a perfect judge
    s = summary(tmp_path / "a")
    assert s["judge"]["errors"] == len(bad) and s["judge"]["graded"] == len(good)
    assert s["judge"]["structured"]["invalid"] == len(bad)
    assert s["metrics"]["score"]["n"] == len(good) and s["n_errors"] == 0


def test_bad_judge_settings_stop_before_any_call(tmp_path: Path) -> None:
    res = run_py(base_args(tmp_path / "a") + ["scorer=judge", "scorer.judge=gpt5"], cache=tmp_path / "c.sqlite")
    assert res.returncode == 2 and "scorer.judge=gpt5: no model option conf/model/gpt5.yaml" in res.stderr
    assert not (tmp_path / "a" / "results.jsonl").exists()
    res = run_py(base_args(tmp_path / "b") + ["scorer=judge", "scorer.rubric='Grade {answer}'"],
                 cache=tmp_path / "c.sqlite")
    assert res.returncode == 2 and "unknown placeholder {answer}" in res.stderr
    res = run_py(base_args(tmp_path / "c") + ["scorer=judge", "scorer.judge=claude"], cache=tmp_path / "c.sqlite")
    assert res.returncode != 0 and "ANTHROPIC_API_KEY" in res.stderr  # the judge's key, checked up front


def test_grade_model_rubric_and_model_options() -> None:
    Grade = grade_model({"C": 1.0, "P": 0.5, "I": 0.0})
    assert Grade.model_validate({"explanation": "x", "grade": "P"}).grade == "P"
    with pytest.raises(ValueError):
        Grade.model_validate({"explanation": "x", "grade": "B"})
    assert list(Grade.model_json_schema()["properties"]) == ["explanation", "grade"]
    text = render("{input}|{target}|{output}|{difficulty}", sample_id="q", question="Q", target="T", output="{O}",
                  metadata={"difficulty": "easy"})
    assert text == "Q|T|{O}|easy"  # braces in an output are text, not placeholders
    with pytest.raises(ConfigError, match="unmatched|not a valid template"):
        check_rubric("Grade {output", [], "scorer.rubric")
    judge = load_model_option("sim_strong", {"temperature": 0.0, "simulator": {"judge_accuracy": 0.5}})
    assert judge.provider == "anthropic" and judge.temperature == 0.0 and judge.simulator.judge_accuracy == 0.5
    with pytest.raises(ConfigError, match="invalid model setting 'temprature'"):
        load_model_option("sim_strong", {"temprature": 0.0})
    with pytest.raises(ValueError, match="at least two grades"):
        ScorerConfig(type="judge", judge="sim", rubric="{output}", grades={"C": 1.0})
