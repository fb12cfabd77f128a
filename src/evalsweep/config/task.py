"""What each sample asks and how its answer is scored: the prompt template (with few-shot turns),
the scorer and its judge settings, and typed answers of the model under test."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from evalsweep.config.base import Strict


class FewShot(Strict):
    user: str
    assistant: str


class PromptConfig(Strict):
    name: str = Field(min_length=1)
    system: str | None = None
    user: str
    few_shot: list[FewShot] = Field(default_factory=list)


class ScorerConfig(Strict):
    # auto (the dataset's own scorer), a built-in (exact, numeric, choice, judge), or a dotted path
    # to your own function, e.g. mylab.scorers:refusal (evalsweep.task.scoring.SCORERS).
    type: str = Field("auto", min_length=1)
    tolerance: float = Field(1e-6, ge=0)
    # scorer=judge (docs/judge.md): a judge model (a conf/model/ option) grades each output
    # with the rubric; each grade maps to a score.
    judge: str | None = None
    # Applied to the judge's model config, e.g. {temperature: 0.0}.
    judge_overrides: dict[str, Any] = Field(default_factory=dict)
    rubric: str | None = None
    # Each grade's number, on any scale (e.g. {"1": 1, ..., "10": 10}).
    grades: dict[str, float] = Field(default_factory=lambda: {"C": 1.0, "I": 0.0})
    # More scorers for the same outputs, each a built-in name or a dotted path; their metrics join
    # each row's `scores` (several metrics at once).
    also: list[str] = Field(default_factory=list)
    # The metric recorded as each row's `score` (the job's primary metric, the one reports lead
    # with); null: the first metric of `type`.
    primary: str | None = None

    @model_validator(mode="after")
    def _judge_settings(self) -> "ScorerConfig":
        if "judge" in (self.type, *self.also) and not (self.judge and self.rubric):
            raise ValueError("scorer=judge needs scorer.judge (a model option, e.g. sim_strong) and scorer.rubric")
        if len(self.grades) < 2:
            raise ValueError("scorer.grades needs at least two grades, each mapped to a number")
        if len(set(self.also)) != len(self.also) or self.type in self.also:
            raise ValueError("scorer.also names a scorer twice (or scorer.type again); name each once")
        return self


class StructuredConfig(Strict):
    """Typed answers of the model under test (docs/structured.md)."""

    # Dotted path of a pydantic model, e.g. evalsweep.structured.models.Answer; null: plain text.
    response_model: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")
    # The object's field the scorer reads instead of the raw text (e.g. answer); null: the raw text.
    score_field: str | None = None


# Built-in step types and the one field each takes (evalsweep.task.solvers); any other type is a
# dotted path to a step of your own and takes neither.
STEP_FIELDS: dict[str, str | None] = {"generate": None, "user_message": "template", "system_message": "template",
                                      "assistant_prefill": "text"}


class StepConfig(Strict):
    """One step of a solver: a built-in type, or a dotted path to your own async step."""

    type: str = Field(min_length=1)
    # user_message / system_message: filled from the sample's fields and {output}, the previous reply.
    template: str | None = None
    # assistant_prefill: the start of the next reply, sent as it is (no placeholders).
    text: str | None = None

    @model_validator(mode="after")
    def _its_field(self) -> "StepConfig":
        wanted = STEP_FIELDS.get(self.type)
        for name in ("template", "text"):
            given = getattr(self, name) is not None
            if name == wanted and not getattr(self, name):
                raise ValueError(f"a {self.type} step needs a non-empty {name}")
            if name != wanted and given:
                raise ValueError(f"a {self.type} step takes no {name}"
                                 + (f" (it takes {wanted})" if wanted else ""))
        return self


def _one_generate() -> list[StepConfig]:
    return [StepConfig(type="generate")]


class SolverConfig(Strict):
    """What a job does with each sample (docs/experiments.md): its steps, in order, over one
    conversation that starts as the rendered prompt. The default asks once."""

    name: str = Field("generate", min_length=1)
    steps: list[StepConfig] = Field(default_factory=_one_generate, min_length=1)

    @property
    def is_default(self) -> bool:
        """One generate and nothing else: a job exactly as without solvers."""
        return self.steps == _one_generate()
