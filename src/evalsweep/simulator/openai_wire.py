"""The OpenAI Chat Completions wire format: request parsing, `response_format`, reply and error bodies."""

from __future__ import annotations

import time
from typing import Any

import evalsweep.simulator.structured as structured
from evalsweep.simulator.answers import ReplyTokens
from evalsweep.simulator.parsing import (
    BadRequest,
    ParsedRequest,
    content_text,
    float_field,
    message_list,
    opt_int,
    schema_object,
    stop_list,
)


OPENAI_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "service_unavailable"),
    529: ("overloaded_error", None),
}


# OpenAI's automatic prompt caching: prompts from 1,024 tokens on, cached_tokens in steps of 128.
CACHE_MIN_TOKENS, CACHE_STEP = 1024, 128


def openai_payload(model: str, headers: dict[str, str], text: str, finish_reason: str, tokens: ReplyTokens,
                   logprobs: dict[str, Any] | None = None) -> dict[str, Any]:
    """A chat completion; reasoning tokens (a reasoning model's) inside completion_tokens, and the
    prompt's cached tokens inside prompt_tokens, as the API counts them."""
    output_tokens = tokens.output + tokens.thinking
    usage: dict[str, Any] = {"prompt_tokens": tokens.input, "completion_tokens": output_tokens,
                             "total_tokens": tokens.input + output_tokens}
    if tokens.thinking:
        usage["completion_tokens_details"] = {"reasoning_tokens": tokens.thinking}
    if tokens.cached:
        usage["prompt_tokens_details"] = {"cached_tokens": min(tokens.cached, tokens.input)}
    return {
        "id": f"chatcmpl-sim-{headers['x-request-id']}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
                "logprobs": logprobs,
            }
        ],
        "usage": usage,
        "system_fingerprint": "evalsweep-simulator",
    }


def parse_openai(body: dict[str, Any]) -> ParsedRequest:
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    for i, m in enumerate(message_list(body)):
        text = content_text(m.get("content"), f"messages[{i}]")
        if m["role"] in ("system", "developer"):
            system.append(text)
        else:
            turns.append((m["role"], text))
    max_tokens = opt_int(body.get("max_completion_tokens"), "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = opt_int(body.get("max_tokens"), "max_tokens", 1)
    return ParsedRequest(
        system=system,
        turns=turns,
        seed=opt_int(body.get("seed"), "seed"),
        temperature=float_field(body, "temperature", 1.0),
        max_tokens=max_tokens,
        stop=stop_list(body.get("stop"), "stop"),
        structured_ask=openai_response_format(body.get("response_format"), system + [t for _, t in turns]),
        logprobs=_logprobs(body),
    )


def _logprobs(body: dict[str, Any]) -> int | None:
    """`logprobs` (a boolean) and `top_logprobs` (0-20, only with logprobs), as the API checks them."""
    asked = body.get("logprobs")
    if asked is not None and not isinstance(asked, bool):
        raise BadRequest("`logprobs` must be a boolean.")
    top = opt_int(body.get("top_logprobs"), "top_logprobs", 0)
    if top is not None and top > 20:
        raise BadRequest("`top_logprobs` must be <= 20.")
    if top is not None and not asked:
        raise BadRequest("`logprobs` must be set to true when `top_logprobs` is used.")
    return (top or 0) if asked else None


def openai_response_format(value: Any, texts: list[str]) -> structured.StructuredAsk | None:
    """`response_format` as the Chat Completions API takes it: text, json_object or json_schema."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise BadRequest("response_format: must be an object with a string `type`.")
    kind = value["type"]
    if kind == "text":
        return None
    if kind == "json_object":
        if not any("json" in t.lower() for t in texts):
            # What the real API says when JSON mode is asked for without the word in the prompt.
            raise BadRequest("'messages' must contain the word 'json' in some form, to use "
                              "'response_format' of type 'json_object'.")
        schema = next((sc for t in texts if (sc := structured.schema_from_text(t)) is not None), None)
        return structured.StructuredAsk("json_object", schema or {"type": "object", "properties": {
            "answer": {"type": "string"}}}, "json_object")
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
            raise BadRequest("response_format.json_schema: an object with a string `name` is required.")
        return structured.StructuredAsk(spec["name"],
                                        schema_object(spec.get("schema"), "response_format.json_schema.schema"),
                                        "openai_json_schema")
    raise BadRequest(f"response_format.type: unknown type {kind!r}; expected text, json_object or json_schema.")
