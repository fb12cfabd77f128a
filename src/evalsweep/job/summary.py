"""summary.json: the job's numbers next to everything needed to trace them."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evalsweep.llm.service import ServiceStats
from evalsweep.job.metrics import ScoreSummary
from evalsweep.results.provenance import GitInfo
from evalsweep.results.record import Provenance
from evalsweep.job.runner import RunTotals

Status = Literal["complete", "incomplete", "failed"]
SIMULATOR_NOTE = "Results from the evalsweep simulator, not from a real model."


class Summary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status
    stop_reason: str | None = None
    simulated: bool
    note: str | None = None
    model: str
    provider: str
    dataset: str
    # sha256 over the samples the job asked (evalsweep.task.fingerprint): the report pairs items of two
    # jobs only when their datasets agree on it, not on the name alone. None: written before it existed.
    dataset_fingerprint: str | None = None
    prompt: str
    scorer: str
    seed: int
    repeats: int
    n_samples: int
    n_done: int
    n_scored: int
    n_errors: int
    n_not_run: int = 0
    n_resumed: int = 0
    errors_by_type: dict[str, int] = Field(default_factory=dict)
    # Rows whose served_model is not the requested model (evalsweep.job.answered.same_model), and
    # every served name with its rows.
    n_served_model_differs: int = 0
    served_models: dict[str, int] = Field(default_factory=dict)
    # Answers by finish reason (the token limit's as "length"), and those cut at max_tokens.
    finish_reasons: dict[str, int] = Field(default_factory=dict)
    n_truncated: int = 0
    metrics: dict[str, ScoreSummary]
    usage: dict[str, int]
    cost_usd: float
    cost_saved_usd: float
    budget_usd: float | None
    budget_stopped: bool
    # sweep.max_cost_usd: the budget over every job of the sweep (stop_reason says when it stopped this one).
    sweep_budget_usd: float | None = None
    requests_sent: int
    retries: int
    retries_by_cause: dict[str, int]
    cache: dict[str, Any]
    wall_time_s: float
    eval_time_s: float
    samples_per_s: float
    started_utc: str
    ended_utc: str
    git: GitInfo
    packages: dict[str, str]
    python: dict[str, str]
    validation: dict[str, Any] | None = None
    # Typed answers (structured.response_model): how many validated, after how many asks.
    structured: dict[str, Any] | None = None
    # scorer=judge: the judge's grades, errors, requests, tokens and cost, apart from the model's.
    judge: dict[str, Any] | None = None
    config: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    status: Status
    stop_reason: str | None = None


@dataclass(frozen=True)
class Counts:
    n_samples: int  # the job's work (samples x repeats)
    n_not_run: int
    n_resumed: int  # done by an earlier attempt at this dir


@dataclass(frozen=True)
class Timing:
    started: str
    ended: str
    wall_s: float
    eval_s: float


@dataclass(frozen=True)
class JobFacts:
    config: dict[str, Any]  # the resolved config the job ran with
    provenance: Provenance  # the commit and packages, from the job's one probe (its repro record)
    validation: dict[str, Any] | None = None
    dataset_fingerprint: str | None = None
    primary_metric: str | None = None  # which of the rows' metrics is `score` (not listed twice)


@dataclass(frozen=True)
class Services:
    model: ServiceStats
    judge: ServiceStats | None = None


def build(*, exp: Any, facts: JobFacts, outcome: Outcome, totals: RunTotals, services: Services, counts: Counts,
          timing: Timing) -> Summary:
    """The job's summary, from its totals and what it knows of itself."""
    from evalsweep.store.select import cache_location
    from evalsweep.judge.setup import summary_section
    from evalsweep.results.provenance import python_info

    stats = services.model
    scores = totals.scores.summary()
    fresh = totals.n_done - counts.n_resumed
    where = cache_location(exp.cache, exp.store) if exp.cache.enabled else None  # a file, or the Redis store
    cache_info = {"enabled": exp.cache.enabled, "path": where,
                  "refresh": exp.cache.refresh, "ttl": exp.cache.ttl}
    return Summary(
        status=outcome.status, stop_reason=outcome.stop_reason, simulated=exp.model.simulated,
        note=SIMULATOR_NOTE if exp.model.simulated else None,
        model=exp.model.name, provider=exp.model.provider, dataset=exp.dataset.name,
        dataset_fingerprint=facts.dataset_fingerprint, prompt=exp.prompt.name,
        scorer=exp.scorer_type, seed=exp.seed, repeats=exp.repeats, n_samples=counts.n_samples,
        n_done=totals.n_done, n_scored=totals.scores.n, n_errors=totals.n_errors, n_not_run=counts.n_not_run,
        n_resumed=counts.n_resumed, errors_by_type=dict(totals.errors_by_type),
        n_served_model_differs=totals.answers.n_served_model_differs,
        served_models=dict(totals.answers.served_models),
        finish_reasons=dict(totals.answers.finish_reasons), n_truncated=totals.answers.n_truncated,
        metrics={"score": scores, **{name: running.summary() for name, running in totals.metrics.items()
                                     if name != facts.primary_metric}},
        usage={"input_tokens": totals.input_tokens, "output_tokens": totals.output_tokens,
               "total_tokens": totals.input_tokens + totals.output_tokens,
               "reasoning_tokens": totals.reasoning_tokens,  # of output_tokens
               # Prompt caching's tokens, only when there were any (a job without keeps its summary).
               **{name: n for name in ("cache_write_tokens", "cache_read_tokens")
                  if (n := getattr(totals, name))}},
        cost_usd=round(totals.cost_usd, 8), cost_saved_usd=round(totals.cost_saved_usd, 8),
        budget_usd=exp.model.max_cost_usd, budget_stopped=totals.budget_stopped,
        sweep_budget_usd=exp.sweep.max_cost_usd,
        requests_sent=stats.requests_sent, retries=stats.retries, retries_by_cause=stats.retries_by_cause,
        cache={**cache_info, "hits": stats.cache_hits, "misses": stats.cache_misses,
               "expired": stats.cache_expired, "error": stats.cache_error,
               "hit_rate": stats.cache_hits / max(1, stats.cache_hits + stats.cache_misses)},
        wall_time_s=round(timing.wall_s, 4), eval_time_s=round(timing.eval_s, 4),
        samples_per_s=round(fresh / timing.eval_s, 3) if timing.eval_s > 0 else 0.0,
        started_utc=timing.started, ended_utc=timing.ended, git=facts.provenance.git,
        packages=facts.provenance.packages,
        python=python_info(), validation=facts.validation, config=facts.config,
        structured=totals.structured.model_dump() if totals.structured.samples else None,
        judge=summary_section(totals.judge, services.judge),
    )


def write(summary: Summary, path: Path) -> None:
    """Write atomically: a crash never leaves half a summary. Keys (the values of the key
    variables, key-shaped strings) are redacted, as in the job's record (evalsweep.results.redact)."""
    from evalsweep.results.record import redact_json
    from evalsweep.results.redact import secret_values

    data = redact_json(summary.model_dump(mode="json"), secret_values(summary.config))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
