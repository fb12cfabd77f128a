"""What answered a job's samples and how the answers ended, counted over its rows: the model the
server says served each answer against the one asked for (summary.json's n_served_model_differs,
served_models), and the finish reasons (finish_reasons, n_truncated: answers cut at max_tokens).

The rule (same_model): a served name is the requested one when it is equal, or when it only
adds a snapshot to it: the requested name, "-", then a digit ("gpt-4o" -> "gpt-4o-2024-08-06",
"claude-sonnet-4-5" -> "claude-sonnet-4-5-20250929"). A requested alias ending in "-latest" is
compared without it ("claude-3-5-sonnet-latest" -> "claude-3-5-sonnet-20241022"). Anything else
differs, "gpt-4o-mini" for "gpt-4o" included. A row without a served name (the server sent none,
or the sample failed) is not counted as differing."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from evalsweep.results.rows import ResultRecord

_ALIAS = "-latest"
# Every provider's word for an answer cut at the token limit; the clients send "length", rows
# written before they did may hold the others.
TRUNCATED = "length"
_TRUNCATED_WORDS = frozenset({"length", "max_tokens", "MAX_TOKENS"})


def finish_word(reason: str | None) -> str | None:
    """A row's finish reason, the token-limit words as "length"."""
    return TRUNCATED if reason in _TRUNCATED_WORDS else reason


def same_model(requested: str, served: str | None) -> bool:
    """True when `served` names the requested model or a dated snapshot of it (see the module)."""
    if served is None or served == requested:
        return True
    base = requested[: -len(_ALIAS)] if requested.endswith(_ALIAS) else requested
    rest = served[len(base):] if served.startswith(base) else ""
    return rest.startswith("-") and rest[1:2].isdigit()


@dataclass
class AnswerTotals:
    """Counted as rows arrive (RunTotals.add), for the summary and the job's warnings."""

    served_models: Counter[str] = field(default_factory=Counter)  # every served name, with its rows
    n_served_model_differs: int = 0
    differing: Counter[str] = field(default_factory=Counter)  # the served names that differ
    # Rows with an answer, by finish reason (a reason the server did not send is not counted).
    finish_reasons: Counter[str] = field(default_factory=Counter)

    @property
    def n_truncated(self) -> int:
        return self.finish_reasons[TRUNCATED]

    def add(self, rec: ResultRecord) -> bool:
        """Count one row; True when it is the job's first whose served model differs."""
        reason = finish_word(rec.finish_reason) if rec.error is None else None
        if reason is not None:
            self.finish_reasons[reason] += 1
        if rec.served_model is not None:
            self.served_models[rec.served_model] += 1
        if same_model(rec.model, rec.served_model):
            return False
        assert rec.served_model is not None
        self.n_served_model_differs += 1
        self.differing[rec.served_model] += 1
        return self.n_served_model_differs == 1


def served_warning(rec: ResultRecord) -> str:
    """The one line a job logs at its first answer from another model than the one asked for."""
    return (f"the server says {rec.served_model!r} answered sample {rec.sample_id}, not the requested "
            f"{rec.model!r}: every row records served_model, and summary.json counts the rows that differ "
            f"(n_served_model_differs)")


def truncated_warning(n_truncated: int, n_done: int, max_tokens: int) -> str:
    """The line a job logs at its end when answers were cut at the token limit."""
    return (f"{n_truncated} of {n_done} answers were cut at model.max_tokens={max_tokens} (finish_reason "
            f"length), so they may lack their final answer: raise model.max_tokens")
