"""Request parsing shared by the wire formats: the parsed request and the field checks behind 400s."""

from __future__ import annotations

import json
from typing import Any

import evalsweep.simulator.structured as structured
from evalsweep.simulator.answers import count_tokens


class BadRequest(Exception):
    """A request the real API would reject with 400."""


class ParsedRequest:
    __slots__ = ("turns", "last_user", "question", "reask", "all_texts", "cot_texts", "chars", "input_tokens",
                 "seed", "temperature", "max_tokens", "stop", "structured", "thinking_budget", "cache_prefixes", "logprobs")

    def __init__(
        self,
        system: list[str],
        turns: list[tuple[str, str]],
        seed: int | None,
        temperature: float,
        max_tokens: int | None,
        stop: list[str],
        structured_ask: structured.StructuredAsk | None = None,
        logprobs: int | None = None,
    ) -> None:
        texts = system + [t for _, t in turns]
        # (role, text) of every message but the system prompt: pushback reads the earlier answer here.
        self.turns = turns
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
        # Token logprobs asked for: the number of top alternatives (0: the chosen tokens' only); None: not asked.
        self.logprobs = logprobs
        if structured_ask is None:
            # The JSON-from-text fallback: a schema quoted in the system prompt or the question.
            for t in [*system, self.question]:
                schema = structured.schema_from_text(t)
                if schema is not None:
                    structured_ask = structured.StructuredAsk(str(schema.get("title") or "response"), schema, "text")
                    break
        self.structured = structured_ask
        # Anthropic's thinking: None when off, else the most tokens it may think (its budget, or
        # max_tokens for adaptive); and the texts up to each cache_control breakpoint.
        self.thinking_budget: int | None = None
        self.cache_prefixes: list[str] = []


def content_text(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if not isinstance(block, dict):
                raise BadRequest(f"{where}: content blocks must be objects.")
            kind = block.get("type")
            if kind == "text":
                text = block.get("text")
                if not isinstance(text, str):
                    raise BadRequest(f"{where}: a text block needs a string `text`.")
                parts.append(text)
            elif kind == "tool_use":  # an earlier structured answer, sent back in a re-ask
                parts.append(json.dumps(block.get("input"), ensure_ascii=False))
            elif kind == "tool_result":  # e.g. the validation error of that answer
                parts.append(content_text(block.get("content"), where))
        return "\n".join(parts)
    raise BadRequest(f"{where}: content must be a string or a list of blocks.")


def message_list(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("`messages` is required and must be a non-empty list.")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise BadRequest(f"messages[{i}] must be an object with a string `role`.")
    return messages


def float_field(body: dict[str, Any], key: str, default: float) -> float:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"`{key}` must be a number.")
    return float(value)


def opt_int(value: Any, key: str, minimum: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"`{key}` must be an integer.")
    if minimum is not None and value < minimum:
        raise BadRequest(f"`{key}` must be >= {minimum}.")
    return value


def stop_list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return value
    raise BadRequest(f"`{key}` must be a string or a list of strings.")


def schema_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"{where}: a JSON schema object is required.")
    return value
