"""A Gemini generateContent reply, read from its JSON (the REST shape the SDK hands back as text)
and checked part by part: the text of the first candidate without its thought parts, the finish
reason in the words the other providers use, and the tokens of usageMetadata.

Read here rather than through the SDK's response types: those refuse any field they do not know
(the API adds some), and the raw body lets a reply that is not a generateContent response be
reported with its first bytes, as for the other providers (evalsweep.llm.replies)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from evalsweep.llm.errors import TransientError
from evalsweep.llm.logprobs import from_gemini
from evalsweep.llm.replies import as_int, malformed
from evalsweep.llm.types import GenerateResponse, Usage

PROVIDER = "Gemini"

# Gemini's finish reasons in the OpenAI words (stop, length, content_filter) the rows already
# hold; any other is kept, lower-cased ("other", "language", "malformed_function_call", ...).
FINISH_REASONS: dict[str, str] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    **dict.fromkeys(("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
                     "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR"), "content_filter"),
}


def finish_reason(raw: str | None) -> str | None:
    if raw is None:
        return None
    return FINISH_REASONS.get(raw, raw.lower())


class _Wire(BaseModel):
    # camelCase on the wire; fields evalsweep does not read are ignored, not refused.
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)


class _Part(_Wire):
    text: str | None = None
    thought: bool | None = None  # a thinking model's summary of its thoughts: not the answer


class _Content(_Wire):
    parts: list[_Part] = []


class _Candidate(_Wire):
    content: _Content | None = None
    finish_reason: str | None = None
    logprobs_result: dict[str, Any] | None = None  # with responseLogprobs (evalsweep.llm.logprobs.from_gemini)


class _Feedback(_Wire):
    block_reason: str | None = None


class _Reply(_Wire):
    candidates: list[_Candidate] | None = None
    prompt_feedback: _Feedback | None = None
    usage_metadata: dict[str, Any] | None = None
    model_version: str | None = None
    response_id: str | None = None


@dataclass
class RawReply:
    """A status-200 reply as evalsweep.llm.replies.malformed reads one."""

    content: bytes
    headers: dict[str, str] = field(default_factory=dict)
    status_code: int = 200


def read_reply(raw: RawReply, latency_s: float) -> GenerateResponse:
    """The response, or a TransientError (retried) for a reply that is not a generateContent one."""
    try:
        data = json.loads(raw.content)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError; an empty body too
        raise _bad(raw, "not valid JSON") from None
    if not isinstance(data, dict):
        raise _bad(raw, "not a generateContent response: not an object")
    try:
        reply = _Reply.model_validate(data)
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise _bad(raw, f"a field of the wrong type: {where}") from None
    usage = reply.usage_metadata or {}
    # Thinking tokens are billed as output, as OpenAI's reasoning tokens are counted in completion_tokens:
    # added to output_tokens here, since candidatesTokenCount leaves them out, and recorded apart too.
    thoughts = as_int(usage.get("thoughtsTokenCount"))
    # Implicit caching's hits are inside promptTokenCount, as OpenAI's are.
    tokens = Usage.of_prompt(as_int(usage.get("promptTokenCount")), as_int(usage.get("cachedContentTokenCount")),
                             output_tokens=as_int(usage.get("candidatesTokenCount")) + thoughts,
                             reasoning_tokens=thoughts)
    common = {"usage": tokens, "request_id": reply.response_id, "model": reply.model_version, "latency_s": latency_s}
    if not reply.candidates:
        if reply.prompt_feedback is not None and reply.prompt_feedback.block_reason:
            # The prompt itself was blocked: an answer (no text), as a refusal is, not an error.
            return GenerateResponse(text="", finish_reason="content_filter", **common)
        raise _bad(raw, "not a generateContent response: no candidates")
    first = reply.candidates[0]
    if first.content is None and first.finish_reason is None:
        raise _bad(raw, "a candidate with neither content nor finishReason")
    parts = first.content.parts if first.content is not None else []
    text = "".join(p.text for p in parts if p.text and not p.thought)
    return GenerateResponse(text=text, finish_reason=finish_reason(first.finish_reason),
                            logprobs=from_gemini(first.logprobs_result), **common)


def _bad(raw: RawReply, problem: str) -> TransientError:
    return malformed(PROVIDER, raw, problem)
