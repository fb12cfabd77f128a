from __future__ import annotations

import pytest

from evalsweep.task.data import Sample
from evalsweep.errors import ScoringError
from evalsweep.task.scoring import choice_letter, exact_match, final_answer, get_scorer, numeric_match


def s(target: str, choices: list[str] | None = None) -> Sample:
    return Sample(id="x", input="q", target=target, choices=choices)


@pytest.mark.parametrize("output,target,expected", [
    ("Paris", "paris", 1.0),
    ("  Paris. ", "Paris", 1.0),
    ("Let me think.\nAnswer: New  York!", "new york", 1.0),
    ("London", "Paris", 0.0),
    ("", "Paris", 0.0),
])
def test_exact_match_normalizes_case_space_punctuation(output: str, target: str, expected: float) -> None:
    assert exact_match(output, s(target)) == expected


@pytest.mark.parametrize("output,target,expected", [
    ("95", "95", 1.0),
    ("37 + 58 = 95.\nAnswer: 95", "95", 1.0),
    ("Answer: -474", "-474", 1.0),
    ("Answer: 1,917", "1917", 1.0),
    ("3 + 4 = 7, so the answer is 8", "7", 0.0),
    ("no idea", "7", 0.0),
    ("95.0", "95", 1.0),
])
def test_numeric_match_takes_the_final_number(output: str, target: str, expected: float) -> None:
    assert numeric_match(output, s(target)) == expected


def test_numeric_match_rejects_non_numeric_target() -> None:
    with pytest.raises(ScoringError, match="not a number"):
        numeric_match("5", s("five"))


@pytest.mark.parametrize("output,expected", [
    ("B", 1.0), ("b", 1.0), ("(B)", 1.0), ("Answer: B", 1.0), ("I think A.\nAnswer: B", 1.0),
    ("A", 0.0), ("Answer: E", 0.0), ("", 0.0),
])
def test_choice_letter_extraction(output: str, expected: float) -> None:
    assert choice_letter(output, s("B", ["1", "2", "3", "4"])) == expected


def test_choice_needs_choices() -> None:
    with pytest.raises(ScoringError, match="no choices"):
        choice_letter("A", s("A"))


def test_scores_are_in_unit_interval_and_registry_is_complete() -> None:
    for kind, sample in (("exact", s("1")), ("numeric", s("1")), ("choice", s("A", ["1", "2"]))):
        scorer = get_scorer(kind)
        assert scorer("Answer: 1", sample) in (0.0, 1.0)
    with pytest.raises(ScoringError, match="unknown scorer"):
        get_scorer("bleu")


def test_final_answer_prefers_last_answer_marker() -> None:
    assert final_answer("Answer: 3\nwait\nAnswer: 4") == "4"
    assert final_answer("first\nlast") == "last"


@pytest.mark.parametrize("target", [" (B)", "(B)", "B", "b"])
def test_choice_target_written_the_model_written_evals_way(target: str) -> None:
    """" (A)" is the convention of Anthropic's model-written evals: it used to score every answer 0."""
    sample = s(target, ["1", "2", "3"])
    assert choice_letter("Answer: B", sample) == 1.0 and choice_letter("(B)", sample) == 1.0
    assert choice_letter("A", sample) == 0.0


def test_choice_target_outside_the_choices_is_an_error_not_a_zero() -> None:
    with pytest.raises(ScoringError, match=r"sample 'x': target ' \(E\)' is not the letter of one of its 3 choices"):
        choice_letter("E", s(" (E)", ["1", "2", "3"]))
