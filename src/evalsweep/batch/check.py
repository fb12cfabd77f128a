"""Before a batch job starts (run.mode=batch): is there a batch API for this model? One line and exit 2
otherwise, before any request."""

from __future__ import annotations

from urllib.parse import urlsplit

from evalsweep.config.model import ModelConfig
from evalsweep.config.run import RunConfig
from evalsweep.errors import ConfigError

# The providers whose batch API evalsweep speaks, and the hosts that serve it.
BATCH_PROVIDERS = {"openai": "api.openai.com", "anthropic": "api.anthropic.com",
                   "gemini": "generativelanguage.googleapis.com"}


def has_batch_api(model: ModelConfig) -> bool:
    """The provider's own API, the simulator, or a base_url said to serve it (model.batch_api=true)."""
    if model.batch_api is not None:
        return model.batch_api
    if model.simulated or not model.base_url:
        return True
    return urlsplit(model.base_url).hostname == BATCH_PROVIDERS.get(model.provider)


def check_batch(run: RunConfig, model: ModelConfig, sweep_budget_usd: float | None = None) -> None:
    """Called when the config is validated (evalsweep.config.schema) and again as a job is prepared."""
    if run.mode != "batch":
        return
    if sweep_budget_usd is not None:
        # A batch's requests are priced when its results arrive, not reserved one by one as the
        # sweep budget's live path does: refused rather than a cap that might not hold.
        raise ConfigError(f"run.mode=batch does not take sweep.max_cost_usd={sweep_budget_usd:g} yet: cap each job "
                          f"with model.max_cost_usd (held across its batch rounds), or use run.mode=live")
    if model.provider not in BATCH_PROVIDERS:
        raise ConfigError(f"run.mode=batch is not supported for model.provider={model.provider} (model {model.name}) "
                          f"yet: batch mode runs on openai, anthropic and gemini; use run.mode=live")
    if model.provider == "gemini" and model.extra_body:
        # The SDK drops an inlined batch request's http_options, where the live client puts extra_body.
        raise ConfigError(f"run.mode=batch does not take model.extra_body on gemini (model {model.name}) yet: a "
                          f"Gemini batch request carries no extra body fields; drop it or use run.mode=live")
    if not has_batch_api(model):
        raise ConfigError(f"run.mode=batch: model.base_url={model.base_url} (model {model.name}) has no batch API "
                          f"that evalsweep knows of (local servers such as llama.cpp or vLLM have none); use "
                          f"run.mode=live, or set +model.batch_api=true if that server serves the {model.provider} "
                          f"batch endpoints")
