"""Batch lines: a request's body as the live clients send it (evalsweep.llm.openai_client,
anthropic_client and gemini_client build the same fields), and a batch result turned into a GenerateResponse by the
live clients' own reply parsers."""

from __future__ import annotations

import json
from typing import Any

import httpx

from evalsweep.config.model import ModelConfig
from evalsweep.llm.types import GenerateRequest, GenerateResponse
from evalsweep.llm.anthropic_request import message_kwargs
from evalsweep.llm.openai_request import chat_kwargs
from evalsweep.llm.simulated import simulator_body

OPENAI_ENDPOINT = "/v1/chat/completions"


def openai_body(cfg: ModelConfig, request: GenerateRequest) -> dict[str, Any]:
    """The Chat Completions body of OpenAIClient.generate: the same builder, with the model's
    extra_body merged as the SDK merges it (tests/test_batch_wire.py holds them equal on the wire)."""
    body = chat_kwargs(request, reasoning=cfg.reasoning, token_limit_field=cfg.token_limit_field)
    if "response_format" in body:
        body["response_format"] = _jsonable(body["response_format"])
    body.update(request.extra_body or {})
    return body


def _jsonable(value: Any) -> Any:
    """The SDK's own helper may give a TypedDict with pydantic parts: as the JSON the SDK would send."""
    return json.loads(json.dumps(value, default=lambda o: o.model_dump() if hasattr(o, "model_dump") else str(o)))


def anthropic_params(cfg: ModelConfig, request: GenerateRequest) -> dict[str, Any]:
    """The Messages params of AnthropicClient.generate: the same builder, the model's extra_body
    merged, and for a simulated model what evalsweep.llm.simulated adds live (temperature, top_p;
    the seed goes as the batch's header)."""
    params = message_kwargs(request, prompt_cache=cfg.prompt_cache, tool=cfg.structured_output == "tool")
    if cfg.simulated:
        params.update(simulator_body(request))
    params.update(request.extra_body or {})
    return params


def _http(body: dict[str, Any]) -> httpx.Response:
    """The result line as the reply it stands for (the live parsers name a malformed one by its bytes)."""
    return httpx.Response(200, content=json.dumps(body).encode(), headers={"content-type": "application/json"})


def openai_reply(body: dict[str, Any]) -> GenerateResponse:
    """A succeeded OpenAI batch line's response body; raises the live client's errors when malformed."""
    from openai.types.chat import ChatCompletion

    from evalsweep.llm.openai_client import OpenAIClient
    from evalsweep.llm.replies import malformed

    try:
        resp = ChatCompletion.model_validate(body)
    except ValueError:
        raise malformed("OpenAI", _http(body), "not a chat completion") from None
    return OpenAIClient._response(resp, _http(body), 0.0)


def anthropic_reply(message: dict[str, Any], request: GenerateRequest) -> GenerateResponse:
    """A succeeded Anthropic batch result's message; raises the live client's errors when malformed."""
    from anthropic.types import Message

    from evalsweep.llm.anthropic_client import AnthropicClient
    from evalsweep.llm.replies import malformed

    try:
        resp = Message.model_validate(message)
    except ValueError:
        raise malformed("Anthropic", _http(message), "not a message") from None
    return AnthropicClient._response(resp, _http(message), request, 0.0)


# What GeminiClient.generate's config asks of the SDK itself, not of the API (an inlined batch
# request's config goes through the SDK's converter, which drops them; left out to say so).
_GEMINI_CLIENT_ONLY = ("automatic_function_calling", "automatic_continuation", "should_return_http_response",
                       "http_options")


def gemini_request(cfg: ModelConfig, request: GenerateRequest) -> dict[str, Any]:
    """The contents and GenerateContentConfig of GeminiClient.generate (the same builders), as an
    inlined batch request of the SDK takes them. The model's extra_body cannot ride along: the SDK
    drops an inlined request's http_options, so evalsweep.batch.check refuses it for Gemini."""
    from evalsweep.llm.gemini_client import contents, generation_config

    config = generation_config(request, reasoning=cfg.reasoning)
    for key in _GEMINI_CLIENT_ONLY:
        config.pop(key, None)
    return {"contents": contents(request), "config": config}


def gemini_reply(response: Any) -> GenerateResponse:
    """A succeeded inlined response (the SDK's GenerateContentResponse), read by the live client's
    reply reader from its REST JSON; raises the live client's errors when malformed."""
    from evalsweep.llm.gemini_reply import RawReply, read_reply

    body = response.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"sdk_http_response"})
    return read_reply(RawReply(content=json.dumps(body).encode()), 0.0)
