"""What a judge is asked and how its answer is read: the rubric filled with one row, and a Grade
response model built from the configured grades."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from evalsweep.errors import ConfigError
from evalsweep.task.prompts import placeholders
from evalsweep.results.rows import JudgeInfo
from evalsweep.structured.ask import StructuredStats

# {input} is the question as the model saw it (its last user message), so a rubric reads the same
# inline (scorer=judge) and over finished runs (scripts/classify.py).
RUBRIC_FIELDS = ("input", "target", "output", "id")


def grade_model(grades: Mapping[str, float]) -> type[BaseModel]:
    """Grade(explanation: str, grade: Literal[<the configured grades>]): explanation first, so a
    real model reasons before it commits to a grade."""
    letters = tuple(grades)
    return create_model(
        "Grade",
        __doc__="A grade of one response, with a short explanation.",
        explanation=(str, Field(description="one or two sentences on why")),
        grade=(Literal[letters], Field(description=f"one of: {', '.join(letters)}")),  # type: ignore[valid-type]
    )


def _shows_target(rubric: str) -> bool:
    return any(name.split(".")[0].split("[")[0] == "target" for name in placeholders(rubric))


def _no_target(whose: str, where: str = "") -> ConfigError:
    return ConfigError(f"{where}the rubric shows {{target}}, but {whose} (dataset.fields.target=null); "
                       f"take {{target}} out of the rubric, or map dataset.fields.target to the column of "
                       f"reference answers")


def check_rubric(rubric: str, extra_fields: Iterable[str], where: str, *, targetless: str | None = None) -> None:
    """Fail before any call when the rubric names a field no row has. targetless: the name of a
    dataset without targets, on which {target} is such a field."""
    known = set(RUBRIC_FIELDS) | set(extra_fields)
    try:
        unknown = placeholders(rubric) - known
    except ValueError as exc:  # an unmatched brace
        raise ConfigError(f"{where}: the rubric is not a valid template ({exc}); write literal braces as {{{{ }}}}") from None
    if targetless is not None and _shows_target(rubric):
        raise _no_target(f"dataset '{targetless}' has no targets", f"{where}: ")
    if unknown:
        raise ConfigError(f"{where}: unknown placeholder {{{sorted(unknown)[0]}}} in the rubric; "
                          f"available: {', '.join('{' + k + '}' for k in sorted(known))}")


def render(rubric: str, *, sample_id: str, question: str, target: str | None, output: str,
           metadata: Mapping[str, Any] | None = None) -> str:
    """The rubric filled with one row. A row without a target (None) fills a rubric without {target};
    one with {target} is refused (check_rubric says so before a job's first call)."""
    if target is None and _shows_target(rubric):
        raise _no_target(f"sample '{sample_id}' has no target")
    fields: dict[str, Any] = dict(metadata or {})
    fields.update({"input": question, "target": target, "output": output, "id": sample_id})
    return rubric.format_map(fields)


class JudgeTotals(BaseModel):
    """The judge's share of a job, counted apart from the model under test (summary.json "judge")."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    graded: int = 0
    errors: int = 0
    grades: dict[str, int] = Field(default_factory=dict)
    cached: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    structured: StructuredStats = Field(default_factory=StructuredStats)

    def add(self, info: JudgeInfo) -> None:
        self.model = info.model
        if info.grade is not None:
            self.graded += 1
            self.grades[info.grade] = self.grades.get(info.grade, 0) + 1
        else:
            self.errors += 1
        self.cached += info.cached
        self.input_tokens += info.usage.input_tokens
        self.output_tokens += info.usage.output_tokens
        self.cost_usd += info.cost_usd
        if info.asks:
            self.structured.count(info.asks, info.grade is not None)
