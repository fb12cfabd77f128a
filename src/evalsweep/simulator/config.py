"""Configuration of the local LLM simulator (pydantic, extra fields rejected)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evalsweep.simulator.ratelimit import RateLimitConfig

FAULT_KINDS: tuple[str, ...] = ("429", "500", "503", "529", "drop", "400", "401",
                                "invalid_json", "empty_body", "error_body_200", "oversize")
# Drawn once per request, at most one each: (kind, FaultConfig field with its rate).
_RATED: tuple[tuple[str, str], ...] = (
    ("429", "rate_429"), ("500", "rate_500"), ("503", "rate_503"), ("529", "rate_529"), ("drop", "rate_drop"),
    ("invalid_json", "rate_invalid_json"), ("empty_body", "rate_empty_body"),
    ("error_body_200", "rate_error_body_200"), ("oversize", "rate_oversize"),
)


class ModelProfile(BaseModel):
    """How often a simulated model answers correctly, refuses, gives in to pushback, and picks (A)."""

    model_config = ConfigDict(extra="forbid")

    accuracy: float = Field(ge=0.0, le=1.0)
    # Added (capped at 1) when the prompt asks to think "step by step".
    cot_bonus: float = Field(default=0.05, ge=0.0, le=1.0)
    # As a judge: how often its grade is right (None: the same as `accuracy`).
    judge_accuracy: float | None = Field(default=None, ge=0.0, le=1.0)
    # The safety-research patterns (see evalsweep.simulator); arithmetic questions never use them.
    # Share of harmful-looking requests refused, and of other non-arithmetic requests.
    refusal_rate: float = Field(default=0.7, ge=0.0, le=1.0)
    over_refusal_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    # Share of earlier answers changed to a wrong one when the user pushes back.
    flip_rate: float = Field(default=0.2, ge=0.0, le=1.0)
    # Share of lettered questions ("Choices: (A) ... (B) ...") answered (A).
    matching_rate: float = Field(default=0.5, ge=0.0, le=1.0)
    # A reasoning model (model.reasoning=true): replies report reasoning tokens, which count
    # against max_tokens before the visible answer (evalsweep.simulator.answers.reasoning_tokens).
    reasoning: bool = False

    def effective_judge_accuracy(self) -> float:
        return self.accuracy if self.judge_accuracy is None else self.judge_accuracy

    def effective_accuracy(self, cot: bool) -> float:
        return min(1.0, self.accuracy + self.cot_bonus) if cot else self.accuracy


class FaultConfig(BaseModel):
    """Injected failures, so retry and error paths can be exercised offline."""

    model_config = ConfigDict(extra="forbid")

    rate_429: float = Field(default=0.0, ge=0.0, le=1.0)
    rate_500: float = Field(default=0.0, ge=0.0, le=1.0)
    rate_503: float = Field(default=0.0, ge=0.0, le=1.0)
    rate_529: float = Field(default=0.0, ge=0.0, le=1.0)
    rate_drop: float = Field(default=0.0, ge=0.0, le=1.0)
    # Replies with HTTP 200 that are not the API's JSON, as broken proxies and servers send them:
    # a body cut off mid-JSON, an empty body, and the provider's error object sent with status 200.
    rate_invalid_json: float = Field(default=0.0, ge=0.0, le=1.0)
    rate_empty_body: float = Field(default=0.0, ge=0.0, le=1.0)
    rate_error_body_200: float = Field(default=0.0, ge=0.0, le=1.0)
    # A well-formed reply whose text is oversize_bytes long, whatever max_tokens asked for (a
    # server that ignores the limit); sent chunked, without Content-Length, unless oversize_chunked=false.
    rate_oversize: float = Field(default=0.0, ge=0.0, le=1.0)
    oversize_bytes: int = Field(default=20_000_000, ge=1)
    oversize_chunked: bool = True
    retry_after_s: float | None = Field(default=1.0, ge=0.0)
    max_prompt_chars: int | None = Field(default=None, ge=1)
    poison_substring: str | None = Field(default=None, min_length=1)
    fault_seed: int = 0
    require_api_key: str | None = None
    # Share of first structured answers that come back invalid (a required field missing, or a
    # field of the wrong type); deterministic per request. A re-ask that shows the validation
    # error gets a valid object, as a real model mostly would.
    invalid_structured_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    # Prompts containing it never get a valid structured answer, re-asks included.
    invalid_structured_substring: str | None = Field(default=None, min_length=1)
    # The model every reply says answered (OpenAI and Anthropic `model`, Gemini `modelVersion`)
    # instead of the requested one: a server that routes the request to another model.
    served_model: str | None = Field(default=None, min_length=1)
    # The batch APIs (evalsweep.simulator.batch_common): seconds until a batch has ended; requests
    # whose prompt holds the first substring come back errored, those holding the second expire.
    batch_delay_s: float = Field(default=0.0, ge=0.0)
    batch_error_substring: str | None = Field(default=None, min_length=1)
    batch_expire_substring: str | None = Field(default=None, min_length=1)
    # A server-side rate limit (evalsweep.simulator.ratelimit): requests and/or tokens per window_s,
    # sent as the provider's rate-limit headers, 429 beyond it (counted apart: SimStats.rate_limited).
    rate_limit: RateLimitConfig | None = None

    @model_validator(mode="after")
    def _rates_sum_to_at_most_one(self) -> FaultConfig:
        total = sum(getattr(self, name) for _, name in _RATED)
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates sum to {total:.4f}; they must sum to at most 1")
        return self

    def thresholds(self) -> list[tuple[float, str]]:
        """Cumulative (upper bound, kind) pairs for drawing one fault per request."""
        out: list[tuple[float, str]] = []
        acc = 0.0
        for kind, name in _RATED:
            rate = getattr(self, name)
            if rate > 0:
                acc += rate
                out.append((acc, kind))
        return out


def _default_profiles() -> dict[str, ModelProfile]:
    return {
        # The same profiles as conf/model/sim.yaml, sim_weak.yaml, sim_strong.yaml and sim_gemini.yaml.
        "sim": ModelProfile(accuracy=0.75),
        "sim-gemini": ModelProfile(accuracy=0.75),
        "sim-weak": ModelProfile(accuracy=0.45, refusal_rate=0.5, over_refusal_rate=0.1, flip_rate=0.4,
                                 matching_rate=0.7),
        "sim-strong": ModelProfile(accuracy=0.92, refusal_rate=0.9, over_refusal_rate=0.0, flip_rate=0.1,
                                   matching_rate=0.3),
    }


class SimulatorConfig(BaseModel):
    """Everything the simulator server needs; the defaults give a fault-free, instant server."""

    model_config = ConfigDict(extra="forbid")

    profiles: dict[str, ModelProfile] = Field(default_factory=_default_profiles)
    default_accuracy: float = Field(default=0.7, ge=0.0, le=1.0)
    latency_ms: float = Field(default=0.0, ge=0.0)
    latency_jitter_ms: float = Field(default=0.0, ge=0.0)
    faults: FaultConfig = Field(default_factory=FaultConfig)

    def profile_for(self, model: str) -> ModelProfile:
        profile = self.profiles.get(model)
        if profile is None:
            return ModelProfile(accuracy=self.default_accuracy)
        return profile
