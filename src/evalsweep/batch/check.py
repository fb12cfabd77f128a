"""Before a batch job starts (run.mode=batch): is there a batch API for this model? One line and exit 2
otherwise, before any request."""

from __future__ import annotations

from urllib.parse import urlsplit

from evalsweep.config.schema import ExperimentConfig
from evalsweep.errors import ConfigError

# The providers whose batch API evalsweep speaks, and the hosts that serve it.
BATCH_PROVIDERS = {"openai": "api.openai.com", "anthropic": "api.anthropic.com"}


def has_batch_api(model: object) -> bool:
    """The provider's own API, the simulator, or a base_url said to serve it (model.batch_api=true)."""
    batch_api = getattr(model, "batch_api", None)
    if batch_api is not None:
        return bool(batch_api)
    base_url = getattr(model, "base_url", None)
    if getattr(model, "simulated", False) or not base_url:
        return True
    return urlsplit(base_url).hostname == BATCH_PROVIDERS.get(str(getattr(model, "provider", "")))


def check_batch(exp: ExperimentConfig) -> None:
    if exp.run.mode != "batch":
        return
    model = exp.model
    if model.provider not in BATCH_PROVIDERS:
        raise ConfigError(f"run.mode=batch is not supported for model.provider={model.provider} (model {model.name}) "
                          f"yet: batch mode runs on openai and anthropic; use run.mode=live")
    if not has_batch_api(model):
        raise ConfigError(f"run.mode=batch: model.base_url={model.base_url} (model {model.name}) has no batch API "
                          f"that evalsweep knows of (local servers such as llama.cpp or vLLM have none); use "
                          f"run.mode=live, or set model.batch_api=true if that server serves the {model.provider} "
                          f"batch endpoints")
