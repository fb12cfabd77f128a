"""Scorers: what a job's outputs are scored with (built-ins: in [0, 1]).

SCORERS holds them by name; `scorer.type` (or `dataset.scorer`) names one, or your own by dotted
path (`scorer.type=mylab.scorers:refusal`), found without editing this package. An entry is either

- a function `(output, sample) -> float`; one that takes a `tolerance` keyword gets scorer.tolerance;
- or a ScorerFactory: `check(exp)` raises before any call when the job cannot be scored, and
  `open(exp)` returns a JobScorer of the job's own (async, may own services: scorer=judge is one,
  a model that grades each output, evalsweep.judge.scorer).

The runner only sees a JobScorer (`open_scorer`); a function is wrapped in FunctionScorer."""

from __future__ import annotations

import inspect
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from evalsweep.errors import ConfigError, ScoringError
from evalsweep.registry import Registry
from evalsweep.task.data import Sample, target_letter

if TYPE_CHECKING:
    from evalsweep.config.schema import ExperimentConfig
    from evalsweep.llm.service import ServiceStats
    from evalsweep.llm.types import Message
    from evalsweep.results.rows import JudgeInfo

Scorer = Callable[[str, Sample], float]


@dataclass(frozen=True)
class ScoreInput:
    """One answer to score: the text scored (the reply, or a typed answer's chosen field), the
    sample, what the model was asked, and the seed and repeat it was asked under."""

    text: str
    sample: Sample
    messages: Sequence[Message]
    seed: int | None
    repeat: int

    @property
    def question(self) -> str:
        """The last user turn: what a grader is shown as the question."""
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")


@dataclass(frozen=True)
class Scored:
    """A score (None: not scored), and the judge's record when a model graded it."""

    score: float | None
    judge: JudgeInfo | None = None


class JobScorer(Protocol):
    """A scorer as one job holds it: opened once, asked per answer, closed at the end."""

    async def score(self, item: ScoreInput) -> Scored: ...

    def stats(self) -> ServiceStats | None:
        """The requests of a model this scorer asks (summary.json "judge"), None when it asks none."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ScorerFactory(Protocol):
    """A registry entry that opens a JobScorer of its own for a job."""

    def check(self, exp: ExperimentConfig) -> None: ...

    def open(self, exp: ExperimentConfig) -> JobScorer: ...


SCORERS: Registry[Scorer | ScorerFactory] = Registry("scorer", option="scorer.type")
# Built-ins that need more than this module are named by path: imported only when a job uses them.
SCORERS.register_path("judge", "evalsweep.judge.scorer:JUDGE")

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


class FunctionScorer:
    """A function (output, sample) -> float as a JobScorer."""

    def __init__(self, fn: Scorer) -> None:
        self.fn = fn

    async def score(self, item: ScoreInput) -> Scored:
        return Scored(self.fn(item.text, item.sample))

    def stats(self) -> ServiceStats | None:
        return None

    async def aclose(self) -> None:
        return None


def _entry(kind: str) -> Scorer | ScorerFactory:
    try:
        return SCORERS.get(kind)
    except ConfigError as exc:
        raise ScoringError(str(exc)) from None


def get_scorer(kind: str, tolerance: float = 1e-6) -> Scorer:
    """The scorer function a config names (a registered name or a dotted path), ready to call."""
    found = _entry(kind)
    if isinstance(found, ScorerFactory) or not callable(found):
        raise ScoringError(f"scorer.type={kind}: {found!r} is not a function (output, sample) -> float")
    try:
        takes_tolerance = "tolerance" in inspect.signature(found).parameters
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        takes_tolerance = False
    return partial(found, tolerance=tolerance) if takes_tolerance else found


def check_scorer(exp: ExperimentConfig) -> None:
    """Everything about the job's scorer that can fail, before any call (ScoringError, ConfigError...)."""
    found = _entry(exp.scorer_type)
    if isinstance(found, ScorerFactory):
        found.check(exp)
    else:
        get_scorer(exp.scorer_type, exp.scorer.tolerance)


def open_scorer(exp: ExperimentConfig) -> JobScorer:
    """The job's scorer, opened: the one thing the runner scores with."""
    found = _entry(exp.scorer_type)
    if isinstance(found, ScorerFactory):
        return found.open(exp)
    return FunctionScorer(get_scorer(exp.scorer_type, exp.scorer.tolerance))
