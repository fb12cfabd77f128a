"""The re-ask loop: one structured answer, asked again with the validation error shown until it
validates or the re-asks allowed run out. Every attempt is an ordinary request through the model
service, so each goes through the same cache, rate limits, retries and accounting; a re-run finds
every attempt in the cache and gets the same object back without a call."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evalsweep.llm.types import GenerateRequest, GenerateResponse, Message, total_usage
import evalsweep.structured.parse as parse
from evalsweep.structured.schema import json_text_instruction, response_format_for, with_instruction

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
# native and tool both ask the provider for the object (tool: Anthropic's forced tool, chosen by
# the client from model.structured_output); json_text asks for it in the prompt.
Mode = Literal["native", "json_text", "tool"]


class _Service(Protocol):
    async def generate(self, request: GenerateRequest) -> GenerateResponse: ...


class StructuredOutputError(Exception):
    """No valid object after every allowed ask; carries the last raw reply and its error."""

    def __init__(self, model: str, raw: str, error: str, asks: int) -> None:
        super().__init__(f"no valid {model} after {asks} ask(s): {error.splitlines()[0] if error else ''}")
        self.raw = raw
        self.error = error
        self.asks = asks


@dataclass
class Structured(Generic[M]):
    """The outcome of one structured ask: the object (or None), the last raw reply, the last
    validation error, how many asks it took, and every attempt's response combined."""

    model: str
    value: M | None
    raw: str
    error: str | None
    asks: int
    response: GenerateResponse

    @property
    def ok(self) -> bool:
        return self.value is not None

    def unwrap(self) -> M:
        if self.value is None:
            raise StructuredOutputError(self.model, self.raw, self.error or "", self.asks)
        return self.value


class StructuredStats(BaseModel):
    """Counts for summary.json: how often objects validated, and after how many asks."""

    model_config = ConfigDict(extra="forbid")

    samples: int = 0
    valid: int = 0
    invalid: int = 0
    valid_first_ask: int = 0
    reasks: int = 0
    # asks it took -> samples, e.g. {"1": 40, "2": 7, "3": 1}
    asks: dict[str, int] = Field(default_factory=dict)

    def add(self, result: Structured) -> None:
        self.count(result.asks, result.ok)

    def count(self, asks: int, valid: bool) -> None:
        self.samples += 1
        self.reasks += asks - 1
        self.asks[str(asks)] = self.asks.get(str(asks), 0) + 1
        if valid:
            self.valid += 1
            self.valid_first_ask += asks == 1
        else:
            self.invalid += 1


def reask_message(name: str, error: str) -> Message:
    # The words "validation error" also tell the simulator this is a re-ask.
    return Message(role="user", content=(
        f"Your previous reply has a validation error against the {name} schema:\n{error}\n"
        f"Reply again with a corrected {name} object."))


def _combined(responses: list[GenerateResponse]) -> GenerateResponse:
    """One response for the row: the last reply, with tokens, attempts and time of all asks."""
    last = responses[-1]
    return last.model_copy(update={
        "usage": total_usage(r.usage for r in responses),
        "cached": all(r.cached for r in responses),
        "attempts": sum(r.attempts for r in responses),
        "latency_s": sum(r.latency_s for r in responses),
    })


def first_ask(request: GenerateRequest, response_model: type[BaseModel], mode: Mode) -> GenerateRequest:
    """The request of the first ask: the schema as a response format, or quoted in the prompt."""
    fmt = response_format_for(response_model)
    if mode != "json_text":
        return request.model_copy(update={"response_format": fmt})
    return request.model_copy(update={
        "response_format": None, "messages": with_instruction(request.messages, json_text_instruction(fmt))})


async def ask(service: _Service, request: GenerateRequest, response_model: type[M], *, mode: Mode = "native",
              max_reasks: int = 2, stats: StructuredStats | None = None) -> Structured[M]:
    """Ask for a `response_model` object. Provider errors propagate as they do for plain requests;
    an object that never validates is returned with value None (see Structured.unwrap)."""
    fmt = response_format_for(response_model)
    current = first_ask(request, response_model, mode)
    responses: list[GenerateResponse] = []
    value: M | None = None
    error: str | None = None
    for n in range(1, max_reasks + 2):
        response = await service.generate(current)
        responses.append(response)
        try:
            value = parse.validate(response_model, response.text, from_text=mode == "json_text")
            error = None
            break
        except (ValidationError, ValueError) as exc:
            error = parse.describe(exc)
            log.info("%s: reply %d for %s did not validate: %s", request.model, n, fmt.name,
                     error.splitlines()[0])
        current = current.model_copy(update={"messages": [
            *current.messages, Message(role="assistant", content=response.text), reask_message(fmt.name, error)]})
    result: Structured[M] = Structured(model=fmt.name, value=value, raw=responses[-1].text, error=error,
                                       asks=len(responses), response=_combined(responses))
    if stats is not None:
        stats.add(result)
    if not result.ok:
        log.warning("%s gave no valid %s after %d ask(s): %s", request.model, fmt.name, result.asks,
                    (error or "").splitlines()[0])
    return result
