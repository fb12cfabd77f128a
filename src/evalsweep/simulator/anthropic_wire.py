"""The Anthropic Messages wire format: request parsing (thinking, output_config's effort and format,
forced tool use, cache_control breakpoints), reply and error bodies."""

from __future__ import annotations

from typing import Any

from aiohttp import web

import evalsweep.simulator.structured as structured
from evalsweep.simulator.parsing import (
    BadRequest,
    ParsedRequest,
    content_text,
    float_field,
    message_list,
    opt_int,
    schema_object,
)

SEED_HEADER = "x-evalsweep-seed"
EFFORTS = ("low", "medium", "high", "xhigh", "max")
SIGNATURE = "evalsweep-simulator-thinking"


ANTHROPIC_ERRORS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}


def anthropic_usage(input_tokens: int, output_tokens: int, *, thinking_tokens: int = 0,
                    cache: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """usage as the API reports it: thinking inside output_tokens (and apart in output_tokens_details),
    prompt-cache writes and reads beside input_tokens."""
    usage: dict[str, Any] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if thinking_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
    if any(cache):
        usage["cache_creation_input_tokens"], usage["cache_read_input_tokens"] = cache
    return usage


def thinking_block(tokens: int) -> dict[str, Any]:
    """A (summarised) thinking block of about `tokens` tokens: not the answer."""
    words = " ".join(["hmm"] * max(1, tokens))
    return {"type": "thinking", "thinking": f"Let me work this out step by step. {words}", "signature": SIGNATURE}


def anthropic_payload(model: str, headers: dict[str, str], content: list[dict[str, Any]], stop_reason: str,
                      input_tokens: int, output_tokens: int, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": f"msg_sim_{headers['request-id']}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def parse_anthropic(body: dict[str, Any], request: web.Request) -> ParsedRequest:
    max_tokens = opt_int(body.get("max_tokens"), "max_tokens", 1)
    if max_tokens is None:
        raise BadRequest("max_tokens: Field required")
    system = [content_text(body["system"], "system")] if body.get("system") else []
    turns = [(m["role"], content_text(m.get("content"), f"messages[{i}]")) for i, m in enumerate(message_list(body))]
    seed_header = request.headers.get(SEED_HEADER)
    if seed_header is not None:
        try:
            seed: int | None = int(seed_header)
        except ValueError:
            raise BadRequest(f"Header {SEED_HEADER} must be an integer.") from None
    else:
        seed = opt_int(body.get("seed"), "seed")
    stop = body.get("stop_sequences")
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise BadRequest("`stop_sequences` must be a list of strings.")
    budget = thinking_budget(body, max_tokens)
    _check_effort(body)
    parsed = ParsedRequest(
        system=system,
        turns=turns,
        seed=seed,
        temperature=float_field(body, "temperature", 1.0),
        max_tokens=max_tokens,
        stop=stop or [],
        structured_ask=anthropic_structured(body),
    )
    if budget is not None:
        if parsed.temperature != 1.0:
            raise BadRequest("`temperature` may only be set to 1 when thinking is enabled or in adaptive mode.")
        if float_field(body, "top_p", 1.0) < 0.95:
            raise BadRequest("`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled.")
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") in ("tool", "any"):
            raise BadRequest("Thinking may not be enabled when tool_choice forces tool use.")
    parsed.thinking_budget = budget
    parsed.cache_prefixes = cache_prefixes(body)
    return parsed


def thinking_budget(body: dict[str, Any], max_tokens: int) -> int | None:
    """The most tokens the model may think: None with thinking off (absent or disabled)."""
    thinking = body.get("thinking")
    if thinking is None:
        return None
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in ("enabled", "adaptive", "disabled"):
        raise BadRequest("thinking.type: Input should be 'enabled', 'adaptive' or 'disabled'.")
    if kind == "disabled":
        return None
    if kind == "adaptive":
        return max_tokens
    budget = opt_int(thinking.get("budget_tokens"), "thinking.budget_tokens", 1024)
    if budget is None:
        raise BadRequest("thinking.enabled.budget_tokens: Field required")
    if budget >= max_tokens:
        raise BadRequest("`max_tokens` must be greater than `thinking.budget_tokens`.")
    return budget


def _check_effort(body: dict[str, Any]) -> None:
    config = body.get("output_config")
    if config is None:
        return
    if not isinstance(config, dict):
        raise BadRequest("output_config: must be an object.")
    effort = config.get("effort")
    if effort is not None and effort not in EFFORTS:
        raise BadRequest(f"output_config.effort: Input should be one of {', '.join(EFFORTS)}.")


def cache_prefixes(body: dict[str, Any]) -> list[str]:
    """The prompt's text up to each block marked with cache_control (system blocks, then the
    messages' blocks), shortest first; the whole prompt too for a top-level cache_control."""
    texts: list[str] = []
    prefixes: list[str] = []

    def walk(content: Any) -> None:
        if isinstance(content, str):
            texts.append(content)
            return
        for block in content if isinstance(content, list) else []:
            texts.append(content_text([block], "cache_control"))
            if isinstance(block, dict) and isinstance(block.get("cache_control"), dict):
                prefixes.append("\n".join(texts))

    walk(body.get("system"))
    for m in message_list(body):
        walk(m.get("content"))
    if isinstance(body.get("cache_control"), dict):
        prefixes.append("\n".join(texts))
    return prefixes


def anthropic_structured(body: dict[str, Any]) -> structured.StructuredAsk | None:
    """Tool use forced to one tool (the usual way to get an object from Claude), or
    `output_config.format` of type json_schema."""
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if tools is not None:
        if not isinstance(tools, list) or not all(isinstance(t, dict) and isinstance(t.get("name"), str)
                                                  for t in tools):
            raise BadRequest("tools: a list of objects with a string `name` is required.")
        by_name = {t["name"]: t for t in tools}
        if choice is not None and (not isinstance(choice, dict) or choice.get("type") not in
                                   ("auto", "any", "tool", "none")):
            raise BadRequest("tool_choice: an object with type auto, any, tool or none is required.")
        ctype = choice.get("type") if isinstance(choice, dict) else "auto"
        if ctype == "tool":
            name = choice.get("name")
            if name not in by_name:
                raise BadRequest(f"tool_choice.name: no tool named {name!r} in `tools`.")
            tool = by_name[name]
        elif ctype in ("any", "auto") and tools:
            tool = tools[0]  # the simulated model always uses the (first) tool it is offered
        else:
            tool = None
        if tool is not None:
            return structured.StructuredAsk(tool["name"], schema_object(tool.get("input_schema"),
                                                                        f"tools[{tool['name']}].input_schema"),
                                            "anthropic_tool")
    elif choice is not None:
        raise BadRequest("tool_choice: may only be specified while providing tools.")
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if isinstance(fmt, dict):
        if fmt.get("type") != "json_schema":
            raise BadRequest("output_config.format.type: expected 'json_schema'.")
        schema = schema_object(fmt.get("schema"), "output_config.format.schema")
        return structured.StructuredAsk(str(schema.get("title") or "output"), schema, "anthropic_output_format")
    return None
