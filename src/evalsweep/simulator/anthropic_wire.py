"""The Anthropic Messages wire format: request parsing, forced tool use / output format, reply and error bodies."""

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


ANTHROPIC_ERRORS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}


def anthropic_payload(model: str, headers: dict[str, str], content: list[dict[str, Any]], stop_reason: str,
                      input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "id": f"msg_sim_{headers['request-id']}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
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
    return ParsedRequest(
        system=system,
        turns=turns,
        seed=seed,
        temperature=float_field(body, "temperature", 1.0),
        max_tokens=max_tokens,
        stop=stop or [],
        structured_ask=anthropic_structured(body),
    )


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
