"""What a scorer is given and gives back, and the two shapes a registered scorer can take beyond a
plain function (evalsweep.task.scoring): a JobScorer a job holds, and the factory that opens it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from evalsweep.task.data import Sample

if TYPE_CHECKING:
    from evalsweep.config.schema import ExperimentConfig
    from evalsweep.llm.logprobs import TokenLogprobs
    from evalsweep.llm.service import ServiceStats
    from evalsweep.llm.types import Message
    from evalsweep.results.rows import JudgeInfo


@dataclass(frozen=True)
class ScoreInput:
    """One answer to score: the text scored (the reply, or a typed answer's chosen field), the
    sample, the prompt as rendered (`messages`: its last user turn is the question), every reply of
    the sample's turns in order (`outputs`: a solver may ask more than once; the last is `text`'s
    source), the whole conversation with those replies (`conversation`), the seed and repeat
    it was asked under, and the last reply's token logprobs (`logprobs`, with model.logprobs)."""

    text: str
    sample: Sample
    messages: Sequence[Message]
    seed: int | None
    repeat: int
    outputs: Sequence[str] = ()
    conversation: Sequence[Message] = ()
    # The last reply's token logprobs when the job asks for them (model.logprobs), else None:
    # e.g. item.logprobs.probability(" Yes") at the first token.
    logprobs: TokenLogprobs | None = None

    @property
    def question(self) -> str:
        """The last user turn: what a grader is shown as the question."""
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")


@dataclass(frozen=True)
class Scored:
    """What one scorer made of one answer: a number, named numbers (several metrics), or None
    (not scored); and the judge's record when a model graded it."""

    value: float | Mapping[str, float] | None
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
