"""The keyword arguments of one OpenAI `chat.completions.create`, as the live client sends them and
a batch line carries them (evalsweep.batch.wire): one builder, so the two cannot drift apart. No SDK
import: plain dicts, except the typed-answer format the SDK's own helper makes."""

from __future__ import annotations

from typing import Any

from evalsweep.llm.types import GenerateRequest
from evalsweep.structured.wire import openai_response_format


def chat_kwargs(request: GenerateRequest, *, reasoning: bool, token_limit_field: str) -> dict[str, Any]:
    """reasoning: a reasoning model, which refuses temperature, top_p and stop (model.reasoning);
    token_limit_field: the field that carries max_tokens (model.token_limit_field)."""
    kwargs: dict[str, Any] = {
        "model": request.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        token_limit_field: request.max_tokens,
    }
    if not reasoning:
        kwargs["temperature"] = request.temperature
        if request.top_p is not None:
            kwargs["top_p"] = request.top_p
        if request.stop:
            kwargs["stop"] = request.stop
    if request.reasoning_effort is not None:
        kwargs["reasoning_effort"] = request.reasoning_effort
    if request.seed is not None:
        kwargs["seed"] = request.seed
    if request.logprobs:  # the chosen tokens' logprobs, and the top alternatives when asked
        kwargs["logprobs"] = True
        if request.top_logprobs is not None:
            kwargs["top_logprobs"] = request.top_logprobs
    if request.response_format is not None:  # a typed answer (evalsweep.structured)
        kwargs["response_format"] = openai_response_format(request.response_format)
    return kwargs
