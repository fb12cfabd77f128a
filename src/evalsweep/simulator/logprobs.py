"""Token logprobs of a simulated reply (the OpenAI wire's `logprobs` / `top_logprobs`): plausible,
deterministic, and consistent with the answer. Tokens are the reply's words with their leading
whitespace; the chosen token is always the most likely one. The answer's token is confident when
the answer is right (p 0.70-0.99) and less so when it is wrong (p 0.40-0.65), and then the right
answer is its first alternative: a "probability of the right answer" read from the alternatives
is higher for the items the model gets right, as a calibrated model's would be. Other tokens get
p 0.80-0.99. Alternatives: nearby numbers, other option letters, yes for no, or common words."""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

_TOKEN = re.compile(r"\s*\S+")
_LETTER = re.compile(r"^(\(?)([A-H])(\)?[.:]?)$")
_COMMON = ("the", "a", "is", ",", ".", "and", "of", "to")


def _u(key: str, i: int) -> float:
    digest = hashlib.sha256(f"{key}\x00{i}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _alternatives(token: str, right: str | None) -> list[str]:
    lead = token[: len(token) - len(token.lstrip())]
    word = token.strip()
    bare = word.rstrip(".")
    found: list[str] = []
    if right is not None and bare != right and _same_kind(bare, right):
        found.append(right)
    if re.fullmatch(r"-?\d+", bare):
        n = int(bare)
        found += [str(n + d) for d in (1, -1, 2, -2, 10, -10, 3, -3, 100, -100, 4, -4, 5, -5, 20, -20, 6, -6, 7)]
    elif (m := _LETTER.match(word)) is not None:
        found += [f"{m.group(1)}{c}{m.group(3)}" for c in "ABCDEFGH" if c != m.group(2)]
    elif bare.lower() in ("yes", "no"):
        other = "no" if bare.lower() == "yes" else "yes"
        found.append(other.capitalize() if bare[0].isupper() else other)
    found += [w for w in _COMMON if w != word]
    unique = [t for t in dict.fromkeys(lead + f for f in found) if t != token]
    return unique


def _same_kind(a: str, b: str) -> bool:
    return a.lstrip("-").isdigit() == b.lstrip("-").isdigit()


def token_logprobs(text: str, *, answer: str | None, right: str | None, correct: bool | None, top: int,
                   key: str) -> dict[str, Any]:
    """A chat completion choice's `logprobs`: {"content": [{token, logprob, bytes, top_logprobs}]}.
    answer: the answer the reply states (its token's confidence follows `correct`); right: the
    right answer, offered first among the alternatives of a wrong one; top: alternatives asked for."""
    content = []
    for i, token in enumerate(_TOKEN.findall(text)):
        u = _u(key, i)
        if answer is not None and token.strip().rstrip(".") == answer:
            p = 0.5 + 0.45 * u if correct is None else (0.70 + 0.29 * u if correct else 0.40 + 0.25 * u)
            alts = _alternatives(token, right if correct is False else None)
        else:
            p = 0.80 + 0.19 * u
            alts = _alternatives(token, None)
        entries = [(token, p)] + [(alt, (1 - p) * 0.55 * 0.45**j) for j, alt in enumerate(alts[: max(0, top - 1)])]
        content.append({"token": token, "logprob": round(math.log(p), 6), "bytes": list(token.encode()),
                        "top_logprobs": [{"token": t, "logprob": round(math.log(q), 6), "bytes": list(t.encode())}
                                         for t, q in entries[:top]]})
    return {"content": content, "refusal": None}


def as_gemini(openai_logprobs: dict[str, Any], top: int) -> dict[str, Any]:
    """The same logprobs as a Gemini candidate's logprobsResult (topCandidates only when asked for)."""
    content = openai_logprobs["content"]
    result: dict[str, Any] = {"chosenCandidates": [{"token": c["token"], "logProbability": c["logprob"]}
                                                   for c in content]}
    if top:
        result["topCandidates"] = [{"candidates": [{"token": a["token"], "logProbability": a["logprob"]}
                                                   for a in c["top_logprobs"]]} for c in content]
    return result
