"""Batch lines: a request's body as the live clients send it (evalsweep.llm.openai_client and
anthropic_client build the same fields), and a batch result turned into a GenerateResponse by the
live clients' own reply parsers."""

from __future__ import annotations

import json
from typing import Any

import httpx

from evalsweep.config.model import ModelConfig
from evalsweep.llm.types import GenerateRequest, GenerateResponse
from evalsweep.structured.wire import anthropic_tool_args, openai_response_format

OPENAI_ENDPOINT = "/v1/chat/completions"


def openai_body(cfg: ModelConfig, request: GenerateRequest) -> dict[str, Any]:
    """The Chat Completions body of OpenAIClient.generate (the test_batch parity test holds them equal)."""
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        cfg.token_limit_field: request.max_tokens,
    }
    if not cfg.reasoning:
        body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop"] = request.stop
    if request.reasoning_effort is not None:
        body["reasoning_effort"] = request.reasoning_effort
    if request.seed is not None:
        body["seed"] = request.seed
    if request.response_format is not None:
        body["response_format"] = _jsonable(openai_response_format(request.response_format))
    return body


def _jsonable(value: Any) -> Any:
    """The SDK's own helper may give a TypedDict with pydantic parts: as the JSON the SDK would send."""
    return json.loads(json.dumps(value, default=lambda o: o.model_dump() if hasattr(o, "model_dump") else str(o)))


def anthropic_params(cfg: ModelConfig, request: GenerateRequest) -> dict[str, Any]:
    """The Messages params of AnthropicClient.generate. For the simulator, temperature and top_p go
    in the params (the live client sends them as extra body) and the seed as the batch's header."""
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": [{"role": m.role, "content": [{"type": "text", "text": m.content}]} for m in request.chat],
    }
    if request.system:
        params["system"] = request.system
    if request.stop:
        params["stop_sequences"] = request.stop
    if request.response_format is not None:
        params.update(anthropic_tool_args(request.response_format))
    if cfg.simulated:
        extra = {"temperature": request.temperature, "top_p": request.top_p}
        params.update({k: v for k, v in extra.items() if v is not None})
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
