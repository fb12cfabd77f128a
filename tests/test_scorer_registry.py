"""Scorers by name or dotted path: a researcher's own function scores a job with no edit to the package."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import read_jsonl

import evalsweep
from evalsweep.task.data import Sample
from evalsweep.errors import ScoringError
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
    with pytest.raises(ScoringError, match="unknown scorer scorer.type=exakt: one of choice, exact"):
        get_scorer("exakt")
    with pytest.raises(ScoringError, match="cannot import module 'mylab'"):
        get_scorer("mylab:refusal")
    with pytest.raises(ScoringError, match="has no 'nope'"):
        get_scorer("test_scorer_registry:nope")
