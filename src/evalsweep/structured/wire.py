"""A ResponseFormat in each provider's wire format (OpenAI, Anthropic's output format or forced tool,
Gemini), and the object back out of a reply.
Used by the provider clients; the SDKs stay imported only there."""

from __future__ import annotations

import copy
import json
from typing import Any

from evalsweep.llm.types import ResponseFormat


def openai_response_format(fmt: ResponseFormat) -> dict[str, Any]:
    """`response_format` for Chat Completions, strict: OpenAI then guarantees the schema (the
    SDK's own helper makes a pydantic schema strict: every field required, no extra fields)."""
    if fmt.model is not None:
        import openai

        schema = openai.pydantic_function_tool(fmt.model, name=fmt.name)["function"]["parameters"]
        strict = True
    else:  # a hand-made schema: sent as it is, not promised to be strict-compatible
        schema, strict = copy.deepcopy(fmt.json_schema), False
    spec: dict[str, Any] = {"name": fmt.name, "schema": schema, "strict": strict}
    if fmt.description:
        spec["description"] = fmt.description
    return {"type": "json_schema", "json_schema": spec}


def anthropic_output_format(fmt: ResponseFormat) -> dict[str, Any]:
    """`output_config.format` (Anthropic's native structured output, which works with thinking):
    the schema as the SDK's own helper makes it fit the API (no numeric or length constraints,
    which it moves into descriptions, objects closed); pydantic still checks the reply in full."""
    import anthropic

    return {"type": "json_schema", "schema": anthropic.transform_schema(copy.deepcopy(fmt.json_schema))}


def anthropic_tool_args(fmt: ResponseFormat) -> dict[str, Any]:
    """One tool whose input is the object, and tool_choice forcing it (Anthropic's documented way
    to get JSON of a schema)."""
    tool: dict[str, Any] = {"name": fmt.name, "input_schema": fmt.json_schema}
    if fmt.description:
        tool["description"] = fmt.description
    return {"tools": [tool], "tool_choice": {"type": "tool", "name": fmt.name}}


def anthropic_object_text(content: list[Any], fmt: ResponseFormat) -> str | None:
    """The forced tool's input as JSON text, or None when the reply holds no such block."""
    for block in content:
        if getattr(block, "type", None) == "tool_use" and getattr(block, "name", None) == fmt.name:
            return json.dumps(block.input, ensure_ascii=False)
    return None


def gemini_response_config(fmt: ResponseFormat) -> dict[str, Any]:
    """Gemini's JSON mode with a schema (generationConfig.responseMimeType and responseJsonSchema):
    the JSON Schema as pydantic writes it ($defs and $ref included), not the OpenAPI subset that
    `response_schema` takes. The reply's text is then the object."""
    return {"response_mime_type": "application/json", "response_json_schema": copy.deepcopy(fmt.json_schema)}
