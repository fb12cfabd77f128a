"""The cache key: sha256 of canonical JSON of everything that decides a response, and nothing else.

In the key: a schema version, provider, model, base_url, the messages, every generation parameter
that changes the output (every field of evalsweep.config.generate.GenerateConfig), the seed and the repeat index, the
response model's schema of a typed answer, and `extra` (what else decides an answer, e.g. a simulator's answer profile). Never in the key:
retries, timeouts, concurrency, rate limits or prices, which change how an answer is fetched,
not what it is. (lm-eval once left the model out and served model A's answers to model B;
promptfoo served one answer to every repeat, which hides seed variance.)

Nor a parameter the provider is never sent (`not_sent`): the real Anthropic API of the installed SDK
takes no temperature or top_p (evalsweep.llm.anthropic_client sends them to the simulator only),
so they do not decide a real Claude answer and are left out of its key; a temperature "sweep" over
Claude then reads one cached answer per seed, as it should, instead of paying for identical asks.
Every other key (OpenAI, a simulated Anthropic model) is byte for byte what it was. The seed stays
in every key: it tells a job's replicates apart even where the provider is not sent it.

A simulated model's key has no base_url (as when the job starts its own simulator): the simulator's
answers are decided by its profile, which is in `extra`, not by its port. Only entries written for a
simulator at an explicit URL change key by this, and those never hit (a new port every run).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from evalsweep.config.generate import GENERATE_FIELDS
from evalsweep.llm.types import GenerateRequest

# Bump whenever the payload below changes meaning, so no old entry is ever served under a new one.
KEY_SCHEMA_VERSION = 1

# Generation parameters a provider's real API is never sent (see evalsweep.llm.anthropic_client).
NOT_SENT: dict[str, tuple[str, ...]] = {"anthropic": ("temperature", "top_p")}
# What a reasoning model is never sent (model.reasoning=true; evalsweep.llm.openai_client).
NOT_SENT_REASONING: tuple[str, ...] = ("temperature", "top_p", "stop")
# The parameters every key has held since schema v1; one added later is in a key only when it is
# set, so every entry written before it keeps its key.
ALWAYS_IN_KEY: tuple[str, ...] = ("temperature", "max_tokens", "top_p", "stop")


def not_sent(provider: str | None, simulated: bool | None, reasoning: bool = False) -> tuple[str, ...]:
    """The parameters that do not reach the model: none for a simulated model (the simulator
    reads them all), NOT_SENT[provider] for a real one, and more for a reasoning model."""
    if simulated or provider is None:
        return ()
    return tuple(dict.fromkeys(NOT_SENT.get(provider, ()) + (NOT_SENT_REASONING if reasoning else ())))


def key_payload(request: GenerateRequest, extra: dict[str, Any] | None = None, *,
                simulated: bool | None = None, reasoning: bool = False) -> dict[str, Any]:
    """`simulated`: whether a simulator answers the request. None: a simulator's answer profile in
    `extra` says so (evalsweep.llm.service.key_extra). A simulated model with `simulator: null`
    has no profile there and would be taken for the real API: pass `simulated` where the model
    config is at hand (ModelService knows cfg.simulated)."""
    if simulated is None:
        simulated = "simulator" in (extra or {})
    payload: dict[str, Any] = {
        "v": KEY_SCHEMA_VERSION,
        "provider": request.provider,
        "model": request.model,
        # A simulator's answers depend on its profile (in `extra`), not on the port it happens to
        # listen on: a simulator started per run (tests, scripts) would otherwise never hit.
        "base_url": None if simulated else request.base_url,
        "messages": [[m.role, m.content] for m in request.messages],
        # Every generation parameter, by construction (evalsweep.config.generate): a new one cannot be missed.
        **{name: getattr(request, name) for name in GENERATE_FIELDS
           if name in ALWAYS_IN_KEY or getattr(request, name) is not None},
        "seed": request.seed,
        "repeat": request.repeat,
        "extra": extra or {},
    }
    for name in not_sent(request.provider, simulated, reasoning):  # never sent: decides nothing
        payload.pop(name, None)
    headers = getattr(request, "extra_headers", None)
    if headers:  # model.extra_headers; only when set, so every other entry keeps its key
        payload["extra_headers"] = headers
    fmt = getattr(request, "response_format", None)
    if fmt is not None:
        # A typed ask (evalsweep.structured) is answered differently from the same messages as plain
        # text. Only present when set, so every plain-text entry keeps its key.
        payload["response_format"] = fmt.model_dump(mode="json")
    return payload


def cache_key(request: GenerateRequest, extra: dict[str, Any] | None = None, *, simulated: bool | None = None,
              reasoning: bool = False) -> str:
    canonical = json.dumps(key_payload(request, extra, simulated=simulated, reasoning=reasoning), sort_keys=True,
                           separators=(",", ":"),
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
