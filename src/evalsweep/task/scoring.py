"""The scorer registry and the built-in scorers (exact, numeric, choice: in [0, 1]; judge by path).

SCORERS holds them by name; `scorer.type` (or `dataset.scorer`) names one, or your own by dotted
path (`scorer.type=mylab.scorers:refusal`), found without editing this package; `scorer.also` adds
more. An entry is either

- a function `(output, sample)` or `(item)` (an evalsweep.task.scorer_api.ScoreInput: the sample,
  the whole conversation and every output), sync or async, returning a number or a dict of named
  numbers on any scale; one that takes a `tolerance` keyword gets scorer.tolerance;
- or a ScorerFactory: `check(exp)` raises before any call when the job cannot be scored, and
  `open(exp)` returns a JobScorer of the job's own (async, may own services: scorer=judge is one,
  a model that grades each output, evalsweep.judge.scorer).

The runner holds one ScorerSet (evalsweep.task.scorer_set) over them all."""

from __future__ import annotations

import inspect
import re
import string
from collections.abc import Callable
from functools import partial
from typing import Any

from evalsweep.errors import ConfigError, ScoringError
from evalsweep.registry import Registry
from evalsweep.task.data import Sample, target_letter
from evalsweep.task.scorer_api import ScorerFactory

Scorer = Callable[..., Any]  # (output, sample) or (item), sync or async -> a number or {name: number}


SCORERS: Registry[Scorer | ScorerFactory] = Registry("scorer", option="scorer.type")
# Built-ins that need more than this module are named by path: imported only when a job uses them.
SCORERS.register_path("judge", "evalsweep.judge.scorer:JUDGE")
SCORERS.register_path("refusal", "evalsweep.task.patterns:refusal")
SCORERS.register_path("flip", "evalsweep.task.patterns:flip")
SCORERS.register_path("behavior_match", "evalsweep.task.patterns:behavior_match")

_ANSWER = re.compile(r"answer\s*(?:is)?\s*[:=]?\s*(.+)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
_LETTER = re.compile(r"\b([A-Z])\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def final_answer(output: str) -> str:
    """The text after the last 'Answer:' marker, or the last non-empty line."""
    matches = _ANSWER.findall(output)
    if matches:
        return matches[-1].strip()
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def normalize(text: str) -> str:
    return " ".join(text.lower().translate(_PUNCT).split())


@SCORERS.register("exact")
def exact_match(output: str, sample: Sample) -> float:
    return float(normalize(final_answer(output)) == normalize(sample.target))


# Scorers that compare with the sample's target declare it: data without targets is refused for them
# before any request (evalsweep.task.scorer_set). A scorer of your own may set it too.
exact_match.needs_target = True  # type: ignore[attr-defined]


def _number(text: str) -> float | None:
    found = _NUMBER.findall(text)
    return float(found[-1].replace(",", "")) if found else None


@SCORERS.register("numeric")
def numeric_match(output: str, sample: Sample, tolerance: float = 1e-6) -> float:
    target = _number(sample.target)
    if target is None:
        raise ScoringError(f"sample '{sample.id}': target {sample.target!r} is not a number; use scorer=exact")
    got = _number(final_answer(output))
    return float(got is not None and abs(got - target) <= tolerance * max(1.0, abs(target)))


@SCORERS.register("choice")
def choice_letter(output: str, sample: Sample) -> float:
    if not sample.choices:
        raise ScoringError(f"sample '{sample.id}' has no choices; scorer=choice needs dataset.fields.choices")
    valid = {chr(ord("A") + i) for i in range(len(sample.choices))}
    # The target's letter, however written: "A", "(A)", " (A)" (model-written evals). Loading the
    # dataset for scorer=choice refuses any other target, so this only fires on a skipped check.
    target = target_letter(sample.target)
    if target not in valid:
        raise ScoringError(f"sample '{sample.id}': target {sample.target!r} is not the letter of one of its "
                           f"{len(sample.choices)} choices; scorer=choice needs a target such as A, (A) or \" (A)\"")
    letters = [x for x in _LETTER.findall(final_answer(output).upper()) if x in valid]
    return float(bool(letters) and letters[-1] == target)


numeric_match.needs_target = True  # type: ignore[attr-defined]
choice_letter.needs_target = True  # type: ignore[attr-defined]


def scorer_entry(kind: str) -> Scorer | ScorerFactory:
    try:
        return SCORERS.get(kind)
    except ConfigError as exc:
        raise ScoringError(str(exc)) from None


def get_scorer(kind: str, tolerance: float = 1e-6) -> Scorer:
    """The scorer function a config names (a registered name or a dotted path), ready to call."""
    found = scorer_entry(kind)
    if isinstance(found, ScorerFactory) or not callable(found):
        raise ScoringError(f"scorer {kind}: {found!r} is not a function (output, sample) -> float")
    try:
        takes_tolerance = "tolerance" in inspect.signature(found).parameters
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        takes_tolerance = False
    return partial(found, tolerance=tolerance) if takes_tolerance else found
