"""summary.json: the job's numbers next to everything needed to trace them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evalsweep.llm.service import ServiceStats
from evalsweep.metrics import ScoreSummary
from evalsweep.repro import GitInfo
from evalsweep.runner import RunTotals

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
    # sha256 over the samples the job asked (evalsweep.fingerprint): the report pairs items of two
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
    metrics: dict[str, ScoreSummary]
    usage: dict[str, int]
    cost_usd: float
    cost_saved_usd: float
    budget_usd: float | None
    budget_stopped: bool
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


def build(*, status: Status, stop_reason: str | None, cfg_container: dict[str, Any], exp: Any, totals: RunTotals,
          stats: ServiceStats, n_samples: int, n_not_run: int, n_resumed: int, wall_s: float, eval_s: float,
          started: str, ended: str, git: GitInfo, packages: dict[str, str], python: dict[str, str],
          cache_info: dict[str, Any], validation: dict[str, Any] | None = None,
          judge_stats: ServiceStats | None = None, dataset_fingerprint: str | None = None) -> Summary:
    from evalsweep.judge.setup import summary_section

    scores = totals.scores.summary()
    fresh = totals.n_done - n_resumed
    return Summary(
        status=status, stop_reason=stop_reason, simulated=exp.model.simulated,
        note=SIMULATOR_NOTE if exp.model.simulated else None,
        model=exp.model.name, provider=exp.model.provider, dataset=exp.dataset.name,
        dataset_fingerprint=dataset_fingerprint, prompt=exp.prompt.name,
        scorer=exp.scorer_type, seed=exp.seed, repeats=exp.repeats, n_samples=n_samples, n_done=totals.n_done,
        n_scored=totals.scores.n, n_errors=totals.n_errors, n_not_run=n_not_run, n_resumed=n_resumed,
        errors_by_type=dict(totals.errors_by_type), metrics={"score": scores},
        usage={"input_tokens": totals.input_tokens, "output_tokens": totals.output_tokens,
               "total_tokens": totals.input_tokens + totals.output_tokens},
        cost_usd=round(totals.cost_usd, 8), cost_saved_usd=round(totals.cost_saved_usd, 8),
        budget_usd=exp.model.max_cost_usd, budget_stopped=totals.budget_stopped,
        requests_sent=stats.requests_sent, retries=stats.retries, retries_by_cause=stats.retries_by_cause,
        cache={**cache_info, "hits": stats.cache_hits, "misses": stats.cache_misses,
               "expired": stats.cache_expired, "error": stats.cache_error,
               "hit_rate": stats.cache_hits / max(1, stats.cache_hits + stats.cache_misses)},
        wall_time_s=round(wall_s, 4), eval_time_s=round(eval_s, 4),
        samples_per_s=round(fresh / eval_s, 3) if eval_s > 0 else 0.0,
        started_utc=started, ended_utc=ended, git=git, packages=packages, python=python,
        validation=validation, config=cfg_container,
        structured=totals.structured.model_dump() if totals.structured.samples else None,
        judge=summary_section(totals.judge, judge_stats),
    )


def write(summary: Summary, path: Path) -> None:
    """Write atomically: a crash never leaves half a summary. Keys (the values of the key
    variables, key-shaped strings) are redacted, as in the job's record (evalsweep.redact)."""
    from evalsweep.record import redact_json
    from evalsweep.redact import secret_values

    data = redact_json(summary.model_dump(mode="json"), secret_values(summary.config))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
