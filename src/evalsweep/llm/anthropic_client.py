"""Anthropic Messages: system prompt as its own field, max_tokens required, content blocks."""

from __future__ import annotations

import time

import anthropic

from evalsweep.llm.errors import PermanentError, TransientError, classify_status
from evalsweep.llm.types import GenerateRequest, GenerateResponse, Usage
from evalsweep.structured.wire import anthropic_object_text, anthropic_tool_args


class AnthropicClient:
    def __init__(self, *, api_key: str, base_url: str | None, timeout_s: float, key_env: str | None,
                 simulated: bool = False) -> None:
        # max_retries=0: tenacity is the one layer that retries, so every retry is counted.
        self._client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s)
        self._key_env = key_env
        self._simulated = simulated

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        kwargs: dict = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": [
                {"role": m.role, "content": [{"type": "text", "text": m.content}]} for m in request.chat
            ],
        }
        if request.system:
            kwargs["system"] = request.system
        if request.stop:
            kwargs["stop_sequences"] = request.stop
        if request.response_format is not None:  # a typed answer (evalsweep.structured): a forced tool
            kwargs.update(anthropic_tool_args(request.response_format))
        if self._simulated:
            # The installed Messages API takes no temperature, top_p or seed; the simulator
            # reads them so that seeds sample differently, as a stochastic model would.
            extra = {"temperature": request.temperature, "top_p": request.top_p}
            kwargs["extra_body"] = {k: v for k, v in extra.items() if v is not None}
            if request.seed is not None:
                kwargs["extra_headers"] = {"x-evalsweep-seed": str(request.seed)}
        start = time.perf_counter()
        try:
            resp = await self._client.messages.create(**kwargs)
        except anthropic.APIStatusError as exc:
            raise classify_status(exc.status_code, str(exc.message), exc.response.headers, self._key_env,
                                  "Anthropic") from exc
        except anthropic.APITimeoutError as exc:
            raise TransientError(f"request timed out: {exc}", status=None, cause="timeout") from exc
        except anthropic.APIConnectionError as exc:
            raise TransientError(f"connection error: {exc}", status=None, cause="connection") from exc
        except anthropic.APIError as exc:
            # Left after the cases above: a reply that does not parse as the API's response.
            raise PermanentError(f"unexpected response from Anthropic: {exc}", status=None, cause="bad_response") from exc
        text = "".join(block.text for block in resp.content if getattr(block, "type", None) == "text")
        if request.response_format is not None:
            text = anthropic_object_text(resp.content, request.response_format) or text
        return GenerateResponse(
            text=text,
            usage=Usage(input_tokens=resp.usage.input_tokens, output_tokens=resp.usage.output_tokens),
            finish_reason=resp.stop_reason,
            request_id=getattr(resp, "_request_id", None) or resp.id,
            model=resp.model,
            latency_s=time.perf_counter() - start,
        )

    async def aclose(self) -> None:
        await self._client.close()
