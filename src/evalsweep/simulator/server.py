"""aiohttp server speaking the OpenAI Chat Completions and Anthropic Messages wire formats.

`SimulatorServer` runs the app on its own event loop in a daemon thread, so a job's asyncio loop
and the simulator never share a loop (a blocked job cannot stall the server and vice versa).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

import evalsweep.simulator.judge as judge
import evalsweep.simulator.structured as structured
from evalsweep.simulator.answers import answer, apply_stop, count_tokens, truncate_to_tokens, wants_cot
from evalsweep.simulator.config import FAULT_KINDS, SimulatorConfig

OPENAI = "openai"
ANTHROPIC = "anthropic"
SEED_HEADER = "x-evalsweep-seed"
MARK_HEADER = "x-evalsweep-simulator"


class SimStats(BaseModel):
    """Counters of the two model endpoints since start or the last reset."""

    requests_total: int = 0
    responses_ok: int = 0
    faults: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))
    by_model: dict[str, int] = Field(default_factory=dict)
    max_in_flight: int = 0
    in_flight: int = 0
    # Structured answers spoiled on purpose (FaultConfig.invalid_structured_*).
    invalid_structured: int = 0


class _BadRequest(Exception):
    """A request the real API would reject with 400."""


class _State:
    """Counters and the fault RNG; mutated on the server loop, read from any thread."""

    def __init__(self, fault_seed: int) -> None:
        self._lock = threading.Lock()
        self._fault_seed = fault_seed
        self.in_flight = 0
        self._zero()

    def _zero(self) -> None:
        self.requests_total = 0
        self.responses_ok = 0
        self.faults = dict.fromkeys(FAULT_KINDS, 0)
        self.by_model: dict[str, int] = {}
        self.max_in_flight = self.in_flight
        self.invalid_structured_count = 0
        self.rng = random.Random(self._fault_seed)

    def reset(self) -> None:
        # Also restarts the fault sequence, so a reset server replays the same faults.
        with self._lock:
            self._zero()

    def begin(self) -> None:
        with self._lock:
            self.requests_total += 1
            self.in_flight += 1
            if self.in_flight > self.max_in_flight:
                self.max_in_flight = self.in_flight

    def end(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def saw_model(self, model: str) -> None:
        with self._lock:
            self.by_model[model] = self.by_model.get(model, 0) + 1

    def ok(self) -> None:
        with self._lock:
            self.responses_ok += 1

    def invalid_structured(self) -> None:
        with self._lock:
            self.invalid_structured_count += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def draw(self) -> float:
        with self._lock:
            return self.rng.random()

    def snapshot(self) -> SimStats:
        with self._lock:
            return SimStats(
                requests_total=self.requests_total,
                responses_ok=self.responses_ok,
                faults=dict(self.faults),
                by_model=dict(self.by_model),
                max_in_flight=self.max_in_flight,
                in_flight=self.in_flight,
                invalid_structured=self.invalid_structured_count,
            )


# --- wire-format errors -------------------------------------------------------------------

_OPENAI_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "service_unavailable"),
    529: ("overloaded_error", None),
}
_ANTHROPIC_ERRORS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}
_FAULT_MESSAGES: dict[int, str] = {
    429: "Rate limit reached (simulated by evalsweep).",
    500: "The server had an error while processing your request (simulated by evalsweep).",
    503: "The service is temporarily unavailable (simulated by evalsweep).",
    529: "Overloaded (simulated by evalsweep).",
}


def _json(payload: dict[str, Any], status: int, headers: dict[str, str]) -> web.Response:
    return web.Response(
        body=json.dumps(payload).encode(), status=status, headers=headers, content_type="application/json"
    )


# Status-200 replies that are not the API's JSON (drawn like the other faults).
_REPLY_FAULTS = frozenset({"invalid_json", "empty_body", "error_body_200", "oversize"})
_CHUNK = 64 * 1024


async def _send_chunked(request: web.Request, full: web.Response) -> web.StreamResponse:
    """`full`'s body sent in chunks without Content-Length, so only what a client reads tells its size."""
    body = full.body
    assert isinstance(body, bytes)
    headers = {k: v for k, v in full.headers.items() if k.lower() not in ("content-length", "content-type")}
    resp = web.StreamResponse(status=full.status, headers=headers)
    resp.content_type = "application/json"
    resp.enable_chunked_encoding()
    try:
        await resp.prepare(request)
        for i in range(0, len(body), _CHUNK):
            await resp.write(body[i:i + _CHUNK])
        await resp.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass  # the client stopped reading (e.g. its size limit): nothing more to send
    return resp


class _Simulator:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.state = _State(config.faults.fault_seed)
        self._thresholds = config.faults.thresholds()
        self._latency_s = config.latency_ms / 1000.0
        self._jitter_s = config.latency_jitter_ms / 1000.0

    # -- helpers ---------------------------------------------------------------------------

    def _error(
        self, fmt: str, status: int, message: str, headers: dict[str, str], code: str | None = None
    ) -> web.Response:
        if status in (429, 529) and self.config.faults.retry_after_s is not None:
            s = self.config.faults.retry_after_s
            headers["retry-after"] = f"{s:g}"
            headers["retry-after-ms"] = f"{s * 1000:g}"
        if fmt == OPENAI:
            etype, default_code = _OPENAI_ERRORS[status]
            body: dict[str, Any] = {
                "error": {"message": message, "type": etype, "param": None, "code": code or default_code}
            }
        else:
            body = {"type": "error", "error": {"type": _ANTHROPIC_ERRORS[status], "message": message}}
        self.state.fault(str(status))
        return _json(body, status, headers)

    async def _sleep(self, raw: bytes) -> None:
        delay = self._latency_s
        if self._jitter_s:
            # Deterministic per request body, so a rerun sees the same timings.
            h = int.from_bytes(hashlib.sha256(raw).digest()[:8], "big") / 2.0**64
            delay += h * self._jitter_s
        if delay > 0:
            await asyncio.sleep(delay)

    # -- the one request path for both formats ---------------------------------------------

    async def handle(self, request: web.Request, fmt: str) -> web.Response:
        state = self.state
        state.begin()
        request_id = secrets.token_hex(12)
        headers = {"x-request-id" if fmt == OPENAI else "request-id": request_id}
        try:
            raw = await request.read()
            await self._sleep(raw)
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                return self._error(fmt, 400, f"Malformed JSON body: {exc}", headers)
            if not isinstance(body, dict):
                return self._error(fmt, 400, "The request body must be a JSON object.", headers)
            model = body.get("model")
            if not isinstance(model, str) or not model:
                return self._error(fmt, 400, "`model` is required and must be a string.", headers)
            state.saw_model(model)

            expected = self.config.faults.require_api_key
            if expected is not None and _api_key(request, fmt) != expected:
                return self._error(fmt, 401, "Invalid API key (evalsweep simulator).", headers)

            if body.get("stream"):
                return self._error(fmt, 400, "The evalsweep simulator does not support streaming.", headers)
            try:
                parsed = _parse_openai(body) if fmt == OPENAI else _parse_anthropic(body, request)
            except _BadRequest as exc:
                return self._error(fmt, 400, str(exc), headers)

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

    async def _bad_reply(self, kind: str, request: web.Request, fmt: str, model: str, p: _Parsed,
                         headers: dict[str, str]) -> web.StreamResponse:
        """A status-200 reply that is not what the API sends (FaultConfig.rate_invalid_json, ...)."""
        if kind == "empty_body":
            return web.Response(body=b"", status=200, headers=headers, content_type="application/json")
        if kind == "error_body_200":
            message = "The server had an error while processing your request (simulated by evalsweep, sent with 200)."
            body: dict[str, Any] = (
                {"error": {"message": message, "type": "server_error", "param": None, "code": None}} if fmt == OPENAI
                else {"type": "error", "error": {"type": "api_error", "message": message}})
            return _json(body, 200, headers)
        if kind == "invalid_json":
            raw = self._respond(fmt, model, p, headers).body
            assert isinstance(raw, bytes)
            return web.Response(body=raw[: len(raw) // 2], status=200, headers=headers, content_type="application/json")
        # oversize: a well-formed answer padded to oversize_bytes, max_tokens ignored.
        faults = self.config.faults
        full = self._respond(fmt, model, p, headers, pad_to=faults.oversize_bytes)
        if not faults.oversize_chunked:
            return full
        return await _send_chunked(request, full)

    def _respond(self, fmt: str, model: str, p: _Parsed, headers: dict[str, str],
                 pad_to: int | None = None) -> web.Response:
        profile = self.config.profile_for(model)
        task = judge.parse_task(p.question)
        verdict: judge.Verdict | None = None
        correct: bool | None = None
        if task is not None:
            verdict = judge.judge(task, accuracy=profile.effective_judge_accuracy(), seed=p.seed,
                                  temperature=p.temperature)
            text = judge.text_reply(task, verdict)
        else:
            cot = wants_cot(p.cot_texts)
            reply = answer(
                p.question,
                accuracy=profile.effective_accuracy(cot),
                cot=cot,
                seed=p.seed,
                temperature=p.temperature,
            )
            text, correct = reply.text, reply.correct
        if p.structured is not None:
            obj = self._structured_object(p, text, correct, verdict)
            return self._structured_payload(fmt, model, p, obj, headers)
        text, stopped_by = apply_stop(text, p.stop)
        truncated = False
        if p.max_tokens is not None:
            text, truncated = truncate_to_tokens(text, p.max_tokens)
        input_tokens = max(1, p.input_tokens)
        if pad_to is not None:  # the oversize fault: the answer, then filler up to pad_to characters
            filler = " and so on"
            text = (text + filler * (max(0, pad_to - len(text)) // len(filler) + 1))[:pad_to]
            output_tokens, truncated, stopped_by = max(1, len(text) // 4), False, None
        else:
            output_tokens = max(1, count_tokens(text))
        if fmt == OPENAI:
            return _json(_openai_payload(model, headers, text, "length" if truncated else "stop",
                                         input_tokens, output_tokens), 200, headers)
        if truncated:
            stop_reason = "max_tokens"
        elif stopped_by is not None:
            stop_reason = "stop_sequence"
        else:
            stop_reason = "end_turn"
        payload = _anthropic_payload(model, headers, [{"type": "text", "text": text}], stop_reason,
                                     input_tokens, output_tokens)
        payload["stop_sequence"] = stopped_by if stop_reason == "stop_sequence" else None
        return _json(payload, 200, headers)

    # -- structured answers ----------------------------------------------------------------

    def _structured_object(self, p: _Parsed, text: str, correct: bool | None,
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

    def _structured_payload(self, fmt: str, model: str, p: _Parsed, obj: Any,
                            headers: dict[str, str]) -> web.Response:
        ask = p.structured
        assert ask is not None
        body = json.dumps(obj, ensure_ascii=False)
        input_tokens = max(1, p.input_tokens)
        output_tokens = max(1, count_tokens(body.replace(",", ", ")))
        if ask.wire == "text":
            # The JSON-from-text fallback: answer the way chat models often do, in a fenced block.
            body = f"```json\n{body}\n```"
        if fmt == OPENAI:
            return _json(_openai_payload(model, headers, body, "stop", input_tokens, output_tokens), 200, headers)
        if ask.wire == "anthropic_tool":
            block = {"type": "tool_use", "id": f"toolu_sim_{headers['request-id']}", "name": ask.name, "input": obj}
            payload = _anthropic_payload(model, headers, [block], "tool_use", input_tokens, output_tokens)
        else:
            payload = _anthropic_payload(model, headers, [{"type": "text", "text": body}], "end_turn",
                                         input_tokens, output_tokens)
        return _json(payload, 200, headers)


def _openai_payload(model: str, headers: dict[str, str], text: str, finish_reason: str, input_tokens: int,
                    output_tokens: int) -> dict[str, Any]:
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
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
        "system_fingerprint": "evalsweep-simulator",
    }


def _anthropic_payload(model: str, headers: dict[str, str], content: list[dict[str, Any]], stop_reason: str,
                       input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "id": f"msg_sim_{headers['request-id']}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


# --- request parsing ----------------------------------------------------------------------


class _Parsed:
    __slots__ = ("last_user", "question", "reask", "all_texts", "cot_texts", "chars", "input_tokens", "seed",
                 "temperature", "max_tokens", "stop", "structured")

    def __init__(
        self,
        system: list[str],
        turns: list[tuple[str, str]],
        seed: int | None,
        temperature: float,
        max_tokens: int | None,
        stop: list[str],
        structured_ask: structured.StructuredAsk | None = None,
    ) -> None:
        texts = system + [t for _, t in turns]
        self.last_user = next((t for role, t in reversed(turns) if role == "user"), "")
        # A re-ask (the last user turn shows a validation error) is about the question asked before it.
        self.reask = bool(structured.REASK_PATTERN.search(self.last_user))
        self.question = next((t for role, t in reversed(turns)
                              if role == "user" and not structured.REASK_PATTERN.search(t)), self.last_user)
        self.all_texts = texts
        self.cot_texts = system + [t for role, t in turns if role == "user"]
        self.chars = sum(len(t) for t in texts)
        self.input_tokens = count_tokens(" ".join(texts))
        self.seed = seed
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.stop = stop
        if structured_ask is None:
            # The JSON-from-text fallback: a schema quoted in the system prompt or the question.
            for t in [*system, self.question]:
                schema = structured.schema_from_text(t)
                if schema is not None:
                    structured_ask = structured.StructuredAsk(str(schema.get("title") or "response"), schema, "text")
                    break
        self.structured = structured_ask


def _content_text(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if not isinstance(block, dict):
                raise _BadRequest(f"{where}: content blocks must be objects.")
            kind = block.get("type")
            if kind == "text":
                text = block.get("text")
                if not isinstance(text, str):
                    raise _BadRequest(f"{where}: a text block needs a string `text`.")
                parts.append(text)
            elif kind == "tool_use":  # an earlier structured answer, sent back in a re-ask
                parts.append(json.dumps(block.get("input"), ensure_ascii=False))
            elif kind == "tool_result":  # e.g. the validation error of that answer
                parts.append(_content_text(block.get("content"), where))
        return "\n".join(parts)
    raise _BadRequest(f"{where}: content must be a string or a list of blocks.")


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _BadRequest("`messages` is required and must be a non-empty list.")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise _BadRequest(f"messages[{i}] must be an object with a string `role`.")
    return messages


def _number(body: dict[str, Any], key: str, default: float) -> float:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _BadRequest(f"`{key}` must be a number.")
    return float(value)


def _opt_int(value: Any, key: str, minimum: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _BadRequest(f"`{key}` must be an integer.")
    if minimum is not None and value < minimum:
        raise _BadRequest(f"`{key}` must be >= {minimum}.")
    return value


def _stop_list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return value
    raise _BadRequest(f"`{key}` must be a string or a list of strings.")


def _parse_openai(body: dict[str, Any]) -> _Parsed:
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    for i, m in enumerate(_messages(body)):
        text = _content_text(m.get("content"), f"messages[{i}]")
        if m["role"] in ("system", "developer"):
            system.append(text)
        else:
            turns.append((m["role"], text))
    max_tokens = _opt_int(body.get("max_completion_tokens"), "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _opt_int(body.get("max_tokens"), "max_tokens", 1)
    return _Parsed(
        system=system,
        turns=turns,
        seed=_opt_int(body.get("seed"), "seed"),
        temperature=_number(body, "temperature", 1.0),
        max_tokens=max_tokens,
        stop=_stop_list(body.get("stop"), "stop"),
        structured_ask=_openai_response_format(body.get("response_format"), system + [t for _, t in turns]),
    )


def _parse_anthropic(body: dict[str, Any], request: web.Request) -> _Parsed:
    max_tokens = _opt_int(body.get("max_tokens"), "max_tokens", 1)
    if max_tokens is None:
        raise _BadRequest("max_tokens: Field required")
    system = [_content_text(body["system"], "system")] if body.get("system") else []
    turns = [(m["role"], _content_text(m.get("content"), f"messages[{i}]")) for i, m in enumerate(_messages(body))]
    seed_header = request.headers.get(SEED_HEADER)
    if seed_header is not None:
        try:
            seed: int | None = int(seed_header)
        except ValueError:
            raise _BadRequest(f"Header {SEED_HEADER} must be an integer.") from None
    else:
        seed = _opt_int(body.get("seed"), "seed")
    stop = body.get("stop_sequences")
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise _BadRequest("`stop_sequences` must be a list of strings.")
    return _Parsed(
        system=system,
        turns=turns,
        seed=seed,
        temperature=_number(body, "temperature", 1.0),
        max_tokens=max_tokens,
        stop=stop or [],
        structured_ask=_anthropic_structured(body),
    )


def _schema(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _BadRequest(f"{where}: a JSON schema object is required.")
    return value


def _openai_response_format(value: Any, texts: list[str]) -> structured.StructuredAsk | None:
    """`response_format` as the Chat Completions API takes it: text, json_object or json_schema."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise _BadRequest("response_format: must be an object with a string `type`.")
    kind = value["type"]
    if kind == "text":
        return None
    if kind == "json_object":
        if not any("json" in t.lower() for t in texts):
            # What the real API says when JSON mode is asked for without the word in the prompt.
            raise _BadRequest("'messages' must contain the word 'json' in some form, to use "
                              "'response_format' of type 'json_object'.")
        schema = next((sc for t in texts if (sc := structured.schema_from_text(t)) is not None), None)
        return structured.StructuredAsk("json_object", schema or {"type": "object", "properties": {
            "answer": {"type": "string"}}}, "json_object")
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
            raise _BadRequest("response_format.json_schema: an object with a string `name` is required.")
        return structured.StructuredAsk(spec["name"], _schema(spec.get("schema"), "response_format.json_schema.schema"),
                                        "openai_json_schema")
    raise _BadRequest(f"response_format.type: unknown type {kind!r}; expected text, json_object or json_schema.")


def _anthropic_structured(body: dict[str, Any]) -> structured.StructuredAsk | None:
    """Tool use forced to one tool (the usual way to get an object from Claude), or
    `output_config.format` of type json_schema."""
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if tools is not None:
        if not isinstance(tools, list) or not all(isinstance(t, dict) and isinstance(t.get("name"), str)
                                                  for t in tools):
            raise _BadRequest("tools: a list of objects with a string `name` is required.")
        by_name = {t["name"]: t for t in tools}
        if choice is not None and (not isinstance(choice, dict) or choice.get("type") not in
                                   ("auto", "any", "tool", "none")):
            raise _BadRequest("tool_choice: an object with type auto, any, tool or none is required.")
        ctype = choice.get("type") if isinstance(choice, dict) else "auto"
        if ctype == "tool":
            name = choice.get("name")
            if name not in by_name:
                raise _BadRequest(f"tool_choice.name: no tool named {name!r} in `tools`.")
            tool = by_name[name]
        elif ctype in ("any", "auto") and tools:
            tool = tools[0]  # the simulated model always uses the (first) tool it is offered
        else:
            tool = None
        if tool is not None:
            return structured.StructuredAsk(tool["name"], _schema(tool.get("input_schema"),
                                                                  f"tools[{tool['name']}].input_schema"),
                                            "anthropic_tool")
    elif choice is not None:
        raise _BadRequest("tool_choice: may only be specified while providing tools.")
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if isinstance(fmt, dict):
        if fmt.get("type") != "json_schema":
            raise _BadRequest("output_config.format.type: expected 'json_schema'.")
        schema = _schema(fmt.get("schema"), "output_config.format.schema")
        return structured.StructuredAsk(str(schema.get("title") or "output"), schema, "anthropic_output_format")
    return None


def _api_key(request: web.Request, fmt: str) -> str | None:
    if fmt == ANTHROPIC:
        key = request.headers.get("x-api-key")
        if key is not None:
            return key
    auth = request.headers.get("Authorization", "")
    return auth[7:] if auth.startswith("Bearer ") else None


# --- app and background-thread handle -----------------------------------------------------

_SIM_KEY = web.AppKey("evalsweep_simulator", _Simulator)


def build_app(config: SimulatorConfig | None = None) -> web.Application:
    """The simulator as an aiohttp Application (for `aiohttp.web.run_app` or test clients)."""
    return _make_app(_Simulator(config or SimulatorConfig()))


def _make_app(sim: _Simulator) -> web.Application:
    app = web.Application(client_max_size=64 * 1024**2)
    app[_SIM_KEY] = sim

    def endpoint(fmt: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            return await sim.handle(request, fmt)

        return handler

    async def stats(_: web.Request) -> web.Response:
        return _json(sim.state.snapshot().model_dump(), 200, {})

    async def reset(_: web.Request) -> web.Response:
        sim.state.reset()
        return _json({"ok": True}, 200, {})

    async def health(_: web.Request) -> web.Response:
        return _json({"status": "ok", "simulator": True}, 200, {})

    async def mark(_: web.Request, response: web.StreamResponse) -> None:
        response.headers[MARK_HEADER] = "1"

    app.router.add_post("/v1/chat/completions", endpoint(OPENAI))
    app.router.add_post("/v1/messages", endpoint(ANTHROPIC))
    app.router.add_get("/_sim/stats", stats)
    app.router.add_post("/_sim/reset", reset)
    app.router.add_get("/health", health)
    app.on_response_prepare.append(mark)
    return app


def app_stats(app: web.Application) -> SimStats:
    """Counters of an app made by `build_app`."""
    return app[_SIM_KEY].state.snapshot()


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def start_site(app: web.Application, sock: socket.socket) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner


class SimulatorServer:
    """The simulator on its own event loop in a daemon thread.

    >>> with SimulatorServer(SimulatorConfig()) as srv:
    ...     client = openai.AsyncOpenAI(base_url=f"{srv.url}/v1", api_key="x")
    """

    def __init__(self, config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SimulatorConfig()
        self.host = host
        self.port = port
        # An aiohttp app is bound to one loop; the simulator (counters) survives a restart.
        self._sim = _Simulator(self.config)
        self._url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("SimulatorServer is not running; call start() first")
        return self._url

    def start(self) -> str:
        if self._thread is not None:
            raise RuntimeError("SimulatorServer already started")
        sock = bind_socket(self.host, self.port)
        self._url = url_of(sock)
        self.port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._runner = loop.run_until_complete(start_site(_make_app(self._sim), sock))
            except BaseException as exc:  # reported to start() below, then re-raised there
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"evalsweep-simulator-{self.port}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            self._url = None
            sock.close()
            raise failure[0]
        return self._url

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = None
        self._loop = None
        self._runner = None
        self._url = None

    def stats(self) -> SimStats:
        """A consistent snapshot of the counters; safe from any thread."""
        return self._sim.state.snapshot()

    def reset(self) -> None:
        """Zero the counters and restart the fault sequence from `fault_seed`."""
        self._sim.state.reset()

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
