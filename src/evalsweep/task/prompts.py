"""Prompt templates -> chat messages. Placeholders are filled from the sample's fields.

A sample with a transcript (dataset.fields.messages) is sent as that transcript: the prompt's
system message (filled) goes first unless the transcript has a system turn of its own; the user
template and the few-shot turns are not applied (the transcript is the conversation)."""

from __future__ import annotations

import json
import string
from functools import lru_cache
from typing import Any

from evalsweep.config.task import PromptConfig
from evalsweep.task.data import Sample
from evalsweep.errors import PromptError
from evalsweep.llm.types import Message

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def template_fields(sample: Sample) -> dict[str, Any]:
    """What a template may name for this sample: {input}, {choices}, {id}, {target} and metadata
    (the prompt's templates and a solver's steps alike)."""
    choices = ""
    if sample.choices:
        choices = "\n\n" + "\n".join(f"{LETTERS[i]}) {c}" for i, c in enumerate(sample.choices))
    fields: dict[str, Any] = {"id": sample.id, "input": sample.input, "choices": choices}
    if sample.target is not None:  # without targets, {target} is an unknown placeholder, never "None"
        fields["target"] = sample.target
    fields.update({k: v for k, v in sample.metadata.items() if k not in fields})
    return fields


BRACES = "write {{ and }} for a literal { and } (e.g. JSON in a prompt)"


@lru_cache(maxsize=256)
def _parsed(template: str) -> tuple[tuple[str, str | None, str | None, str | None], ...]:
    """The template's parts (a pure function of the text: checking every sample parses it once)."""
    return tuple(string.Formatter().parse(template))


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in _parsed(template) if name}


def _templates(prompt: PromptConfig) -> list[tuple[str, str]]:
    return [(where, t) for where, t in (("system", prompt.system), ("user", prompt.user)) if t]


def _own_system(sample: Sample) -> bool:
    return sample.messages is not None and any(m.role == "system" for m in sample.messages)


def _applied(prompt: PromptConfig, sample: Sample) -> list[tuple[str, str]]:
    """The templates filled for this sample: for a transcript, only a system message it lacks."""
    if sample.messages is None:
        return _templates(prompt)
    return [] if _own_system(sample) or not prompt.system else [("system", prompt.system)]


def check_syntax(prompt: PromptConfig) -> None:
    """Fail on a template str.format cannot fill at all: a lone { or }, or an empty {} (which
    asks for a positional argument). Found here, not by the first render in the middle of a job."""
    for where, template in _templates(prompt):
        try:
            parsed = _parsed(template)
        except ValueError as exc:
            brace = "}" if "Single '}'" in str(exc) else "{"
            raise PromptError(f"prompt '{prompt.name}': a single '{brace}' in prompt.{where} "
                              f"({exc}); {BRACES}") from None
        if any(name is not None and name.strip() == "" or name is not None and name.isdigit()
               for _, name, _, _ in parsed):
            raise PromptError(f"prompt '{prompt.name}': a placeholder without a name ({{}} or {{0}}) in "
                              f"prompt.{where}; name a field, e.g. {{input}}, or {BRACES}")


def check_templates(prompt: PromptConfig, sample: Sample) -> None:
    """Fail before any call when a template cannot be filled for this sample: bad brace syntax,
    a placeholder naming a field no sample has, or a format spec the value does not take."""
    check_syntax(prompt)
    fields = template_fields(sample)
    known = set(fields)
    for where, template in _applied(prompt, sample):
        unknown = placeholders(template) - known
        if unknown:
            name = sorted(unknown)[0]
            # {"a": 1} or { "key": ... }: braces meant literally, not a field name with a typo.
            hint = f"; {BRACES}" if not name.split(".")[0].split("[")[0].isidentifier() else ""
            raise PromptError(
                f"prompt '{prompt.name}': unknown placeholder {{{name}}} in prompt.{where}; "
                f"available: {', '.join('{' + k + '}' for k in sorted(known))}{hint}"
            )
        try:
            template.format_map(fields)
        except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
            raise PromptError(f"prompt '{prompt.name}': prompt.{where} cannot be filled for sample "
                              f"'{sample.id}' ({type(exc).__name__}: {exc}); fix that placeholder, "
                              f"or {BRACES}") from None


def target_placeholders(prompt: PromptConfig, target_field: str | None = None) -> list[str]:
    """Where a template shows the answer: '{target}' (or the target's own field carried as
    metadata) in prompt.system / prompt.user, as 'prompt.user: {target}'."""
    names = {"target"} | ({target_field} if target_field else set())
    return [f"prompt.{where}: {{{name}}}" for where, template in _templates(prompt)
            for name in sorted(placeholders(template)) if name.split(".")[0].split("[")[0] in names]


def filled(prompt: PromptConfig, sample: Sample) -> tuple[str, str]:
    """The filled system and user texts: with the few-shot examples (the same for every item),
    what makes one item's messages differ from another's. For a transcript: the system text sent
    before it (or ""), and the transcript as JSON."""
    fields = template_fields(sample)
    if sample.messages is not None:
        system = "" if _own_system(sample) else (prompt.system or "").format_map(fields)
        return system, json.dumps([[m.role, m.content] for m in sample.messages], ensure_ascii=False)
    return (prompt.system or "").format_map(fields), prompt.user.format_map(fields)


def render(prompt: PromptConfig, sample: Sample) -> list[Message]:
    fields = template_fields(sample)
    if sample.messages is not None:
        head = [Message(role="system", content=t.format_map(fields)) for _, t in _applied(prompt, sample)]
        return [*head, *sample.messages]
    messages: list[Message] = []
    if prompt.system:
        messages.append(Message(role="system", content=prompt.system.format_map(fields)))
    for shot in prompt.few_shot:
        messages.append(Message(role="user", content=shot.user))
        messages.append(Message(role="assistant", content=shot.assistant))
    messages.append(Message(role="user", content=prompt.user.format_map(fields)))
    return messages
