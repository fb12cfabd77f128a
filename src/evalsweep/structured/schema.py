"""A response model as the wire formats want it: a name, a JSON schema, and for the JSON-from-text
fallback an instruction that quotes the schema."""

from __future__ import annotations

import json
import re

from pydantic import BaseModel

from evalsweep.llm.types import Message, ResponseFormat

# Both providers take names of letters, digits, "_" and "-" (OpenAI at most 64 of them).
_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]+")


def response_format_for(model: type[BaseModel]) -> ResponseFormat:
    name = _NAME_BAD.sub("_", model.__name__).strip("_")[:64] or "response"
    doc = (model.__doc__ or "").strip()
    # pydantic's own docstring on BaseModel subclasses without one is not a description.
    description = doc.splitlines()[0][:500] if doc and model.__doc__ is not BaseModel.__doc__ else None
    return ResponseFormat(name=name, description=description, json_schema=model.model_json_schema(), model=model)


def json_text_instruction(fmt: ResponseFormat) -> str:
    schema = json.dumps(fmt.json_schema, sort_keys=True, separators=(",", ":"))
    return (f"Reply with only a JSON object, no other text, that matches this JSON schema: {schema}")


def with_instruction(messages: list[Message], instruction: str) -> list[Message]:
    """The messages with the instruction added to the system prompt (the question itself is left
    as it is, so the structured ask is about the same text as a plain one)."""
    if messages and messages[0].role == "system":
        first = Message(role="system", content=f"{messages[0].content}\n\n{instruction}")
        return [first, *messages[1:]]
    return [Message(role="system", content=instruction), *messages]
