"""Chat transcripts as dataset input (dataset.fields.messages): a row's list of {role, content}
turns, checked and held as plain (role, content) pairs. A value that is not such a list is one
error naming the file and row, never its Python repr sent as a question."""

from __future__ import annotations

import json
from typing import Any

from evalsweep.errors import DatasetError

ROLES = ("system", "user", "assistant")
Turns = tuple[tuple[str, str], ...]
TURN_SHAPE = "a list of {role, content} turns, roles system, user or assistant"


def kind(value: Any) -> str:
    """What a JSON value is, in the words of a data file."""
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "text" if isinstance(value, str) else type(value).__name__


def parse(value: Any, column: str, where: str) -> Turns:
    """The transcript held in a row's `column` (where: "file:line", for the error). A CSV cell,
    which can only hold text, holds the list as JSON."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise DatasetError(f"{where}: field '{column}' (the messages) is text, not a transcript: it must be "
                               f"{TURN_SHAPE} (in a CSV cell, as JSON)") from None
    if not isinstance(value, (list, tuple)) or not value:
        got = "an empty list" if isinstance(value, (list, tuple)) else kind(value)
        raise DatasetError(f"{where}: field '{column}' (the messages) must be {TURN_SHAPE}; got {got}")
    turns: list[tuple[str, str]] = []
    for n, turn in enumerate(value, start=1):
        at = f"{where}: turn {n} of '{column}'"
        if not isinstance(turn, dict):
            raise DatasetError(f"{at} is {kind(turn)}, not a {{role, content}} object")
        role = turn.get("role")
        if role not in ROLES:
            said = "has no role" if role is None else f"has role {role!r}"
            raise DatasetError(f"{at} {said}; each turn's role is system, user or assistant")
        content = turn.get("content")
        if not isinstance(content, str) or not content.strip():
            said = (f"has content that is {kind(content)}, not text"
                    if content is not None and not isinstance(content, str) else "has no content")
            raise DatasetError(f"{at} ({role}) {said}; each turn needs its text as 'content'")
        turns.append((role, content))
    if not any(role == "user" for role, _ in turns):
        raise DatasetError(f"{where}: the transcript in '{column}' has no user turn; a model is asked at least one")
    return tuple(turns)


def last_user(turns: Turns) -> str:
    """The transcript's last user turn: the sample's input ({input}, what a grader is shown)."""
    return next(content for role, content in reversed(turns) if role == "user")
