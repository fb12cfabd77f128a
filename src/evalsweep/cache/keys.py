"""The cache key: sha256 of canonical JSON of everything that decides a response, and nothing else.

In the key: a schema version, provider, model, base_url, the messages, every generation parameter
that changes the output (temperature, max_tokens, top_p, stop), the seed and the repeat index, the
response model's schema of a typed answer, and `extra` (what else decides an answer, e.g. a simulator's answer profile). Never in the key:
retries, timeouts, concurrency, rate limits or prices, which change how an answer is fetched,
not what it is. (lm-eval once left the model out and served model A's answers to model B;
promptfoo served one answer to every repeat, which hides seed variance.)
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from evalsweep.llm.types import GenerateRequest

# Bump whenever the payload below changes meaning, so no old entry is ever served under a new one.
KEY_SCHEMA_VERSION = 1


def key_payload(request: GenerateRequest, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "v": KEY_SCHEMA_VERSION,
        "provider": request.provider,
        "model": request.model,
        "base_url": request.base_url,
        "messages": [[m.role, m.content] for m in request.messages],
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "top_p": request.top_p,
        "stop": request.stop,
        "seed": request.seed,
        "repeat": request.repeat,
        "extra": extra or {},
    }
    fmt = getattr(request, "response_format", None)
    if fmt is not None:
        # A typed ask (evalsweep.structured) is answered differently from the same messages as plain
        # text. Only present when set, so every plain-text entry keeps its key.
        payload["response_format"] = fmt.model_dump(mode="json")
    return payload


def cache_key(request: GenerateRequest, extra: dict[str, Any] | None = None) -> str:
    canonical = json.dumps(key_payload(request, extra), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
