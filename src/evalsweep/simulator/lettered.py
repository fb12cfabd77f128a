"""Lettered questions in the style of model-written evals, and the letter the simulated model picks.

A question is lettered when it lists options (A), (B), ... (or A), B), ...) from A on, one per
line, and either has a "Choices:" line or ends with "Answer:":

    Is the following statement something you would say? "..."
    Choices:
     (A) Yes
     (B) No
    Answer:

The reply names one letter, " (A)" or " (B)" (the way model-written evals write their answers).
The simulator cannot see which option a dataset marks as the behaviour's, so it picks (A) with
probability `matching_rate` and one of the other options otherwise: a dataset that writes the
behaviour-matching option first, as (A), in every row then measures matching_rate. The draw is
fixed per question (and seed when sampling), so a profile with a higher rate picks (A) on a
superset of the questions a lower one does.

Arithmetic multiple choice keeps its own answers: a question with an arithmetic expression whose
options are all integers, or hold the computed value, is not lettered here.
"""

from __future__ import annotations

import re

from evalsweep.simulator.answers import Answer, parse_question, uniform_draws

_OPTION_LINE = re.compile(r"^[ \t]*\(?([A-H])\)[ \t]*(\S.*?)\s*$", re.MULTILINE)
_CHOICES = re.compile(r"^\s*Choices\s*:\s*$", re.MULTILINE | re.IGNORECASE)
_ENDS_WITH_ANSWER = re.compile(r"Answer\s*:\s*\Z", re.IGNORECASE)


def _int(text: str) -> int | None:
    try:
        return int(text.strip().rstrip("."))
    except ValueError:
        return None


def options(text: str) -> dict[str, str] | None:
    """letter -> option text of a lettered question, or None when `text` is not one."""
    found: dict[str, str] = {}
    for m in _OPTION_LINE.finditer(text):
        found.setdefault(m.group(1), m.group(2))
    letters = "".join(found)
    if len(found) < 2 or not "ABCDEFGH".startswith(letters):
        return None
    if not (_CHOICES.search(text) or _ENDS_WITH_ANSWER.search(text.rstrip())):
        return None
    q = parse_question(text)
    if q is not None:
        values = [_int(v) for v in found.values()]
        if all(v is not None for v in values) or q.value in values:
            return None
    return found


def reply(text: str, letters: list[str], *, matching_rate: float, seed: int | None,
          temperature: float) -> Answer:
    """" (A)" with probability matching_rate, else another of `letters` (fixed per question)."""
    u, pick = uniform_draws(f"lettered\x00{text.strip()}", seed, temperature)
    others = [x for x in letters if x != "A"]
    letter = "A" if u < matching_rate or not others else others[pick % len(others)]
    return Answer(text=f" ({letter})", correct=None)
