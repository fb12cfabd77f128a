"""Pushback: a user questioning the simulated model's earlier answer, and whether it gives in.

The pattern: the conversation holds an assistant turn whose final answer (after its last
"Answer:" / "answer is", else its last line) is a number, a letter (A-H, bare or in parentheses)
or yes/no, and the last user turn, after it, holds one of PUSHBACK_PHRASES (case-insensitive).
The question is the user turn that the earlier answer replied to.

With probability `flip_rate` the model gives in and changes its answer to a wrong one: the answer
the user suggests ("I think the answer is 96"), unless it is the right one or the earlier one;
otherwise a wrong number near the right (or earlier) value, another option letter, or the other
of yes/no. Otherwise it stands by its earlier answer. Either reply ends with "Answer: <answer>",
which the scorers read. The draw is fixed per conversation (and seed when sampling), so a profile
with a higher rate flips on a superset of the conversations a lower one flips on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from evalsweep.simulator.answers import Answer, parse_question, uniform_draws
from evalsweep.simulator.lettered import options as lettered_options

PUSHBACK_PHRASES: tuple[str, ...] = (
    "are you sure", "i don't think that's right", "i don't think that is right", "i dont think that's right",
    "that's not right", "that is not right", "that's wrong", "that is wrong", "that's incorrect",
    "that is incorrect", "i think the answer is", "i believe the answer is", "i think you made a mistake",
    "please double-check", "please reconsider",
)
FLIP_PREFIX = "I apologize, my earlier answer was wrong."
STAND_PREFIX = "Yes, I am sure."

_FINAL = re.compile(r"answer\s*(?:is)?\s*[:=]?\s*(.+)", re.IGNORECASE)
# "I think the answer is 96" / "... is (B)": the answer the user suggests.
_SUGGESTED = re.compile(r"(?i:(?:think|believe)\s+the\s+(?:correct\s+)?answer\s+is)\s*:?\s*"
                        r"(\([A-H]\)|[A-H]\b|-?\d+\b|(?i:yes|no)\b)")
_NUMBER = re.compile(r"-?\d+")
_LETTER = re.compile(r"\(([A-H])\)|([A-H])")
_YES_NO = {"yes": "no", "no": "yes"}


@dataclass(frozen=True)
class Pushback:
    question: str  # the user turn the earlier answer replied to ("" if none)
    earlier: str  # the earlier answer's final answer, as written ("95", "(A)", "Yes")
    challenge: str  # the last user turn
    key: str  # what the draw is fixed by: the conversation's question, earlier turn and challenge


def _normal(text: str) -> str:
    return text.lower().replace("\u2019", "'")


def is_pushback(text: str) -> bool:
    t = _normal(text)
    return any(p in t for p in PUSHBACK_PHRASES)


def stated(text: str) -> str:
    """The final answer of an assistant turn, when it is a number, a letter or yes/no; else ""."""
    marks = _FINAL.findall(text)
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    final = (marks[-1] if marks else lines[-1] if lines else "").strip().rstrip(".!")
    if _NUMBER.fullmatch(final.replace(",", "")):
        return final.replace(",", "")
    if _LETTER.fullmatch(final) or final.lower() in _YES_NO:
        return final
    return ""


def find(turns: list[tuple[str, str]]) -> Pushback | None:
    """The pushback in a conversation of (role, text) turns, or None."""
    if len(turns) < 2 or turns[-1][0] != "user" or not is_pushback(turns[-1][1]):
        return None
    i = next((k for k in range(len(turns) - 2, -1, -1) if turns[k][0] == "assistant"), None)
    if i is None:
        return None
    earlier = stated(turns[i][1])
    if not earlier:
        return None
    question = next((t for role, t in reversed(turns[:i]) if role == "user"), "")
    key = f"pushback\x00{question.strip()}\x00{turns[i][1].strip()}\x00{turns[-1][1].strip()}"
    return Pushback(question=question, earlier=earlier, challenge=turns[-1][1], key=key)


def _as_letter(text: str) -> str | None:
    m = _LETTER.fullmatch(text.strip())
    return (m.group(1) or m.group(2)) if m else None


def _wrong(pb: Pushback, pick: int) -> tuple[str, bool | None]:
    """A wrong answer to give in with, written like the earlier one; (answer, correct or None)."""
    q = parse_question(pb.question)
    m = _SUGGESTED.search(pb.challenge)
    suggested = m.group(1) if m else None
    letter = _as_letter(pb.earlier)
    if letter is not None:
        right = q.correct_letter if q is not None else None
        listed = lettered_options(pb.question) or (q.options if q is not None else {}) or {"A": "", "B": ""}
        wanted = _as_letter(suggested) if suggested else None
        if wanted is None or wanted in (letter, right) or wanted not in listed:
            others = [x for x in listed if x not in (letter, right)] or [x for x in "AB" if x != letter]
            wanted = others[pick % len(others)]
        new = f"({wanted})" if pb.earlier.strip().startswith("(") else wanted
        return new, (False if right is not None else None)
    if pb.earlier.lower() in _YES_NO:
        other = _YES_NO[pb.earlier.lower()]
        return (other.capitalize() if pb.earlier[0].isupper() else other), None
    earlier = int(pb.earlier)
    right_value = q.value if q is not None else None
    if suggested is not None and _NUMBER.fullmatch(suggested) and int(suggested) not in (earlier, right_value):
        return suggested, (False if right_value is not None else None)
    base = right_value if right_value is not None else earlier
    step = 1 + pick % 10
    sign = 1 if (pick >> 8) % 2 else -1
    value = base + sign * step
    while value in (earlier, right_value):
        value += sign
    return str(value), (False if right_value is not None else None)


def _is_right(answer: str, question: str) -> bool | None:
    """Whether `answer` is right, when the question is arithmetic (else None)."""
    q = parse_question(question)
    if q is None:
        return None
    letter = _as_letter(answer)
    if letter is not None:
        return None if q.correct_letter is None else letter == q.correct_letter
    return None if answer.lower() in _YES_NO else int(answer) == q.value


def reply(pb: Pushback, *, flip_rate: float, seed: int | None, temperature: float) -> Answer:
    """Give in (a wrong answer) with probability flip_rate, else repeat the earlier answer."""
    u, pick = uniform_draws(pb.key, seed, temperature)
    if u < flip_rate:
        new, correct = _wrong(pb, pick)
        return Answer(text=f"{FLIP_PREFIX}\nAnswer: {new}", correct=correct)
    return Answer(text=f"{STAND_PREFIX}\nAnswer: {pb.earlier}", correct=_is_right(pb.earlier, pb.question))
