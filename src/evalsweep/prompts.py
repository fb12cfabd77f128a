"""Prompt templates -> chat messages. Placeholders are filled from the sample's fields."""

from __future__ import annotations

import string
from typing import Any

from evalsweep.config import PromptConfig
from evalsweep.data import Sample
from evalsweep.errors import PromptError
from evalsweep.llm.types import Message

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _fields(sample: Sample) -> dict[str, Any]:
    choices = ""
    if sample.choices:
        choices = "\n\n" + "\n".join(f"{LETTERS[i]}) {c}" for i, c in enumerate(sample.choices))
    fields: dict[str, Any] = {"id": sample.id, "input": sample.input, "target": sample.target, "choices": choices}
    fields.update({k: v for k, v in sample.metadata.items() if k not in fields})
    return fields


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def check_templates(prompt: PromptConfig, sample: Sample) -> None:
    """Fail before any call when a template names a field no sample has."""
    known = set(_fields(sample))
    for where, template in (("system", prompt.system or ""), ("user", prompt.user)):
        unknown = placeholders(template) - known
        if unknown:
            raise PromptError(
                f"prompt '{prompt.name}': unknown placeholder {{{sorted(unknown)[0]}}} in prompt.{where}; "
                f"available: {', '.join('{' + k + '}' for k in sorted(known))}"
            )


def render(prompt: PromptConfig, sample: Sample) -> list[Message]:
    fields = _fields(sample)
    messages: list[Message] = []
    if prompt.system:
        messages.append(Message(role="system", content=prompt.system.format_map(fields)))
    for shot in prompt.few_shot:
        messages.append(Message(role="user", content=shot.user))
        messages.append(Message(role="assistant", content=shot.assistant))
    messages.append(Message(role="user", content=prompt.user.format_map(fields)))
    return messages
