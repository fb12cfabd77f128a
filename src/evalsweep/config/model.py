"""The model under test (and a judge's): provider, endpoint and key variable, the generation
parameters, concurrency and rate limits, retries, price and cost cap, typed output, the simulator's
settings, and the limits shared across the jobs of a machine."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from evalsweep.config.base import Strict
from evalsweep.config.generate import GenerateConfig
from evalsweep.llm.providers import check_provider


class RetryConfig(Strict):
    max_attempts: int = Field(6, ge=1, le=100)
    max_wait_s: float = Field(120.0, gt=0)
    initial_wait_s: float = Field(0.5, ge=0)
    max_backoff_s: float = Field(30.0, gt=0)


class PriceConfig(Strict):
    input_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(0.0, ge=0)
    # Prompt caching (model.prompt_cache): tokens written to and read from the provider's prompt
    # cache. null: priced as input tokens (Anthropic charges 1.25x input to write, 0.1x to read).
    cache_write_per_mtok: float | None = Field(None, ge=0)
    cache_read_per_mtok: float | None = Field(None, ge=0)
    # run.mode=batch pays this share of the prices above (OpenAI and Anthropic batches: half).
    batch_discount: float = Field(0.5, gt=0, le=1)

    def cost(self, input_tokens: int, output_tokens: int, *, cache_write_tokens: int = 0,
             cache_read_tokens: int = 0) -> float:
        """USD for these tokens: the one place cost is computed (jobs, judges, scripts)."""
        write = self.input_per_mtok if self.cache_write_per_mtok is None else self.cache_write_per_mtok
        read = self.input_per_mtok if self.cache_read_per_mtok is None else self.cache_read_per_mtok
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok
                + cache_write_tokens * write + cache_read_tokens * read) / 1e6

    def cost_of(self, usage: Any) -> float:
        """USD for a reply's usage (evalsweep.llm.types.Usage), its prompt-cache tokens included."""
        return self.cost(usage.input_tokens, usage.output_tokens, cache_write_tokens=usage.cache_write_tokens,
                         cache_read_tokens=usage.cache_read_tokens)


class SimulatorSettings(Strict):
    """How the job's own simulator behaves for this model (see evalsweep.simulator)."""

    accuracy: float = Field(0.75, ge=0, le=1)
    cot_bonus: float = Field(0.05, ge=0, le=1)
    latency_ms: float = Field(0.0, ge=0)
    latency_jitter_ms: float = Field(0.0, ge=0)
    # As a judge (scorer=judge, scripts/classify.py): how often it grades right; null = accuracy.
    judge_accuracy: float | None = Field(None, ge=0, le=1)
    # Safety-research patterns (evalsweep.simulator, docs/providers.md); arithmetic never uses them.
    refusal_rate: float = Field(0.7, ge=0, le=1)  # harmful-looking requests refused
    over_refusal_rate: float = Field(0.0, ge=0, le=1)  # other non-arithmetic requests refused
    flip_rate: float = Field(0.2, ge=0, le=1)  # earlier answers changed to a wrong one under pushback
    matching_rate: float = Field(0.5, ge=0, le=1)  # lettered questions answered (A)
    faults: dict[str, Any] = Field(default_factory=dict)

    @field_validator("faults")
    @classmethod
    def _faults(cls, v: dict[str, Any]) -> dict[str, Any]:
        # Checked here so a typo such as faults.rate_42 is a config error, not a crash at job start.
        from evalsweep.simulator.config import FaultConfig

        try:
            FaultConfig.model_validate(v)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                raise ValueError(f"unknown fault setting '{name}'; known: {', '.join(FaultConfig.model_fields)}") from None
            raise ValueError(f"fault setting {name or 'faults'}: {err['msg']}") from None
        return v


class ModelConfig(GenerateConfig):
    # The generation parameters (temperature, max_tokens, ...) are GenerateConfig's fields.
    # A name in evalsweep.llm.providers.PROVIDERS (openai, anthropic, gemini), or a dotted path to
    # your own client class (docs/providers.md).
    provider: str
    name: str = Field(min_length=1)
    simulated: bool = False
    base_url: str | None = None
    api_key_env: str | None = None
    # A reasoning model (OpenAI o-series, gpt-5): refuses temperature, top_p and stop, so they are not
    # sent, not in its cache key and not in its variant labels (docs/providers.md).
    reasoning: bool = False
    # The request field that carries max_tokens: max_completion_tokens for current OpenAI reasoning
    # models (it counts reasoning tokens too); max_tokens where a server ignores the other (llama.cpp).
    token_limit_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    max_concurrency: int = Field(16, ge=1, le=10_000)
    request_timeout_s: float = Field(60.0, gt=0)
    # Bytes read of one HTTP reply; a larger one is an error of its sample, never read whole
    # (a server ignoring max_tokens cannot fill memory). 8 MiB is far above any real reply.
    max_reply_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    # Characters kept of a reply's text; the rest is cut and the row says output_truncated.
    max_output_chars: int = Field(1_000_000, ge=1)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    # Read the server's rate-limit headers and 429s and adapt concurrency and pace to them, within
    # max_concurrency and under rpm/tpm (evalsweep.llm.adaptive); false: the fixed limits alone.
    adaptive_limits: bool = True
    price: PriceConfig = Field(default_factory=PriceConfig)
    max_cost_usd: float | None = Field(None, gt=0)
    # Typed responses (docs/structured.md): the provider's own structured output (native), or
    # JSON asked for in the prompt and parsed from the text, for servers without it (json_text).
    # Anthropic's native one is output_config.format (works with thinking); `tool` asks through a
    # forced tool instead, for a server or model without output_config.format.
    structured_output: Literal["native", "json_text", "tool"] = "native"
    # How often an object that fails validation is asked again, with the error shown.
    structured_reasks: int = Field(2, ge=0, le=10)
    simulator: SimulatorSettings | None = None
    # Anthropic prompt caching: cache_control on the stable prefix (system prompt, few-shot turns);
    # its cache-write and cache-read tokens are priced at price.cache_write/read_per_mtok.
    prompt_cache: bool = False
    # HTTP headers sent with every request (OpenRouter's HTTP-Referer, an anthropic-beta, a proxy's
    # routing header). Part of the cache key; never a key (see api_key_env).
    extra_headers: dict[str, str] | None = None
    # Whether base_url serves the provider's batch API (run.mode=batch): null = only the provider's
    # own API and the simulator do; true for a proxy that serves it too (docs/batch.md).
    batch_api: bool | None = None

    @field_validator("provider")
    @classmethod
    def _provider(cls, v: str) -> str:
        return check_provider(v)

    @field_validator("provider")
    @classmethod
    def _logprobs_offered(cls, v: str, info: ValidationInfo) -> str:
        # On provider (declared after logprobs), so the one line names a field, not the whole model.
        if v == "anthropic" and info.data.get("logprobs"):
            raise ValueError("Anthropic's Messages API returns no token logprobs (model.logprobs=true): set "
                             "model.logprobs=null, or use an OpenAI-compatible or Gemini model")
        return v

    @field_validator("reasoning")
    @classmethod
    def _reasoning_logprobs(cls, v: bool, info: ValidationInfo) -> bool:
        # OpenAI's reasoning models refuse logprobs with a 400 on every request.
        if v and info.data.get("logprobs") and info.data.get("provider") == "openai":
            raise ValueError("OpenAI's reasoning models return no token logprobs (model.reasoning=true with "
                             "model.logprobs=true): set model.logprobs=null, or use a model that is not a reasoning model")
        return v

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        # Refused here: a URL without scheme or host fails as a connection error on every attempt
        # of every sample. Kept as given (it is part of the cache key); "" leaves it unset.
        if v and v.strip():
            parts = urlsplit(v.strip())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("expected an http:// or https:// URL with a host, e.g. http://localhost:8000/v1")
        return v

    @field_validator("api_key_env")
    @classmethod
    def _key_env(cls, v: str | None) -> str | None:
        # A key pasted here instead of its variable's name would be printed and written into every
        # record of the job: refused, with a message that does not repeat it (evalsweep.config.key_shapes).
        from evalsweep.config.key_shapes import check_key_env

        return check_key_env(v)

    @field_validator("extra_body", "extra_headers")
    @classmethod
    def _no_empty_mapping(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return v or None  # {} is unset: the cache key of a config that writes one stays as without

    @model_validator(mode="after")
    def _key_source(self) -> "ModelConfig":
        if not self.simulated and not self.api_key_env:
            raise ValueError("a real provider needs api_key_env (the environment variable holding the key)")
        return self

    @model_validator(mode="after")
    def _provider_takes(self) -> "ModelConfig":
        from evalsweep.config.model_checks import check

        check(self)
        return self


class SharedLimitConfig(Strict):
    """The model's limits held across every job on this machine (evalsweep.llm.shared_limit,
    docs/scaling.md); each job's own limits stay in force as well."""

    enabled: bool = False
    # null -> model.max_concurrency / model.rpm / model.tpm, now counted across all jobs instead of per job.
    max_concurrency: int | None = Field(None, ge=1, le=10_000)
    rpm: int | None = Field(None, ge=1)
    # null -> model.tpm: tokens reserved per rolling minute (a request's prompt, ~4 characters a token,
    # plus its max_tokens), summed over all jobs; a request above the whole minute's tokens takes all of them.
    tpm: int | None = Field(None, ge=1)
    # null -> $EVALSWEEP_LIMITS_PATH, else /tmp/evalsweep-<uid>/shared_limits.sqlite (keep it on a local disk).
    path: str | None = None
