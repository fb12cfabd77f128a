"""Raw reply text -> a validated object, and validation errors as short text a model (and a
person reading results.jsonl) can act on."""

from __future__ import annotations

import json
import re
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)\n?```", re.DOTALL)
ERROR_MAX = 1000  # characters of a validation error kept on a row and shown in a re-ask


class NotJSON(ValueError):
    """The reply holds no JSON object at all."""


def extract_json(text: str) -> str:
    """The JSON object in a chat reply: the whole text, a fenced ```json block, or the first
    {...} that parses (models like to add a sentence before or after)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return stripped
    fenced = _FENCE.search(text)
    if fenced and fenced.group(1).strip().startswith("{"):
        return fenced.group(1).strip()
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            _, end = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        return text[m.start():end]
    raise NotJSON("the reply holds no JSON object")


def validate(model: type[M], text: str, *, from_text: bool) -> M:
    """Raises ValidationError (wrong object or malformed JSON) or NotJSON (no object at all)."""
    return model.model_validate_json(extract_json(text) if from_text else text)


def describe(exc: ValidationError | ValueError) -> str:
    """pydantic's error text without its documentation links, bounded in length."""
    if isinstance(exc, ValidationError):
        lines = [ln for ln in str(exc).splitlines() if "errors.pydantic.dev" not in ln]
        text = "\n".join(lines)
    else:
        text = f"validation error: {exc}"
    return text if len(text) <= ERROR_MAX else text[: ERROR_MAX - 3] + "..."
