"""The keyword arguments of one Anthropic `messages.create`: the system prompt as its own field,
content blocks, `thinking`, `output_config` (effort, and the schema of a typed answer), and
`cache_control` on the stable prefix when prompt caching is on. No SDK import: plain dicts, as
the SDK's TypedDicts (anthropic.types.message_create_params) take them."""

from __future__ import annotations

from typing import Any

from evalsweep.llm.types import GenerateRequest
from evalsweep.structured.wire import anthropic_output_format, anthropic_tool_args

EPHEMERAL: dict[str, str] = {"type": "ephemeral"}


def thinking_param(request: GenerateRequest) -> dict[str, Any] | None:
    """model.thinking as the API's ThinkingConfigParam (enabled with budget_tokens, adaptive, disabled)."""
    if request.thinking is None:
        return None
    if request.thinking == "enabled":
        return {"type": "enabled", "budget_tokens": request.thinking_budget}
    return {"type": request.thinking}


def message_kwargs(request: GenerateRequest, *, prompt_cache: bool = False, tool: bool = False) -> dict[str, Any]:
    """`prompt_cache`: cache_control on the system prompt and on the last turn before the final one
    (the few-shot turns, or a conversation's earlier turns): the prefix every sample of a job shares.
    `tool`: a typed answer through a forced tool (model.structured_output=tool) instead of
    output_config.format."""
    chat = request.chat
    messages: list[dict[str, Any]] = [
        {"role": m.role, "content": [{"type": "text", "text": m.content}]} for m in chat]
    if prompt_cache and len(messages) >= 2:
        messages[-2]["content"][-1]["cache_control"] = dict(EPHEMERAL)
    kwargs: dict[str, Any] = {"model": request.model, "max_tokens": request.max_tokens, "messages": messages}
    system = request.system
    if system:
        kwargs["system"] = [{"type": "text", "text": system, "cache_control": dict(EPHEMERAL)}] if prompt_cache \
            else system
    if request.stop:
        kwargs["stop_sequences"] = request.stop
    thinking = thinking_param(request)
    if thinking is not None:
        kwargs["thinking"] = thinking
    output_config: dict[str, Any] = {}
    if request.reasoning_effort is not None:
        output_config["effort"] = request.reasoning_effort
    if request.response_format is not None:  # a typed answer (evalsweep.structured)
        if tool:
            kwargs.update(anthropic_tool_args(request.response_format))
        else:
            output_config["format"] = anthropic_output_format(request.response_format)
    if output_config:
        kwargs["output_config"] = output_config
    return kwargs
