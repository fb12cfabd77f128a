"""OpenAI Chat Completions (and any OpenAI-compatible server: vLLM, Together, OpenRouter)."""

from __future__ import annotations

import time

import openai

from evalsweep.llm.errors import PermanentError, TransientError, classify_status
from evalsweep.llm.types import GenerateRequest, GenerateResponse, Usage
from evalsweep.structured.wire import openai_response_format


class OpenAIClient:
    def __init__(self, *, api_key: str, base_url: str | None, timeout_s: float, key_env: str | None,
                 extra_headers: dict[str, str] | None = None) -> None:
        # max_retries=0: tenacity is the one layer that retries, so every retry is counted.
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s)
        self._key_env = key_env
        self._extra_headers = extra_headers or {}

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        kwargs: dict = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.top_p is not None:
            kwargs["top_p"] = request.top_p
        if request.stop:
            kwargs["stop"] = request.stop
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.response_format is not None:  # a typed answer (evalsweep.structured)
            kwargs["response_format"] = openai_response_format(request.response_format)
        start = time.perf_counter()
        try:
            resp = await self._client.chat.completions.create(**kwargs, extra_headers=self._extra_headers or None)
        except openai.APIStatusError as exc:
            raise classify_status(exc.status_code, str(exc.message), exc.response.headers, self._key_env,
                                  "OpenAI") from exc
        except openai.APITimeoutError as exc:
            raise TransientError(f"request timed out: {exc}", status=None, cause="timeout") from exc
        except openai.APIConnectionError as exc:
            raise TransientError(f"connection error: {exc}", status=None, cause="connection") from exc
        except openai.APIError as exc:
            # Left after the cases above: a reply that does not parse as the API's response.
            raise PermanentError(f"unexpected response from OpenAI: {exc}", status=None, cause="bad_response") from exc
        if not resp.choices:
            raise PermanentError("OpenAI-compatible server returned no choices", status=None, cause="bad_response")
        choice = resp.choices[0]
        usage = resp.usage
        return GenerateResponse(
            text=choice.message.content or "",
            usage=Usage(
                input_tokens=usage.prompt_tokens if usage else 0,
                output_tokens=usage.completion_tokens if usage else 0,
            ),
            finish_reason=choice.finish_reason,
            request_id=getattr(resp, "_request_id", None) or resp.id,
            model=resp.model,
            latency_s=time.perf_counter() - start,
        )

    async def aclose(self) -> None:
        await self._client.close()
