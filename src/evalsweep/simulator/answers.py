"""Question parsing and deterministic answer choice for the simulator.

Whether an answer is correct depends only on the question text (and the seed when sampling is
stochastic), never on the model name: with u fixed per item, a profile with higher accuracy is
right on a superset of the items a weaker one gets right, which mimics the paired structure of
real model comparisons.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

NO_QUESTION_REPLY = "I am the evalsweep simulator; I can only answer arithmetic questions."

_EXPR = re.compile(r"(-?\d+)\s*([+\-*x×])\s*(-?\d+)")
_OPTION = re.compile(r"^\s*([A-H])[).:]\s*(.+?)\s*$", re.MULTILINE)
_WORD = re.compile(r"\S+")
_COT = "step by step"


@dataclass(frozen=True)
class Question:
    a: int
    op: str
    b: int
    value: int
    options: dict[str, str]  # letter -> option text, in the order listed
    correct_letter: str | None  # set when the options contain the computed value

    @property
    def expression(self) -> str:
        return f"{self.a} {self.op} {self.b}"


@dataclass(frozen=True)
class Answer:
    text: str
    correct: bool | None  # None when there was no question to answer


def _as_int(text: str) -> int | None:
    try:
        return int(text.strip().rstrip("."))
    except ValueError:
        return None


def parse_question(text: str) -> Question | None:
    """Find the last arithmetic expression (option lines excluded) and any A-H options."""
    options = {m.group(1): m.group(2) for m in _OPTION.finditer(text)}
    if len(options) < 2:  # one "A) ..." line is prose, not a multiple-choice list
        options = {}
    stem = _OPTION.sub("", text) if options else text
    match = None
    for match in _EXPR.finditer(stem):
        pass
    if match is None:
        return None
    a, op, b = int(match.group(1)), match.group(2), int(match.group(3))
    if op == "+":
        value = a + b
    elif op == "-":
        value = a - b
    else:
        value = a * b
    correct_letter = next((k for k, v in options.items() if _as_int(v) == value), None)
    return Question(a=a, op=op, b=b, value=value, options=options, correct_letter=correct_letter)


def uniform_draws(question_text: str, seed: int | None, temperature: float) -> tuple[float, int]:
    """(u in [0,1), an integer for picking a wrong answer) from sha256 of the item (+ seed)."""
    key = question_text if temperature <= 0 else f"{question_text}\x00seed={seed}"
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    return u, int.from_bytes(digest[8:16], "big")


def wants_cot(texts: list[str]) -> bool:
    return any(_COT in t.lower() for t in texts)


def answer(
    last_user: str,
    *,
    accuracy: float,
    cot: bool,
    seed: int | None,
    temperature: float,
) -> Answer:
    """The simulated model's reply to `last_user`; `accuracy` already includes any CoT bonus."""
    q = parse_question(last_user)
    if q is None:
        return Answer(text=NO_QUESTION_REPLY, correct=None)
    u, pick = uniform_draws(last_user.strip(), seed, temperature)
    correct = u < accuracy

    if q.correct_letter is not None:
        letter = q.correct_letter
        if not correct:
            wrong = [k for k, v in q.options.items() if _as_int(v) != q.value]
            if wrong:
                letter = wrong[pick % len(wrong)]
            else:  # every option is the right value: no way to be wrong
                correct = True
        if not cot:
            return Answer(text=letter, correct=correct)
        stated = q.options[letter]
        text = (
            f"Let's compute {q.expression} step by step. "
            f"{q.expression} = {stated}, which is option {letter}.\nAnswer: {letter}"
        )
        return Answer(text=text, correct=correct)

    value = q.value
    if not correct:
        magnitude = 1 + pick % 10
        value += magnitude if (pick >> 8) % 2 else -magnitude
    if not cot:
        return Answer(text=str(value), correct=correct)
    text = f"Let's compute {q.expression} step by step. {q.expression} = {value}.\nAnswer: {value}"
    return Answer(text=text, correct=correct)


@dataclass(frozen=True)
class ReplyTokens:
    """A reply's token counts, before a wire format lays them out: the prompt's (cached: of them,
    those read from the automatic prompt cache), the answer's, and the thinking before it."""

    input: int
    output: int
    thinking: int = 0
    cached: int = 0


def count_tokens(text: str) -> int:
    """Rough token count: 1.3 tokens per whitespace-separated word."""
    return tokens_of_words(count_words(text))


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def tokens_of_words(words: int) -> int:
    """count_tokens of a text of this many words (so texts can be counted once and summed)."""
    return math.ceil(words * 1.3)


def reasoning_tokens(answer: str) -> int:
    """The tokens a simulated reasoning model thinks before `answer`: some, growing with the answer."""
    return 16 + 2 * count_tokens(answer)


def truncate_to_tokens(text: str, max_tokens: int) -> tuple[str, bool]:
    """Cut `text` after the last whole word that keeps it within `max_tokens`; (text, truncated)."""
    words = list(_WORD.finditer(text))
    if math.ceil(len(words) * 1.3) <= max_tokens:
        return text, False
    keep = int(max_tokens / 1.3 + 1e-9)
    while keep > 0 and math.ceil(keep * 1.3) > max_tokens:
        keep -= 1
    if keep == 0:
        return "", True
    return text[: words[keep - 1].end()], True


def apply_stop(text: str, stops: list[str]) -> tuple[str, str | None]:
    """Cut at the earliest stop sequence; (text, the sequence that matched or None)."""
    best: tuple[int, str] | None = None
    for s in stops:
        if not s:
            continue
        i = text.find(s)
        if i >= 0 and (best is None or i < best[0]):
            best = (i, s)
    if best is None:
        return text, None
    return text[: best[0]], best[1]
