"""Pydantic models that cross the client boundary: what is asked and what comes back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, field_validator, model_serializer

from evalsweep.config.generate import GenerateConfig
from evalsweep.llm.logprobs import TokenLogprobs
from evalsweep.llm.providers import check_name
from evalsweep.llm.ratelimit_info import RateLimitInfo

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    content: str


class ResponseFormat(BaseModel):
    """Ask for an object of a JSON schema (evalsweep.structured): OpenAI gets it as a json_schema
    response format, Anthropic as a forced tool, Gemini as its JSON response schema. The schema is
    part of the cache key."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str
    description: str | None = None
    json_schema: dict[str, Any]
    # The pydantic class itself, for the OpenAI SDK's strict-schema helper; never serialized.
    model: type[BaseModel] | None = Field(default=None, exclude=True, repr=False)


class GenerateRequest(GenerateConfig):
    """Everything that decides a response: the generation parameters (GenerateConfig's fields) and
    what is asked. Retries, timeouts and concurrency are not here."""

    model_config = ConfigDict(extra="forbid")

    provider: str  # a name in evalsweep.llm.providers.PROVIDERS, or a dotted path to a client class
    model: str
    base_url: str | None = None
    messages: list[Message]
    seed: int | None = None
    # Index of this ask when one item is asked several times in a job (repeats).
    repeat: int = 0
    # Set for a structured ask (evalsweep.structured); None for plain text.
    response_format: ResponseFormat | None = None
    # model.extra_headers: sent with the request, and in its cache key when set.
    extra_headers: dict[str, str] | None = None

    @field_validator("provider")
    @classmethod
    def _provider(cls, v: str) -> str:
        return check_name(v)

    @property
    def system(self) -> str | None:
        parts = [m.content for m in self.messages if m.role == "system"]
        return "\n\n".join(parts) if parts else None

    @property
    def chat(self) -> list[Message]:
        return [m for m in self.messages if m.role != "system"]


class Usage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_tokens: int = 0
    # Every billed output token, reasoning included: cost is output_tokens at the output price.
    output_tokens: int = 0
    # Of output_tokens, those a reasoning model spent thinking (OpenAI's completion_tokens_details.
    # reasoning_tokens, Gemini's thoughtsTokenCount, Anthropic's output_tokens_details.thinking_tokens);
    # 0 when the provider reports none.
    reasoning_tokens: int = 0
    # Prompt caching (Anthropic's cache_control, model.prompt_cache; OpenAI's and Gemini's automatic
    # caching of long prompts, read only): input tokens written to the provider's prompt cache and
    # read from it, each billed at its own rate (PriceConfig) and not inside input_tokens, as
    # Anthropic reports them. Left out of a row's JSON while 0, so the rows of a job without prompt
    # caching are what they were.
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0

    @classmethod
    def of_prompt(cls, prompt_tokens: int, cached_tokens: int, **rest: int) -> Usage:
        """For a provider that counts the prompt's cache reads inside its prompt tokens (OpenAI's
        prompt_tokens, Gemini's promptTokenCount): taken out, as Anthropic reports them."""
        cached = min(prompt_tokens, cached_tokens)
        return cls(input_tokens=prompt_tokens - cached, cache_read_tokens=cached, **rest)

    @model_serializer(mode="wrap")
    def _without_unused_cache(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for name in _CACHE_FIELDS:
            if not data.get(name):
                data.pop(name, None)
        return data


_CACHE_FIELDS = ("cache_write_tokens", "cache_read_tokens")


def total_usage(usages: Iterable[Usage]) -> Usage:
    """The usage of several replies (re-asks, a solver's turns) as one."""
    found = list(usages)
    return Usage(**{name: sum(getattr(u, name) for u in found) for name in Usage.model_fields})


class GenerateResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    # The text was cut at model.max_output_chars (evalsweep.llm.service.capped).
    text_truncated: bool = False
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None
    request_id: str | None = None
    # The model the server says answered (OpenAI and Anthropic `model`, Gemini `modelVersion`), which
    # may be a dated snapshot of the one asked for, or another model; None when the server sent none.
    model: str | None = None
    # OpenAI's system_fingerprint: the backend configuration that answered; None elsewhere.
    system_fingerprint: str | None = None
    cached: bool = False
    latency_s: float = 0.0
    attempts: int = 1
    # The limits the reply's headers gave (evalsweep.llm.ratelimit_headers): how it was fetched, so
    # never stored in the cache or a row.
    rate_limit: RateLimitInfo | None = Field(default=None, exclude=True, repr=False)
    # Token logprobs (model.logprobs); None when not asked for, and then not written at all.
    logprobs: TokenLogprobs | None = None

    @model_serializer(mode="wrap")
    def _without_unset_logprobs(self, handler: SerializerFunctionWrapHandler) -> Any:
        return without_none(handler(self), "logprobs")


def without_none(data: Any, field: str) -> Any:
    """A dumped model without `field` when it is None: a field added later is written only when
    set, so what was written before (cache entries, results rows) stays byte for byte the same."""
    if isinstance(data, dict) and data.get(field, 0) is None:
        del data[field]
    return data


def build_request(model: Any, messages: list[Message], *, seed: int | None, repeat: int = 0) -> GenerateRequest:
    """The one place a request is made from a model's config (a ModelConfig): the job's runner and
    the judge both ask through it, so every generation parameter reaches every request."""
    return GenerateRequest(provider=model.provider, model=model.name, base_url=model.base_url, messages=messages,
                           seed=seed, repeat=repeat, extra_headers=getattr(model, "extra_headers", None),
                           **model.generation().model_dump())
