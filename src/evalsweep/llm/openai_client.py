"""OpenAI Chat Completions (and any OpenAI-compatible server: vLLM, Together, OpenRouter)."""

from __future__ import annotations

import time

import openai
from openai.types.chat import ChatCompletion
from pydantic import ValidationError

from evalsweep.config.model import ModelConfig
from evalsweep.llm.endpoints import openai_base_url, server_name
from evalsweep.llm.errors import TransientError, classify_status
from evalsweep.llm.http import capped_http_client
from evalsweep.llm.logprobs import from_openai
from evalsweep.llm.openai_request import chat_kwargs
from evalsweep.llm.ratelimit_headers import read_rate_limits
from evalsweep.llm.replies import ReplyTooLarge, as_int, malformed
from evalsweep.llm.types import GenerateRequest, GenerateResponse, Usage


class OpenAIClient:
    def __init__(self, *, api_key: str, base_url: str | None, timeout_s: float, key_env: str | None,
                 extra_headers: dict[str, str] | None = None, max_reply_bytes: int = 8 * 1024 * 1024,
                 reasoning: bool = False, token_limit_field: str = "max_tokens") -> None:
        # max_retries=0: tenacity is the one layer that retries, so every retry is counted.
        http = capped_http_client(openai.DefaultAsyncHttpxClient, max_reply_bytes, timeout_s)
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s,
                                          http_client=http)
        self._key_env = key_env
        self._who = server_name(base_url, "OpenAI")  # who rejected a key: not "OpenAI" for a llama.cpp server
        self._extra_headers = extra_headers or {}
        # A reasoning model refuses temperature, top_p and stop; its token limit is max_completion_tokens.
        self._reasoning = reasoning
        self._token_limit_field = token_limit_field

    @classmethod
    def from_config(cls, cfg: ModelConfig, *, api_key: str, base_url: str | None) -> OpenAIClient:
        # With or without the /v1 the Chat Completions routes live under (evalsweep.llm.endpoints).
        return cls(api_key=api_key, base_url=openai_base_url(base_url), timeout_s=cfg.request_timeout_s, key_env=cfg.api_key_env,
                   max_reply_bytes=cfg.max_reply_bytes, reasoning=cfg.reasoning,
                   token_limit_field=cfg.token_limit_field)

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        kwargs = chat_kwargs(request, reasoning=self._reasoning, token_limit_field=self._token_limit_field)
        start = time.perf_counter()
        try:
            # The raw reply as well as the parsed one: a reply that is not a chat completion is then
            # reported with its first bytes.
            raw = await self._client.chat.completions.with_raw_response.create(
                **kwargs, extra_headers={**self._extra_headers, **(request.extra_headers or {})} or None,
                extra_body=request.extra_body)
        except ReplyTooLarge as exc:
            raise exc.error("OpenAI") from None
        except openai.APIStatusError as exc:
            raise classify_status(exc.status_code, str(exc.message), exc.response.headers, self._key_env,
                                  self._who) from exc
        except openai.APITimeoutError as exc:
            raise TransientError(f"request timed out: {exc}", status=None, cause="timeout") from exc
        except openai.APIConnectionError as exc:
            if isinstance(exc.__cause__, ReplyTooLarge):  # SDKs that wrap whatever the transport raised
                raise exc.__cause__.error("OpenAI") from None
            raise TransientError(f"connection error: {exc}", status=None, cause="connection") from exc
        except openai.APIError as exc:
            # Left after the cases above: a reply that does not parse as the API's response.
            raise TransientError(f"unexpected response from OpenAI: {exc}", status=None,
                                 cause="unexpected_body") from exc
        try:
            resp = raw.parse()
        except ValueError:  # JSONDecodeError, UnicodeDecodeError: the body is not JSON
            raise malformed("OpenAI", raw.http_response, "not valid JSON") from None
        response = self._response(resp, raw.http_response, time.perf_counter() - start)
        if request.logprobs:
            choice = resp.choices[0] if isinstance(resp, ChatCompletion) and resp.choices else None
            response.logprobs = from_openai(getattr(choice, "logprobs", None), request.top_logprobs)
        return response

    @staticmethod
    def _response(resp: object, http: object, latency_s: float) -> GenerateResponse:
        """The parts of a chat completion evalsweep uses, each checked: the SDK builds its object
        from whatever JSON came (an error object sent with 200 gives one without choices)."""
        choices = getattr(resp, "choices", None) if isinstance(resp, ChatCompletion) else None
        if not isinstance(choices, list) or not choices:
            raise malformed("OpenAI", http, "not a chat completion: no choices")
        message = getattr(choices[0], "message", None)
        content = getattr(message, "content", None)
        if message is None or not (content is None or isinstance(content, str)):
            raise malformed("OpenAI", http, "no message text in the first choice")
        usage = getattr(resp, "usage", None)
        # Already inside completion_tokens, as they are billed: recorded, not added.
        details = getattr(usage, "completion_tokens_details", None)
        # The automatic prompt cache's hits, inside prompt_tokens: billed at price.cache_read_per_mtok.
        cached = as_int(getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", 0))
        try:
            return GenerateResponse(
                text=content or "",
                usage=Usage.of_prompt(as_int(getattr(usage, "prompt_tokens", 0)), cached,
                                      output_tokens=as_int(getattr(usage, "completion_tokens", 0)),
                                      reasoning_tokens=as_int(getattr(details, "reasoning_tokens", 0))),
                finish_reason=getattr(choices[0], "finish_reason", None),
                request_id=getattr(resp, "_request_id", None) or getattr(resp, "id", None),
                model=getattr(resp, "model", None),
                system_fingerprint=getattr(resp, "system_fingerprint", None),
                latency_s=latency_s,
                rate_limit=read_rate_limits(getattr(http, "headers", None)),
            )
        except ValidationError as exc:  # e.g. a finish_reason or model that is not a string
            raise malformed("OpenAI", http, f"a field of the wrong type: {exc.errors()[0]['loc'][0]}") from None

    async def aclose(self) -> None:
        await self._client.close()
