"""The scorers of one job as one object: `scorer.type` and every `scorer.also`, opened once, asked
per answer, their metrics merged into one row's `scores` and its primary metric (`score`).

A metric's name: the key of a dict a scorer returns, or, for a scorer that returns one number, the
scorer's own name (`numeric`, `judge`, `refusal` for `mylab.scorers:refusal`). The primary metric is
`scorer.primary`, else the first metric of `scorer.type`. A scorer that raises is recorded on that
sample as its error (type and message), never a crash of the job; a rejected judge key still stops
the job (AuthError). A scorer may declare `metrics = ("refused", "length")`: then a `scorer.primary`
it does not produce is refused before any request."""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evalsweep.errors import ConfigError, ScoringError
from evalsweep.llm.errors import AuthError
from evalsweep.store.budget import BudgetReached
from evalsweep.task.data import check_targets
from evalsweep.task.scorer_api import JobScorer, ScoreInput, Scored, ScorerFactory
from evalsweep.task.scoring import SCORERS, Scorer, get_scorer, scorer_entry

if TYPE_CHECKING:
    from evalsweep.config.schema import ExperimentConfig
    from evalsweep.llm.service import ServiceStats
    from evalsweep.results.rows import JudgeInfo

log = logging.getLogger(__name__)


def metric_name(kind: str) -> str:
    """A scorer's name as a metric: the registered name, or the last part of its dotted path."""
    return kind.rpartition(":")[2].rpartition(".")[2] if (":" in kind or "." in kind) else kind


def check_signature(fn: Scorer, kind: str) -> None:
    """A scorer function takes (output, sample) or (item): any other shape is a config error now,
    not a TypeError on every sample."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: taken on trust
        return
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    keyword_only = [p.name for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    if keyword_only or not (len(required) <= 2 <= len(positional) or len(required) <= 1 <= len(positional)):
        shown = ", ".join(p.name for p in params)
        raise ConfigError(f"scorer {kind}: a scorer function takes (output, sample) or (item), but it takes "
                          f"({shown}); change its parameters")


def _takes_item(fn: Scorer) -> bool:
    """(item) rather than (output, sample): one positional parameter besides keyword-only ones."""
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "tolerance"]
    except (TypeError, ValueError):  # a builtin without a signature: the classic (output, sample)
        return False
    return len(params) == 1


class FunctionScorer:
    """A scorer function, sync or async, (output, sample) or (item), as a JobScorer."""

    def __init__(self, fn: Scorer) -> None:
        self.fn = fn
        self._item = _takes_item(fn)

    async def score(self, item: ScoreInput) -> Scored:
        got = self.fn(item) if self._item else self.fn(item.text, item.sample)
        if isinstance(got, Awaitable):
            got = await got
        return Scored(got)

    def stats(self) -> ServiceStats | None:
        return None

    async def aclose(self) -> None:
        return None


@dataclass(frozen=True)
class JobScores:
    """What a row records of its scoring: the primary metric, every metric, the judge's record, and
    the scorer's error (type, message) when one raised."""

    score: float | None
    scores: dict[str, float] | None
    judge: JudgeInfo | None = None
    error: tuple[str, str] | None = None


def _numbers(name: str, value: float | Mapping[str, float] | None) -> dict[str, float]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        pairs = [(name, value)]
    out: dict[str, float] = {}
    for key, v in pairs:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ScoringError(f"scorer {name}: metric {key!r} is {v!r}, not a finite number")
        out[key] = float(v)
    return out


class ScorerSet:
    """Every scorer of the job, in config order, behind one score() for the runner."""

    def __init__(self, members: list[tuple[str, JobScorer]], primary: str | None) -> None:
        self.members = members
        self.primary = primary  # None until the first scored row names it (the first metric)

    async def score(self, item: ScoreInput) -> JobScores:
        scores: dict[str, float] = {}
        judge: JudgeInfo | None = None
        for name, scorer in self.members:
            try:
                got = await scorer.score(item)
                judge = got.judge or judge
                for key, value in _numbers(metric_name(name), got.value).items():
                    if key in scores:
                        raise ScoringError(f"metric {key!r} comes from two scorers; rename one of them")
                    scores[key] = value
            except (AuthError, BudgetReached):
                # A rejected judge key stops the job, as any rejected key does; a spent sweep budget
                # ends this sample as the model's own request would (the runner's stop path).
                raise
            except Exception as exc:  # noqa: BLE001 - a scorer's failure is this sample's, recorded on its row
                log.warning("scorer %s failed on sample %s: %s: %s", name, item.sample.id, type(exc).__name__, exc)
                return JobScores(None, None, judge, (type(exc).__name__, str(exc)[:500]))
        if not scores:
            return JobScores(None, None, judge)
        if self.primary is None:
            self.primary = next(iter(scores))
        # A metric a scorer gives only for some samples (e.g. a flip rate given a first answer that
        # was right) leaves the others' `score` empty; a name no scorer declares is refused up front.
        return JobScores(scores.get(self.primary), scores, judge)

    def stats(self) -> ServiceStats | None:
        """The model requests of the one member that asks a model (the judge), if any."""
        return next((s for s in (m.stats() for _, m in self.members) if s is not None), None)

    async def aclose(self) -> None:
        for _, scorer in self.members:
            await scorer.aclose()


def _kinds(exp: ExperimentConfig) -> list[str]:
    return [exp.scorer_type, *exp.scorer.also]


def check_scorer(exp: ExperimentConfig) -> None:
    """Everything about the job's scorers that can fail, before any call (ScoringError, ConfigError...)."""
    declared: list[str] = []
    known = True
    for kind in _kinds(exp):
        found = scorer_entry(kind)
        check_targets(exp.dataset, kind, bool(getattr(found, "needs_target", False)))
        if isinstance(found, ScorerFactory):
            found.check(exp)
        else:
            check_signature(get_scorer(kind, exp.scorer.tolerance), kind)
        names = getattr(found, "metrics", None)
        if names:
            declared += [str(n) for n in names]
        elif kind in SCORERS:  # a built-in that gives one number, named after itself
            declared.append(kind)
        else:
            known = False
    primary = exp.scorer.primary
    if primary is not None and known and primary not in declared:
        raise ConfigError(f"scorer.primary={primary}: no scorer of this job produces it; its scorers produce "
                          f"{', '.join(declared)}")


def open_scorer(exp: ExperimentConfig) -> ScorerSet:
    """The job's scorers, opened: the one thing the runner scores with."""
    members: list[tuple[str, JobScorer]] = []
    for kind in _kinds(exp):  # check_scorer ran before the job was accepted: these open
        found: Any = scorer_entry(kind)
        opened = found.open(exp) if isinstance(found, ScorerFactory) else \
            FunctionScorer(get_scorer(kind, exp.scorer.tolerance))
        members.append((kind, opened))
    return ScorerSet(members, exp.scorer.primary)
