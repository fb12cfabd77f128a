"""The provider registry: `model.provider` names a client class here (openai, anthropic, gemini), or
your own by dotted path (`model.provider=mylab.clients:MyClient`), found without editing this package.

A provider is a class with `from_config(cfg, *, api_key, base_url)` (cfg: the model's ModelConfig)
returning a client with `async generate(request)` and `async aclose()` (evalsweep.llm.base). The
built-ins are registered by path, so a job imports only the SDK of the provider it uses. This module
imports nothing but the registry: the config schema and the request type check names against it.
"""

from __future__ import annotations

from typing import Any

from evalsweep.errors import ConfigError
from evalsweep.registry import Registry

# Client classes (evalsweep.llm.base.Provider); typed loosely here, since the protocol's module
# imports the config schema, which imports this one.
PROVIDERS: Registry[Any] = Registry("provider", option="model.provider")
PROVIDERS.register_path("openai", "evalsweep.llm.openai_client:OpenAIClient")
PROVIDERS.register_path("anthropic", "evalsweep.llm.anthropic_client:AnthropicClient")
PROVIDERS.register_path("gemini", "evalsweep.llm.gemini_client:GeminiClient")

_METHODS = ("from_config", "generate", "aclose")


def check_name(name: str) -> str:
    """For a request: a registered name or a dotted path (nothing imported); ValueError otherwise."""
    problem = PROVIDERS.unknown(name)
    if problem is not None:
        raise ValueError(problem)
    return name


def check_provider(name: str) -> str:
    """For the config schema: a registered name (its SDK not imported), or a dotted path that
    imports and names a client class; ValueError with one line otherwise, before any request."""
    check_name(name)
    if name in PROVIDERS:
        return name
    try:
        obj = PROVIDERS.get(name)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    missing = [m for m in _METHODS if not callable(getattr(obj, m, None))]
    if missing:
        raise ValueError(f"model.provider={name} is not a provider client class: it has no {', '.join(missing)} "
                         f"(see evalsweep.llm.base.Provider and docs/providers.md)")
    return name
