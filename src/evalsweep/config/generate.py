"""The generation parameters, declared once.

Everything else derives from these fields: ModelConfig (so `model.temperature=0.7` sets one),
GenerateRequest (so every request carries them), the cache key (evalsweep.cache.keys), the resume
check (evalsweep.job.resume), the parameters validation asks a justification for, and the report's
variant labels (read from the config). A new parameter is one field here: it cannot be forgotten
in the key. (A provider client still chooses how to send it: see evalsweep.llm.*_client.)"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class GenerateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(256, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: list[str] | None = None
    # How hard to think. None: the model's default. OpenAI's reasoning_effort, Anthropic's
    # output_config.effort (low..max), Gemini 3's thinkingLevel (minimal..high); which values a
    # provider takes is checked by ModelConfig.
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    # Anthropic's extended thinking: enabled (with thinking_budget tokens, inside max_tokens),
    # adaptive (Claude decides how much), disabled. None: not sent, the model's default.
    thinking: Literal["enabled", "adaptive", "disabled"] | None = None
    thinking_budget: int | None = Field(None, ge=1024)
    # Fields merged into the request body as they are, for what a server takes beyond the API
    # (vLLM's guided decoding, llama.cpp's json_schema, OpenRouter's provider routing).
    extra_body: dict[str, Any] | None = None
    # Token logprobs of each reply (evalsweep.llm.logprobs), and how many top alternatives at each
    # position (OpenAI allows up to 20, Gemini 19). Unset (None) or false: none asked for.
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)

    @field_validator("logprobs")
    @classmethod
    def _logprobs(cls, v: bool | None) -> bool | None:
        return v or None  # false is the same as unset: in no cache key, resume check or variant label

    @field_validator("top_logprobs")
    @classmethod
    def _top_logprobs(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is not None and not info.data.get("logprobs"):
            raise ValueError("top_logprobs needs logprobs=true as well (model.logprobs=true)")
        return v

    def generation(self) -> GenerateConfig:
        """Just the generation parameters (of a ModelConfig, or a request)."""
        return GenerateConfig(**{name: getattr(self, name) for name in GENERATE_FIELDS})


# In declaration order; the cache key, resume check and validation iterate over these.
GENERATE_FIELDS: tuple[str, ...] = tuple(GenerateConfig.model_fields)


def in_use(config: GenerateConfig) -> dict[str, object]:
    """The parameters a job sets: every one not left unset (None or empty: the provider's default)."""
    values = {name: getattr(config, name) for name in GENERATE_FIELDS}
    return {name: v for name, v in values.items() if v is not None and v != [] and v != ""}
