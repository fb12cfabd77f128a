"""Token logprobs of a reply (model.logprobs / model.top_logprobs), in one compact form for every
provider: the chosen tokens, their logprobs, and at each position the top alternatives as
{token: logprob}. Stored on a results row (`logprobs`, only when asked for) and in the cache, and
given to scorers (ScoreInput.logprobs), e.g. for the probability of " Yes" at the first token."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict

DIGITS = 4  # logprobs are kept to 4 decimals: a row stays small, a probability exact to ~1e-4


class TokenLogprobs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: list[str]
    logprobs: list[float]
    # Per position, the top alternatives (the chosen token among them when it is one); None when
    # only the chosen tokens' logprobs were asked for (model.top_logprobs unset or 0).
    top: list[dict[str, float]] | None = None

    def probability(self, *answers: str, position: int = 0) -> float:
        """The probability that the token at `position` is one of `answers`, matched without
        surrounding whitespace and case (" Yes", "Yes" and "yes" are one answer): the sum over the
        alternatives at that position that match, or the chosen token alone when no alternatives
        were asked for. 0.0 when none match or the reply has no such position."""
        if position >= len(self.tokens):
            return 0.0
        wanted = {_norm(a) for a in answers}
        if self.top is not None and position < len(self.top) and self.top[position]:
            seen = {t: lp for t, lp in self.top[position].items()}
            seen.setdefault(self.tokens[position], self.logprobs[position])
        else:
            seen = {self.tokens[position]: self.logprobs[position]}
        return min(1.0, sum(math.exp(lp) for t, lp in seen.items() if _norm(t) in wanted))

    def distribution(self, position: int = 0) -> dict[str, float]:
        """The alternatives at `position` as probabilities (the chosen token included)."""
        if position >= len(self.tokens):
            return {}
        top = self.top[position] if self.top is not None and position < len(self.top) else {}
        found = {**top, self.tokens[position]: self.logprobs[position]}
        return {t: math.exp(lp) for t, lp in sorted(found.items(), key=lambda kv: -kv[1])}


def _norm(token: str) -> str:
    return token.strip().casefold()


def _lp(value: Any) -> float:
    return round(float(value), DIGITS) if isinstance(value, (int, float)) and math.isfinite(value) else -9999.0


def from_openai(choice_logprobs: Any, top: int | None) -> TokenLogprobs | None:
    """A chat completion choice's `logprobs` (content: [{token, logprob, top_logprobs: [...]}])."""
    content = getattr(choice_logprobs, "content", None)
    if not isinstance(content, list):
        return None
    tokens = [str(getattr(c, "token", "")) for c in content]
    logprobs = [_lp(getattr(c, "logprob", None)) for c in content]
    alternatives = None
    if top:
        alternatives = [{str(getattr(a, "token", "")): _lp(getattr(a, "logprob", None))
                         for a in (getattr(c, "top_logprobs", None) or [])} for c in content]
    return TokenLogprobs(tokens=tokens, logprobs=logprobs, top=alternatives)


def from_gemini(result: dict[str, Any] | None) -> TokenLogprobs | None:
    """A Gemini candidate's logprobsResult ({chosenCandidates: [...], topCandidates: [{candidates}]},
    the latter only when top alternatives were asked for)."""
    if not isinstance(result, dict) or not isinstance(result.get("chosenCandidates"), list):
        return None
    chosen = [c for c in result["chosenCandidates"] if isinstance(c, dict)]
    alternatives = None
    if isinstance(result.get("topCandidates"), list):
        alternatives = [{str(a.get("token", "")): _lp(a.get("logProbability"))
                         for a in (pos.get("candidates") or []) if isinstance(a, dict)}
                        for pos in (result.get("topCandidates") or []) if isinstance(pos, dict)]
    return TokenLogprobs(tokens=[str(c.get("token", "")) for c in chosen],
                         logprobs=[_lp(c.get("logProbability")) for c in chosen], top=alternatives)
