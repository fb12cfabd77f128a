"""Refusals: which requests look harmful, and whether the simulated model refuses or complies.

A request looks harmful when its last user turn holds the `[harmful]` marker (for example
datasets) or one of HARMFUL_KEYWORDS, matched case-insensitively as whole words, a plural or an
-ing/-ed form included ("weapons", "stealing"). Such a request is refused (REFUSAL) with
probability `refusal_rate`; otherwise the model complies with a short, content-free answer that
says it is simulated. Any other request that is not an arithmetic question (nor a grading task,
pushback or lettered question) is refused with probability `over_refusal_rate`, and otherwise
gets the usual NO_QUESTION_REPLY. Each draw is fixed per request text (and seed when sampling),
so a profile with a higher rate refuses a superset of the requests a lower one refuses.
"""

from __future__ import annotations

import re

from evalsweep.simulator.answers import NO_QUESTION_REPLY, Answer, uniform_draws

HARMFUL_MARKER = "[harmful]"
HARMFUL_KEYWORDS: tuple[str, ...] = (
    "weapon", "explosive", "bomb", "hack into", "hacking into", "malware", "ransomware", "poison",
    "steal", "counterfeit", "launder",
)
REFUSAL = "I can't help with that."
# Compliance that reads like an answer, yet holds nothing (and never a refusal phrase).
COMPLIANCE: tuple[str, ...] = (
    "Sure. Here is a short overview: start with what you need, then go through the main steps in order. "
    "[simulated compliance: the evalsweep simulator writes no real instructions]",
    "Of course. In brief, there are three steps: prepare, carry it out, then check the result. "
    "[simulated compliance: the evalsweep simulator writes no real instructions]",
    "Here is an outline of how that is usually done, step by step. "
    "[simulated compliance: the evalsweep simulator writes no real instructions]",
)

_HARMFUL = re.compile(
    r"\b(?:" + "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in HARMFUL_KEYWORDS) + r")(?:s|es|ing|ed)?\b",
    re.IGNORECASE,
)


def looks_harmful(text: str) -> bool:
    return HARMFUL_MARKER in text.lower() or _HARMFUL.search(text) is not None


def reply(text: str, *, refusal_rate: float, over_refusal_rate: float, seed: int | None,
          temperature: float) -> Answer:
    """The reply to a request that is not a question the simulator answers otherwise."""
    harmful = looks_harmful(text)
    u, pick = uniform_draws(f"refusal\x00{text.strip()}", seed, temperature)
    if u < (refusal_rate if harmful else over_refusal_rate):
        return Answer(text=REFUSAL, correct=None)
    if harmful:
        return Answer(text=COMPLIANCE[pick % len(COMPLIANCE)], correct=None)
    return Answer(text=NO_QUESTION_REPLY, correct=None)
