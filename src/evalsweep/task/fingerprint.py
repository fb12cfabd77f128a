"""What a job's items are, as one string: the report pairs two jobs' items on it, never on the
dataset's name alone (two files may share a name and ids, yet ask different questions).

dataset_fingerprint(samples) is "sha256:" + the sha256 over each sample's id, input, target and
choices (and its transcript, when it is sent as one: dataset.fields.messages), in id order (so the file's row order and the shuffle do not change it; metadata does not
decide what is asked and is left out). Each sample's fields are JSON-encoded and hashed on their
own, and the samples' digests are hashed in id order: no two different sets of samples give the
same bytes, and a job of 10^5 samples holds 10^5 small digests, not its samples' text, to do it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

PREFIX = "sha256:"


class _SampleLike(Protocol):
    id: str
    input: str
    target: str | None
    choices: list[str] | None
    messages: Sequence[Any] | None


def _digest(sample: Any) -> tuple[str, bytes]:
    choices = getattr(sample, "choices", None)
    fields = [str(sample.id), sample.input, sample.target, list(choices) if choices is not None else None]
    turns = getattr(sample, "messages", None)
    if turns is not None:  # appended only when present: a plain sample's digest is what it always was
        fields.append([[m.role, m.content] for m in turns])
    text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return str(sample.id), hashlib.sha256(text.encode("utf-8")).digest()


def dataset_fingerprint(samples: Iterable[_SampleLike]) -> str:
    """sha256 over the samples' (id, input, target, choices[, transcript]), in id order."""
    total = hashlib.sha256()
    for _, digest in sorted(_digest(s) for s in samples):
        total.update(digest)
    return PREFIX + total.hexdigest()


def short(fingerprint: str | None, n: int = 12) -> str:
    """The fingerprint as shown in a report: its first n hex digits."""
    if not fingerprint:
        return "unknown"
    return fingerprint.removeprefix(PREFIX)[:n]
