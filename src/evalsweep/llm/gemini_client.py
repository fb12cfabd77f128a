"""Google Gemini (the Gemini API's generateContent) through the google-genai SDK's async client:
the system message as system_instruction, assistant turns as role "model", the generation
parameters in its generation config, typed answers through its JSON-schema response mode, and its
HTTP errors mapped to evalsweep's retryable, permanent and key errors."""

from __future__ import annotations

import re
import time
from functools import partial
from typing import Any

import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from evalsweep.config.model import ModelConfig
from evalsweep.llm.endpoints import gemini_base_url, server_name
from evalsweep.llm.errors import TransientError, classify_status, key_rejected
from evalsweep.llm.gemini_reply import PROVIDER, RawReply, read_reply
from evalsweep.llm.http import capped_http_client
from evalsweep.llm.replies import ReplyTooLarge
from evalsweep.llm.types import GenerateRequest, GenerateResponse
from evalsweep.structured.wire import gemini_response_config

# The version whose generateContent takes everything sent here (responseJsonSchema, seed,
# thinkingConfig): POST {base_url}/v1beta/models/{model}:generateContent. Set, not left to the SDK
# (whose default has changed between releases) or to GOOGLE_GENAI_API_VERSION.
API_VERSION = "v1beta"
_RETRY_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def contents(request: GenerateRequest) -> list[dict[str, Any]]:
    """The conversation without its system message, in Gemini's roles (user, model)."""
    return [{"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
            for m in request.chat]


def generation_config(request: GenerateRequest, *, reasoning: bool = False) -> dict[str, Any]:
    """The GenerateContentConfig of one request (the SDK puts the generation parameters in the
    body's generationConfig, system_instruction beside it)."""
    config: dict[str, Any] = {
        "max_output_tokens": request.max_tokens,
        # One attempt is one HTTP request: the SDK neither calls functions nor follows a reply's
        # continuation token on its own, so every request is counted and every retry is evalsweep's.
        "automatic_function_calling": {"disable": True},
        "automatic_continuation": False,
        # The reply's body as it came (evalsweep.llm.gemini_reply reads it).
        "should_return_http_response": True,
    }
    if request.system:
        config["system_instruction"] = request.system
    if not reasoning:  # model.reasoning: these are not sent (as for OpenAI's reasoning models)
        config["temperature"] = request.temperature
        if request.top_p is not None:
            config["top_p"] = request.top_p
        if request.stop:
            config["stop_sequences"] = request.stop
    if request.seed is not None:
        config["seed"] = request.seed
    if request.logprobs:  # the chosen tokens' logprobs (responseLogprobs), and the top alternatives
        config["response_logprobs"] = True
        if request.top_logprobs:
            config["logprobs"] = request.top_logprobs
    if request.reasoning_effort is not None:  # Gemini 3 models' thinking level: MINIMAL, LOW, MEDIUM, HIGH
        config["thinking_config"] = {"thinking_level": request.reasoning_effort.upper()}
    if request.response_format is not None:  # a typed answer (evalsweep.structured)
        config.update(gemini_response_config(request.response_format))
    if request.extra_body or request.extra_headers:  # merged into this request's body and headers by the SDK
        config["http_options"] = {k: v for k, v in (("extra_body", request.extra_body),
                                                    ("headers", request.extra_headers)) if v}
    return config


class GeminiClient:
    def __init__(self, *, api_key: str, base_url: str | None, timeout_s: float, key_env: str | None,
                 max_reply_bytes: int = 8 * 1024 * 1024, reasoning: bool = False) -> None:
        # The connection pool of the other SDKs' default clients, so max_concurrency is what limits.
        factory = partial(httpx2.AsyncClient, limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100))
        self._http = capped_http_client(factory, max_reply_bytes, timeout_s)
        options = genai_types.HttpOptions(base_url=gemini_base_url(base_url), api_version=API_VERSION, timeout=int(timeout_s * 1000),
                                          httpx_async_client=self._http)
        # vertexai=False: the Gemini API whatever GOOGLE_GENAI_USE_VERTEXAI says. No retry_options:
        # the SDK then never retries, and tenacity (evalsweep.llm.retry) is the one layer that does.
        self._client = genai.Client(api_key=api_key, vertexai=False, http_options=options)
        self._key_env = key_env
        self._who = server_name(base_url, PROVIDER)
        self._reasoning = reasoning

    @classmethod
    def from_config(cls, cfg: ModelConfig, *, api_key: str, base_url: str | None) -> GeminiClient:
        return cls(api_key=api_key, base_url=base_url, timeout_s=cfg.request_timeout_s, key_env=cfg.api_key_env,
                   max_reply_bytes=cfg.max_reply_bytes, reasoning=cfg.reasoning)

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        start = time.perf_counter()
        try:
            resp = await self._client.aio.models.generate_content(
                model=request.model, contents=contents(request),  # type: ignore[arg-type]
                config=generation_config(request, reasoning=self._reasoning))  # type: ignore[arg-type]
        except ReplyTooLarge as exc:
            raise exc.error(PROVIDER) from None
        except genai_errors.APIError as exc:
            raise status_error(exc, self._key_env, self._who) from exc
        except httpx2.TimeoutException as exc:
            raise TransientError(f"request timed out: {exc}", status=None, cause="timeout") from exc
        except httpx2.TransportError as exc:  # refused, reset, or closed without a response
            raise TransientError(f"connection error: {exc!r}", status=None, cause="connection") from exc
        http = resp.sdk_http_response
        raw = RawReply(content=((http.body if http else None) or "").encode("utf-8"),
                       headers=dict((http.headers if http else None) or {}))
        return read_reply(raw, time.perf_counter() - start)

    async def aclose(self) -> None:
        try:
            await self._client.aio.aclose()
            self._client.close()  # the sync pool the SDK made beside ours, never used
        finally:
            await self._http.aclose()  # ours: the SDK leaves a client it was given open


def status_error(exc: genai_errors.APIError, key_env: str | None, who: str = PROVIDER) -> Exception:
    """An error status as evalsweep's error: 429 and 5xx retried (after RetryInfo's delay when the
    body gives one), a rejected key (403, or 400 API_KEY_INVALID, which is how the Gemini API
    answers a wrong key) stops the job, any other status is that sample's error."""
    status = int(exc.code or 0)
    message = exc.message or str(exc)
    details = _details(exc.details)
    if status == 403 or (status == 400 and _key_invalid(details, message)):
        return key_rejected(status, key_env, who)
    err = classify_status(status, message, getattr(exc.response, "headers", None), key_env, who)
    if isinstance(err, TransientError) and err.retry_after is None:
        err.retry_after = _retry_delay(details)
    return err


def _details(body: Any) -> list[dict[str, Any]]:
    """The google.rpc detail objects of an error body ({"error": {"details": [...]}})."""
    error = body.get("error") if isinstance(body, dict) else None
    found = error.get("details") if isinstance(error, dict) else None
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []


def _key_invalid(details: list[dict[str, Any]], message: str) -> bool:
    return (any(d.get("reason") == "API_KEY_INVALID" for d in details)
            or "api key not valid" in message.lower())


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    """Seconds of a RetryInfo detail's retryDelay ("37s", "0.5s"), the wait a 429 asks for."""
    for d in details:
        if str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _RETRY_DELAY.match(str(d.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None
