"""Anthropic Messages: the request as evalsweep.llm.anthropic_request builds it (system prompt as its
own field, content blocks, thinking, output_config, cache_control), sent with the model's extra body
and headers; the reply's text blocks (thinking blocks are not the answer) and its usage, thinking and
prompt-cache tokens included."""

from __future__ import annotations

import time

import anthropic
from anthropic.types import Message
from pydantic import ValidationError

from evalsweep.config.model import ModelConfig
from evalsweep.llm.anthropic_request import message_kwargs
from evalsweep.llm.endpoints import anthropic_base_url, server_name
from evalsweep.llm.errors import TransientError, classify_status
from evalsweep.llm.http import capped_http_client
from evalsweep.llm.ratelimit_headers import read_rate_limits
from evalsweep.llm.replies import ReplyTooLarge, as_int, malformed
from evalsweep.llm.types import GenerateRequest, GenerateResponse, Usage
from evalsweep.structured.wire import anthropic_object_text


class AnthropicClient:
    def __init__(self, *, api_key: str, base_url: str | None, timeout_s: float, key_env: str | None,
                 max_reply_bytes: int = 8 * 1024 * 1024, prompt_cache: bool = False,
                 tool_output: bool = False) -> None:
        # max_retries=0: tenacity is the one layer that retries, so every retry is counted.
        http = capped_http_client(anthropic.DefaultAsyncHttpxClient, max_reply_bytes, timeout_s)
        self._client = anthropic.AsyncAnthropic(api_key=api_key, base_url=anthropic_base_url(base_url),
                                                max_retries=0, timeout=timeout_s, http_client=http)
        self._key_env = key_env
        self._who = server_name(base_url, "Anthropic")
        self._prompt_cache = prompt_cache
        self._tool_output = tool_output

    @classmethod
    def from_config(cls, cfg: ModelConfig, *, api_key: str, base_url: str | None) -> AnthropicClient:
        return cls(api_key=api_key, base_url=base_url, timeout_s=cfg.request_timeout_s, key_env=cfg.api_key_env,
                   max_reply_bytes=cfg.max_reply_bytes, prompt_cache=cfg.prompt_cache,
                   tool_output=cfg.structured_output == "tool")

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        kwargs = message_kwargs(request, prompt_cache=self._prompt_cache, tool=self._tool_output)
        if request.extra_body:
            kwargs["extra_body"] = dict(request.extra_body)
        if request.extra_headers:
            kwargs["extra_headers"] = dict(request.extra_headers)
        start = time.perf_counter()
        try:
            # The raw reply as well as the parsed one: a reply that is not a message is then
            # reported with its first bytes.
            raw = await self._client.messages.with_raw_response.create(**kwargs)
        except ReplyTooLarge as exc:
            raise exc.error("Anthropic") from None
        except anthropic.APIStatusError as exc:
            raise classify_status(exc.status_code, str(exc.message), exc.response.headers, self._key_env,
                                  self._who) from exc
        except anthropic.APITimeoutError as exc:
            raise TransientError(f"request timed out: {exc}", status=None, cause="timeout") from exc
        except anthropic.APIConnectionError as exc:
            if isinstance(exc.__cause__, ReplyTooLarge):  # SDKs that wrap whatever the transport raised
                raise exc.__cause__.error("Anthropic") from None
            raise TransientError(f"connection error: {exc}", status=None, cause="connection") from exc
        except anthropic.APIError as exc:
            # Left after the cases above: a reply that does not parse as the API's response.
            raise TransientError(f"unexpected response from Anthropic: {exc}", status=None,
                                 cause="unexpected_body") from exc
        try:
            resp = await raw.parse()  # the body is already read: this only parses it
        except ValueError:  # JSONDecodeError, UnicodeDecodeError: the body is not JSON
            raise malformed("Anthropic", raw.http_response, "not valid JSON") from None
        return self._response(resp, raw.http_response, request, time.perf_counter() - start)

    @staticmethod
    def _response(resp: object, http: object, request: GenerateRequest, latency_s: float) -> GenerateResponse:
        """The parts of a message evalsweep uses, each checked: the SDK builds its object from
        whatever JSON came (an error object sent with 200 gives one without content)."""
        content = getattr(resp, "content", None) if isinstance(resp, Message) else None
        if not isinstance(content, list):
            raise malformed("Anthropic", http, "not a message: no content")
        texts = [getattr(block, "text", None) for block in content if getattr(block, "type", None) == "text"]
        if not all(isinstance(t, str) for t in texts):
            raise malformed("Anthropic", http, "a text block without text")
        text = "".join(texts)  # type: ignore[arg-type]
        if request.response_format is not None:
            text = anthropic_object_text(content, request.response_format) or text
        usage = getattr(resp, "usage", None)
        # Thinking tokens are inside output_tokens (billed as output), broken out in output_tokens_details;
        # prompt-cache tokens are beside input_tokens, each at its own price.
        details = getattr(usage, "output_tokens_details", None)
        try:
            return GenerateResponse(
                text=text,
                usage=Usage(input_tokens=as_int(getattr(usage, "input_tokens", 0)),
                            output_tokens=as_int(getattr(usage, "output_tokens", 0)),
                            reasoning_tokens=as_int(getattr(details, "thinking_tokens", 0)),
                            cache_write_tokens=as_int(getattr(usage, "cache_creation_input_tokens", 0)),
                            cache_read_tokens=as_int(getattr(usage, "cache_read_input_tokens", 0))),
                finish_reason=_finish_reason(getattr(resp, "stop_reason", None)),
                request_id=getattr(resp, "_request_id", None) or getattr(resp, "id", None),
                model=getattr(resp, "model", None),
                latency_s=latency_s,
                rate_limit=read_rate_limits(getattr(http, "headers", None)),
            )
        except ValidationError as exc:  # e.g. a stop_reason or model that is not a string
            raise malformed("Anthropic", http, f"a field of the wrong type: {exc.errors()[0]['loc'][0]}") from None

    async def aclose(self) -> None:
        await self._client.close()


def _finish_reason(stop_reason: object) -> object:
    """max_tokens in the word the other providers use (length); the other stop reasons as sent."""
    return "length" if stop_reason == "max_tokens" else stop_reason
