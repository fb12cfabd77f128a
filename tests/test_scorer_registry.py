"""Scorers by name or dotted path: a researcher's own function, or a factory of async scorers, scores a
job with no edit to the package; the judge is one such factory in the same registry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import read_jsonl

import evalsweep
from evalsweep.task.data import Sample
from evalsweep.errors import ScoringError
from evalsweep.config.schema import ExperimentConfig
from evalsweep.task.scorer_api import JobScorer, ScoreInput, Scored, ScorerFactory
from evalsweep.task.scoring import SCORERS, get_scorer

ARGS = ["dataset.max_samples=8", "tracker=none", "run.progress=false", "cache.enabled=false",
        "spec.skip_validation=true"]


def last_digit_is_even(output: str, sample: Sample) -> float:
    """A scorer of this test module's own: not a built-in, found by its dotted path."""
    digits = [c for c in output if c.isdigit()]
    return 1.0 if digits and int(digits[-1]) % 2 == 0 else 0.0


def within(output: str, sample: Sample, tolerance: float = 0.0) -> float:
    """Takes scorer.tolerance, as the built-in numeric scorer does."""
    try:
        return float(abs(float(output.strip()) - float(sample.target)) <= tolerance)
    except ValueError:
        return 0.0


def test_a_scorer_named_by_dotted_path_scores_a_job(tmp_path: Path) -> None:
    result = evalsweep.run_job([*ARGS, "scorer.type=test_scorer_registry:last_digit_is_even"], out_dir=tmp_path / "j")
    rows = read_jsonl(tmp_path / "j" / "results.jsonl")
    assert len(rows) == 8 and {r["scorer"] for r in rows} == {"test_scorer_registry:last_digit_is_even"}
    assert [r["score"] for r in rows] == [last_digit_is_even(r["output"], None) for r in rows]  # type: ignore[arg-type]
    assert result.summary is not None and result.summary.metrics["score"].mean == sum(r["score"] for r in rows) / 8


def test_scorer_tolerance_reaches_a_scorer_that_takes_it() -> None:
    sample = Sample(id="a", input="q", target="10")
    assert get_scorer("test_scorer_registry.within", tolerance=0.5)("10.4", sample) == 1.0
    assert get_scorer("test_scorer_registry.within", tolerance=0.1)("10.4", sample) == 0.0


def test_built_ins_are_registered_and_a_wrong_name_says_what_exists() -> None:
    assert {"exact", "numeric", "choice", "judge"} <= set(SCORERS.names())
    with pytest.raises(ScoringError, match="unknown scorer scorer.type=exakt: one of behavior_match, choice, exact, flip"):
        get_scorer("exakt")
    with pytest.raises(ScoringError, match="cannot import module 'mylab'"):
        get_scorer("mylab:refusal")
    with pytest.raises(ScoringError, match="has no 'nope'"):
        get_scorer("test_scorer_registry:nope")


class OddLength:
    """A scorer factory of this test module's own: async, opened once per job, closed at its end."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.refuse = False

    def check(self, exp: ExperimentConfig) -> None:
        self.events.append("check")
        if self.refuse:
            raise ScoringError("odd_length: refused before any call")

    def open(self, exp: ExperimentConfig) -> JobScorer:
        self.events.append("open")
        return _OddLengthScorer(self.events)


class _OddLengthScorer:
    def __init__(self, events: list[str]) -> None:
        self.events = events

    async def score(self, item: ScoreInput) -> Scored:
        await asyncio.sleep(0)  # a scorer may await (a model, a tool)
        assert item.question and item.sample.id  # what a grader is shown
        return Scored(float(len(item.text) % 2))

    def stats(self) -> None:
        return None

    async def aclose(self) -> None:
        self.events.append("close")


odd_length = OddLength()


def test_a_scorer_factory_named_by_dotted_path_opens_once_and_scores_a_job(tmp_path: Path) -> None:
    odd_length.events.clear()
    result = evalsweep.run_job([*ARGS, "scorer.type=test_scorer_registry:odd_length"], out_dir=tmp_path / "j")
    rows = read_jsonl(tmp_path / "j" / "results.jsonl")
    assert [r["score"] for r in rows] == [float(len(r["output"]) % 2) for r in rows] and len(rows) == 8
    assert odd_length.events == ["check", "open", "close"]
    assert result.summary is not None and result.summary.judge is None  # it asks no model


def test_a_scorer_factory_that_refuses_stops_the_job_before_any_request(tmp_path: Path) -> None:
    odd_length.events.clear()
    odd_length.refuse = True
    try:
        with pytest.raises(ScoringError, match="refused before any call"):
            evalsweep.run_job([*ARGS, "scorer.type=test_scorer_registry:odd_length"], out_dir=tmp_path / "j")
    finally:
        odd_length.refuse = False
    assert odd_length.events == ["check"] and not (tmp_path / "j" / "results.jsonl").exists()


def test_the_judge_is_a_registered_scorer_factory() -> None:
    from evalsweep.judge.scorer import JUDGE, JudgeFactory

    judge = SCORERS.get("judge")
    assert judge is JUDGE and isinstance(judge, ScorerFactory) and isinstance(judge, JudgeFactory)
    with pytest.raises(ScoringError, match="is not a function"):
        get_scorer("judge")  # not a plain function: the runner opens it as a JobScorer
