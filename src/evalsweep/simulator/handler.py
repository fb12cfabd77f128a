"""The one request path of every model endpoint (OpenAI, Anthropic, Gemini): checks, API key,
injected faults, then the answer.

`Simulator` owns the config, the counters and the fault draw; the wire modules turn its answer into
each format's JSON.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from typing import Any

from aiohttp import web

import evalsweep.simulator.behaviours as behaviours
import evalsweep.simulator.judge as judge
import evalsweep.simulator.structured as structured
from evalsweep.simulator.answers import (ReplyTokens, apply_stop, count_tokens, parse_question, reasoning_tokens,
                                         truncate_to_tokens)
from evalsweep.simulator.anthropic_wire import (
    ANTHROPIC_ERRORS,
    anthropic_payload,
    anthropic_usage,
    parse_anthropic,
    thinking_block,
)
from evalsweep.simulator.config import SimulatorConfig
from evalsweep.simulator.counters import RATE_LIMITED, SimState
import evalsweep.simulator.gemini_wire as gemini_wire
from evalsweep.simulator.gemini_wire import BAD_KEY_MESSAGE, KEY_HEADER, gemini_error, gemini_payload, parse_gemini
from evalsweep.simulator.logprobs import as_gemini, token_logprobs
import evalsweep.simulator.openai_wire as openai_wire
from evalsweep.simulator.openai_wire import OPENAI_ERRORS, openai_payload, parse_openai
from evalsweep.simulator.parsing import BadRequest, ParsedRequest
from evalsweep.simulator.prompt_cache import PromptCache
from evalsweep.simulator.ratelimit import Verdict, WindowLimit, anthropic_headers, openai_headers
from evalsweep.simulator.replies import json_response, send_chunked

OPENAI = "openai"
ANTHROPIC = "anthropic"
GEMINI = "gemini"


_FAULT_MESSAGES: dict[int, str] = {
    429: "Rate limit reached (simulated by evalsweep).",
    500: "The server had an error while processing your request (simulated by evalsweep).",
    503: "The service is temporarily unavailable (simulated by evalsweep).",
    529: "Overloaded (simulated by evalsweep).",
}


# Status-200 replies that are not the API's JSON (drawn like the other faults).
_REPLY_FAULTS = frozenset({"invalid_json", "empty_body", "error_body_200", "oversize"})


class Simulator:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.state = SimState(config.faults.fault_seed)
        self._thresholds = config.faults.thresholds()
        self._latency_s = config.latency_ms / 1000.0
        self._jitter_s = config.latency_jitter_ms / 1000.0
        self.prompt_cache = PromptCache()  # Anthropic's breakpoints; OpenAI's and Gemini's automatic
        limit = config.faults.rate_limit
        self._limit = WindowLimit(limit) if limit is not None else None

    # -- helpers ---------------------------------------------------------------------------

    def _error(
        self, fmt: str, status: int, message: str, headers: dict[str, str], code: str | None = None,
        kind: str | None = None, retry_after_s: float | None = None,
    ) -> web.Response:
        """An error reply in fmt's shape, counted as a fault of `kind` (default: its status)."""
        wait = self.config.faults.retry_after_s if status in (429, 529) else None
        if retry_after_s is not None:
            wait = retry_after_s
        if fmt == GEMINI:
            # The Gemini API says how long to wait in the body (RetryInfo), not in a header.
            body: dict[str, Any] = gemini_error(status, message, retry_after_s=wait, reason=code)
            self.state.fault(kind or str(status))
            return json_response(body, status, headers)
        if wait is not None:
            headers["retry-after"] = f"{wait:g}"
            headers["retry-after-ms"] = f"{wait * 1000:g}"
        if fmt == OPENAI:
            etype, default_code = OPENAI_ERRORS[status]
            body = {
                "error": {"message": message, "type": etype, "param": None, "code": code or default_code}
            }
        else:
            body = {"type": "error", "error": {"type": ANTHROPIC_ERRORS[status], "message": message}}
        self.state.fault(kind or str(status))
        return json_response(body, status, headers)

    async def _sleep(self, raw: bytes) -> None:
        delay = self._latency_s
        if self._jitter_s:
            # Deterministic per request body, so a rerun sees the same timings.
            h = int.from_bytes(hashlib.sha256(raw).digest()[:8], "big") / 2.0**64
            delay += h * self._jitter_s
        if delay > 0:
            await asyncio.sleep(delay)

    def _served(self, model: str) -> str:
        """The model a reply says answered: the requested one, or FaultConfig.served_model."""
        return self.config.faults.served_model or model

    # -- the one request path for every format --------------------------------------------

    async def handle(self, request: web.Request, fmt: str) -> web.Response:
        state = self.state
        state.begin()
        request_id = secrets.token_hex(12)
        headers = {"request-id" if fmt == ANTHROPIC else "x-request-id": request_id}
        try:
            raw = await request.read()
            await self._sleep(raw)
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                return self._error(fmt, 400, f"Malformed JSON body: {exc}", headers)
            if not isinstance(body, dict):
                return self._error(fmt, 400, "The request body must be a JSON object.", headers)
            # Gemini names the model in the URL (/v1beta/models/{model}:generateContent).
            model = request.match_info.get("model") if fmt == GEMINI else body.get("model")
            if not isinstance(model, str) or not model:
                return self._error(fmt, 400, "`model` is required and must be a string.", headers)
            state.saw_model(model)

            expected = self.config.faults.require_api_key
            if expected is not None and _api_key(request, fmt) != expected:
                if fmt == GEMINI:  # the Gemini API answers a wrong key with 400 API_KEY_INVALID
                    return self._error(fmt, 400, BAD_KEY_MESSAGE, headers, code="API_KEY_INVALID", kind="401")
                return self._error(fmt, 401, "Invalid API key (evalsweep simulator).", headers)

            if body.get("stream"):
                return self._error(fmt, 400, "The evalsweep simulator does not support streaming.", headers)
            try:
                parsed = _parse(fmt, body, request)
            except BadRequest as exc:
                return self._error(fmt, 400, str(exc), headers)
            state.saw_format(fmt, parsed.structured.wire if parsed.structured is not None else None)

            if self._limit is not None:
                verdict = self._limit.admit(parsed.input_tokens + (parsed.max_tokens or 0))
                refused = self._rate_limited(fmt, verdict, headers)
                if refused is not None:
                    return refused

            faults = self.config.faults
            if faults.max_prompt_chars is not None and parsed.chars > faults.max_prompt_chars:
                return self._error(
                    fmt,
                    400,
                    f"The prompt is too long: {parsed.chars} characters, "
                    f"the maximum is {faults.max_prompt_chars}.",
                    headers,
                    code="context_length_exceeded",
                )
            if faults.poison_substring is not None and faults.poison_substring in parsed.last_user:
                return self._error(fmt, 500, _FAULT_MESSAGES[500], headers)
            if self._thresholds:
                r = state.draw()
                for upper, kind in self._thresholds:
                    if r < upper:
                        if kind == "drop":
                            state.fault("drop")
                            # Closing the transport makes aiohttp skip the response quietly.
                            if request.transport is not None:
                                request.transport.close()
                            return web.Response(status=500)
                        if kind in _REPLY_FAULTS:
                            state.fault(kind)
                            return await self._bad_reply(kind, request, fmt, model, parsed, headers)
                        status = int(kind)
                        return self._error(fmt, status, _FAULT_MESSAGES[status], headers)

            response = self._respond(fmt, model, parsed, headers)
            state.ok()
            return response
        finally:
            state.end()

    def _rate_limited(self, fmt: str, verdict: Verdict, headers: dict[str, str]) -> web.Response | None:
        """The rate limit's headers added to this reply; the 429 when the request is over the limit."""
        if fmt == OPENAI:
            headers.update(openai_headers(verdict))
        elif fmt == ANTHROPIC:
            headers.update(anthropic_headers(verdict))
        if verdict.admitted:
            self.state.admitted(verdict.window)
            return None
        message = f"Rate limit reached for {verdict.over} (simulated by evalsweep)."
        # The wait until the window's end: retry-after (and -ms) headers, or Gemini's RetryInfo.
        return self._error(fmt, 429, message, headers, kind=RATE_LIMITED, retry_after_s=verdict.retry_after_s)

    async def _bad_reply(self, kind: str, request: web.Request, fmt: str, model: str, p: ParsedRequest,
                         headers: dict[str, str]) -> web.StreamResponse:
        """A status-200 reply that is not what the API sends (FaultConfig.rate_invalid_json, ...)."""
        if kind == "empty_body":
            return web.Response(body=b"", status=200, headers=headers, content_type="application/json")
        if kind == "error_body_200":
            message = "The server had an error while processing your request (simulated by evalsweep, sent with 200)."
            if fmt == GEMINI:
                body: dict[str, Any] = gemini_error(500, message)
            elif fmt == OPENAI:
                body = {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
            else:
                body = {"type": "error", "error": {"type": "api_error", "message": message}}
            return json_response(body, 200, headers)
        if kind == "invalid_json":
            raw = self._respond(fmt, model, p, headers).body
            assert isinstance(raw, bytes)
            return web.Response(body=raw[: len(raw) // 2], status=200, headers=headers, content_type="application/json")
        # oversize: a well-formed answer padded to oversize_bytes, max_tokens ignored.
        faults = self.config.faults
        full = self._respond(fmt, model, p, headers, pad_to=faults.oversize_bytes)
        if not faults.oversize_chunked:
            return full
        return await send_chunked(request, full)

    def _respond(self, fmt: str, model: str, p: ParsedRequest, headers: dict[str, str],
                 pad_to: int | None = None) -> web.Response:
        profile = self.config.profile_for(model)
        served = self._served(model)
        task = judge.parse_task(p.question)
        verdict: judge.Verdict | None = None
        correct: bool | None = None
        if task is not None:
            verdict = judge.judge(task, accuracy=profile.effective_judge_accuracy(), seed=p.seed,
                                  temperature=p.temperature)
            text = judge.text_reply(task, verdict)
        else:
            reply = behaviours.respond(p, profile)
            text, correct = reply.text, reply.correct
        if p.structured is not None:
            obj = self._structured_object(p, text, correct, verdict)
            return self._structured_payload(fmt, model, p, obj, headers)
        text, stopped_by = apply_stop(text, p.stop)
        truncated = False
        # A reasoning model (or Claude with thinking on) thinks first, within max_tokens and its
        # thinking budget: what is left is the visible answer's.
        thinking = reasoning_tokens(text) if profile.reasoning or p.thinking_budget is not None else 0
        if p.thinking_budget is not None:
            thinking = min(thinking, p.thinking_budget)
        if p.max_tokens is not None:
            thinking = min(thinking, p.max_tokens)
            text, truncated = truncate_to_tokens(text, p.max_tokens - thinking)
        input_tokens = max(1, p.input_tokens)
        if pad_to is not None:  # the oversize fault: the answer, then filler up to pad_to characters
            filler = " and so on"
            text = (text + filler * (max(0, pad_to - len(text)) // len(filler) + 1))[:pad_to]
            output_tokens, truncated, stopped_by = max(1, len(text) // 4), False, None
        else:
            output_tokens = count_tokens(text) if thinking else max(1, count_tokens(text))
        if fmt == OPENAI:
            tokens = ReplyTokens(input_tokens, output_tokens, thinking, self._auto_cached(fmt, model, p))
            return json_response(openai_payload(served, headers, text, "length" if truncated else "stop", tokens,
                                                logprobs=_logprobs(p, text, correct)), 200, headers)
        if fmt == GEMINI:  # a stop sequence ends a Gemini reply with STOP too
            logprobs = _logprobs(p, text, correct)
            tokens = ReplyTokens(input_tokens, output_tokens, thinking, self._auto_cached(fmt, model, p))
            return json_response(gemini_payload(served, headers["x-request-id"], text,
                                                "MAX_TOKENS" if truncated else "STOP", tokens,
                                                as_gemini(logprobs, p.logprobs or 0) if logprobs else None),
                                 200, headers)
        if truncated:
            stop_reason = "max_tokens"
        elif stopped_by is not None:
            stop_reason = "stop_sequence"
        else:
            stop_reason = "end_turn"
        content = [{"type": "text", "text": text}]
        if p.thinking_budget is not None:
            content.insert(0, thinking_block(thinking))
        payload = anthropic_payload(served, headers, content, stop_reason, input_tokens, output_tokens + thinking,
                                    self._anthropic_usage(model, p, output_tokens + thinking, thinking))
        payload["stop_sequence"] = stopped_by if stop_reason == "stop_sequence" else None
        return json_response(payload, 200, headers)

    def _auto_cached(self, fmt: str, model: str, p: ParsedRequest) -> int:
        """The prompt tokens OpenAI's or Gemini's automatic caching of long prompts would read."""
        if fmt == OPENAI:
            return self.prompt_cache.automatic(model, p.all_texts, min_tokens=openai_wire.CACHE_MIN_TOKENS,
                                               step=openai_wire.CACHE_STEP)
        return self.prompt_cache.automatic(model, p.all_texts, min_tokens=gemini_wire.CACHE_MIN_TOKENS)

    def _anthropic_usage(self, model: str, p: ParsedRequest, output_tokens: int, thinking: int) -> dict[str, Any]:
        """Thinking inside output_tokens; the prompt-cache breakpoints' tokens written or read beside input_tokens."""
        written, read, covered = self.prompt_cache.use(model, p.cache_prefixes)
        return anthropic_usage(max(1, p.input_tokens - covered) if covered else max(1, p.input_tokens),
                               output_tokens, thinking_tokens=thinking, cache=(written, read))

    # -- structured answers ----------------------------------------------------------------

    def _structured_object(self, p: ParsedRequest, text: str, correct: bool | None,
                           verdict: judge.Verdict | None) -> Any:
        """The object the simulated model returns: valid, or spoiled on purpose (see FaultConfig)."""
        ask = p.structured
        assert ask is not None
        u, pick = structured.invalid_draw(p.question, ask.name, p.seed, p.temperature)
        if verdict is not None:
            ctx = structured.FillContext(answer="correct" if verdict.says_correct else "incorrect",
                                         reasoning=verdict.explanation,
                                         confidence=structured.confidence_for(True, pick),
                                         verdict=verdict.says_correct)
        else:
            final = text.rsplit("Answer:", 1)[-1].strip()
            working = text.split("\n")[0] if "\n" in text else f"The answer is {final}."
            ctx = structured.FillContext(answer=final, reasoning=working,
                                         confidence=structured.confidence_for(correct, pick))
        obj = structured.fill(ask.schema, ctx)
        faults = self.config.faults
        never = faults.invalid_structured_substring is not None and any(
            faults.invalid_structured_substring in t for t in p.all_texts)
        if never or (not p.reask and u < faults.invalid_structured_rate):
            self.state.invalid_structured()
            return structured.spoil(obj, ask.schema, pick)
        return obj

    def _structured_payload(self, fmt: str, model: str, p: ParsedRequest, obj: Any,
                            headers: dict[str, str]) -> web.Response:
        ask = p.structured
        assert ask is not None
        served = self._served(model)
        body = json.dumps(obj, ensure_ascii=False)
        input_tokens = max(1, p.input_tokens)
        output_tokens = max(1, count_tokens(body.replace(",", ", ")))
        if ask.wire == "text":
            # The JSON-from-text fallback: answer the way chat models often do, in a fenced block.
            body = f"```json\n{body}\n```"
        if fmt == OPENAI:
            tokens = ReplyTokens(input_tokens, output_tokens, cached=self._auto_cached(fmt, model, p))
            return json_response(openai_payload(served, headers, body, "stop", tokens), 200, headers)
        if fmt == GEMINI:  # JSON mode: the object is the reply's text
            tokens = ReplyTokens(input_tokens, output_tokens, cached=self._auto_cached(fmt, model, p))
            return json_response(gemini_payload(served, headers["x-request-id"], body, "STOP", tokens), 200, headers)
        thinking = min(reasoning_tokens(body), p.thinking_budget) if p.thinking_budget is not None else 0
        usage = self._anthropic_usage(model, p, output_tokens + thinking, thinking)
        lead = [thinking_block(thinking)] if p.thinking_budget is not None else []
        if ask.wire == "anthropic_tool":
            block = {"type": "tool_use", "id": f"toolu_sim_{headers['request-id']}", "name": ask.name, "input": obj}
            payload = anthropic_payload(served, headers, [*lead, block], "tool_use", input_tokens, output_tokens, usage)
        else:
            payload = anthropic_payload(served, headers, [*lead, {"type": "text", "text": body}], "end_turn",
                                        input_tokens, output_tokens, usage)
        return json_response(payload, 200, headers)


def _logprobs(p: ParsedRequest, text: str, correct: bool | None) -> dict[str, Any] | None:
    """The reply's token logprobs when the request asked for them (evalsweep.simulator.logprobs)."""
    if p.logprobs is None:
        return None
    q = parse_question(p.question)
    right = None if q is None else (q.correct_letter or str(q.value))
    stated = text.rsplit("Answer:", 1)[-1].strip().rstrip(".") if text.strip() else None
    return token_logprobs(text, answer=stated, right=right, correct=correct, top=p.logprobs,
                          key=f"{p.question}\x00{p.seed}\x00{p.temperature}")


def _parse(fmt: str, body: dict[str, Any], request: web.Request) -> ParsedRequest:
    if fmt == OPENAI:
        return parse_openai(body)
    if fmt == GEMINI:
        return parse_gemini(body)
    return parse_anthropic(body, request)


def _api_key(request: web.Request, fmt: str) -> str | None:
    if fmt == GEMINI:  # the header the SDK sends, or the REST docs' ?key=
        return request.headers.get(KEY_HEADER) or request.query.get("key")
    if fmt == ANTHROPIC:
        key = request.headers.get("x-api-key")
        if key is not None:
            return key
    auth = request.headers.get("Authorization", "")
    return auth[7:] if auth.startswith("Bearer ") else None
