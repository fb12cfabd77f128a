"""scorer=judge in a job: the judge's model, checked before the first call, and its summary section."""

from __future__ import annotations

from typing import Any

from evalsweep.config.model import ModelConfig
from evalsweep.config.schema import ExperimentConfig
from evalsweep.judge.grading import check_rubric
from evalsweep.judge.options import load_model_option
from evalsweep.llm.service import ServiceStats, api_key_for


def judge_model(exp: ExperimentConfig) -> ModelConfig | None:
    """The judge's model config, or None without scorer=judge. Raises ConfigError / AuthError
    (a bad option, a bad rubric, a missing judge key) before anything is sent."""
    if "judge" not in (exp.scorer_type, *exp.scorer.also):
        return None
    sc = exp.scorer
    assert sc.judge is not None and sc.rubric is not None  # enforced by ScorerConfig
    model = load_model_option(sc.judge, sc.judge_overrides, where="scorer.judge")
    targetless = exp.dataset.name if exp.dataset.fields.target is None else None
    check_rubric(sc.rubric, exp.dataset.fields.metadata, "scorer.rubric", targetless=targetless)
    api_key_for(model)
    return model


def summary_section(totals: Any, stats: ServiceStats | None) -> dict[str, Any] | None:
    """summary.json "judge": grades, errors, tokens and cost of the judge, apart from the model's."""
    if stats is None and not totals.graded and not totals.errors:
        return None
    out: dict[str, Any] = totals.model_dump(mode="json")
    out["cost_usd"] = round(out["cost_usd"], 8)
    if stats is not None:
        out.update({"requests_sent": stats.requests_sent, "retries": stats.retries,
                    "retries_by_cause": stats.retries_by_cause, "cache_hits": stats.cache_hits,
                    "cache_misses": stats.cache_misses})
    return out
