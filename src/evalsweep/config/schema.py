"""Pydantic schema of the composed Hydra config. Validation runs before any API call, and
extra="forbid" everywhere catches typos that Hydra's `+key=value` lets through."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from evalsweep.errors import ConfigError
from evalsweep.config.generate import GenerateConfig

PROJECT_ROOT = Path(__file__).resolve().parents[3]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RetryConfig(Strict):
    max_attempts: int = Field(6, ge=1, le=100)
    max_wait_s: float = Field(120.0, gt=0)
    initial_wait_s: float = Field(0.5, ge=0)
    max_backoff_s: float = Field(30.0, gt=0)


class PriceConfig(Strict):
    input_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(0.0, ge=0)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """USD for these tokens: the one place cost is computed (jobs, judges, scripts)."""
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


class SimulatorSettings(Strict):
    """How the job's own simulator behaves for this model (see evalsweep.simulator)."""

    accuracy: float = Field(0.75, ge=0, le=1)
    cot_bonus: float = Field(0.05, ge=0, le=1)
    latency_ms: float = Field(0.0, ge=0)
    latency_jitter_ms: float = Field(0.0, ge=0)
    # As a judge (scorer=judge, scripts/classify.py): how often it grades right; null = accuracy.
    judge_accuracy: float | None = Field(None, ge=0, le=1)
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
    provider: Literal["openai", "anthropic"]
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
    price: PriceConfig = Field(default_factory=PriceConfig)
    max_cost_usd: float | None = Field(None, gt=0)
    # Typed responses (docs/structured.md): the provider's own structured output (native), or
    # JSON asked for in the prompt and parsed from the text, for servers without it (json_text).
    structured_output: Literal["native", "json_text"] = "native"
    # How often an object that fails validation is asked again, with the error shown.
    structured_reasks: int = Field(2, ge=0, le=10)
    simulator: SimulatorSettings | None = None

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

    @model_validator(mode="after")
    def _key_source(self) -> "ModelConfig":
        if not self.simulated and not self.api_key_env:
            raise ValueError("a real provider needs api_key_env (the environment variable holding the key)")
        return self


class FieldMap(Strict):
    id: str = "id"
    input: str = "input"
    target: str = "target"
    choices: list[str] | str | None = None
    # Row fields carried into each sample's metadata. Every row must have each of them, unless its
    # name ends in "?" (e.g. [difficulty, topic?]): then a row without it gets null.
    metadata: list[str] = Field(default_factory=list)
    # The optional ones among metadata (without the "?"), filled from the "?" marks.
    optional_metadata: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _optional_marks(self) -> "FieldMap":
        names: list[str] = []
        optional = list(dict.fromkeys(self.optional_metadata))
        for raw in self.metadata:
            name = raw.rstrip().removesuffix("?").rstrip()
            if not name:
                raise ValueError(f"metadata field {raw!r} has no name")
            if name != raw.rstrip() and name not in optional:
                optional.append(name)
            if name not in names:
                names.append(name)
        names += [n for n in optional if n not in names]
        self.metadata, self.optional_metadata = names, optional
        return self

    def item_mapping(self) -> tuple[str, str, str, Any]:
        """What decides the items read from a file: id, input, target and choices (not metadata)."""
        choices = tuple(self.choices) if isinstance(self.choices, list) else self.choices
        return self.id, self.input, self.target, choices


def _resolve(path: str) -> Path:
    p = Path(path).expanduser()
    # Relative paths are taken from the project root, so `python /path/run.py` works anywhere.
    return p if p.is_absolute() else PROJECT_ROOT / p


def content_version(path: Path) -> str | None:
    """A version for a file nobody gave one: the start of the sha256 of its bytes (None when
    it cannot be read; loading it then says why)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return f"sha256:{digest.hexdigest()[:12]}"


class DatasetProvenance(Strict):
    """What a dataset option's own file is (conf/dataset/*.yaml). It labels a job only while the
    job reads that file through that mapping: another dataset.path or field mapping is another
    dataset, which must not be reported under this one's name, version and source."""

    path: str
    fields: FieldMap = Field(default_factory=FieldMap)
    name: str = Field(min_length=1)
    version: str | None = None
    source: str | None = None
    split: str | None = None


class DatasetConfig(Strict):
    name: str = Field(min_length=1)
    path: str
    format: Literal["jsonl", "csv"] | None = None
    fields: FieldMap = Field(default_factory=FieldMap)
    max_samples: int | None = Field(None, ge=1)
    shuffle: bool = True
    # Picks the max_samples subset; fixed by default so every seed of a sweep asks the same
    # items (seeds then replicate the model's sampling, not the choice of items).
    subset_seed: int = 0
    # What the data is. null: the option's provenance (below) while the job reads the option's own
    # file and mapping; for another file: derived (version, source) or not stated (split).
    version: str | None = None
    source: str | None = None
    split: str | None = None
    scorer: str = "exact"
    # The file and mapping a dataset option describes, and what they are (null: the values above
    # are taken as they are).
    provenance: DatasetProvenance | None = None
    # Provenance values the job derived because its file or mapping is not the option's own:
    # field -> how ("the file's stem", ...). Validation warns about them.
    _derived: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, v: Any) -> Any:
        # dataset.version=2 or 2.1 on the command line reaches us as a number (quote "2.10" to keep the 0).
        return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _own_provenance(self) -> "DatasetConfig":
        p = self.provenance
        if p is None:
            return self
        if self.is_own_file:
            for key in ("version", "source", "split"):
                if getattr(self, key) is None:
                    setattr(self, key, getattr(p, key))
            return self
        # Another file or mapping: nothing of the option's provenance is inherited. A name still
        # equal to the option's is taken as inherited (Hydra cannot tell us it was typed again).
        derived: dict[str, str] = {}
        path = self.resolved_path
        if self.name == p.name:
            self.name = path.stem or self.name
            derived["name"] = "the file's stem"
        if self.version is None:
            self.version = content_version(path)
            if self.version is not None:
                derived["version"] = "sha256 of the file"
        if self.source is None:
            self.source = str(path)
            derived["source"] = "the path"
        if self.split is None:
            derived["split"] = "not stated"
        self._derived = derived
        return self

    @property
    def resolved_path(self) -> Path:
        return _resolve(self.path)

    @property
    def is_own_file(self) -> bool | None:
        """Whether the job reads its option's own file through the option's own mapping (None:
        the option states no provenance)."""
        p = self.provenance
        if p is None:
            return None
        same_path = self.resolved_path.resolve() == _resolve(p.path).resolve()
        return same_path and self.fields.item_mapping() == p.fields.item_mapping()

    @property
    def derived(self) -> dict[str, str]:
        return dict(self._derived)


class FewShot(Strict):
    user: str
    assistant: str


class PromptConfig(Strict):
    name: str = Field(min_length=1)
    system: str | None = None
    user: str
    few_shot: list[FewShot] = Field(default_factory=list)


class ScorerConfig(Strict):
    # auto (the dataset's own scorer), a built-in (exact, numeric, choice, judge), or a dotted path
    # to your own function, e.g. mylab.scorers:refusal (evalsweep.task.scoring.SCORERS).
    type: str = Field("auto", min_length=1)
    tolerance: float = Field(1e-6, ge=0)
    # scorer=judge (docs/judge.md): a judge model (a conf/model/ option) grades each output
    # with the rubric; each grade maps to a score.
    judge: str | None = None
    # Applied to the judge's model config, e.g. {temperature: 0.0}.
    judge_overrides: dict[str, Any] = Field(default_factory=dict)
    rubric: str | None = None
    grades: dict[str, float] = Field(default_factory=lambda: {"C": 1.0, "I": 0.0})

    @model_validator(mode="after")
    def _judge_settings(self) -> "ScorerConfig":
        if self.type == "judge" and not (self.judge and self.rubric):
            raise ValueError("scorer=judge needs scorer.judge (a model option, e.g. sim_strong) and scorer.rubric")
        if len(self.grades) < 2 or any(not 0 <= v <= 1 for v in self.grades.values()):
            raise ValueError("scorer.grades needs at least two grades, each mapped to a score in [0, 1]")
        return self


class StructuredConfig(Strict):
    """Typed answers of the model under test (docs/structured.md)."""

    # Dotted path of a pydantic model, e.g. evalsweep.structured.models.Answer; null: plain text.
    response_model: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")
    # The object's field the scorer reads instead of the raw text (e.g. answer); null: the raw text.
    score_field: str | None = None


_TTL = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class CacheConfig(Strict):
    enabled: bool = True
    path: str | None = None
    ttl: str | None = None
    refresh: bool = False

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, v: str | None) -> str | None:
        if v is not None and not _TTL.match(str(v).strip()):
            raise ValueError("expected a duration such as 30m, 12h, 7d or 2w")
        return v

    @property
    def ttl_seconds(self) -> float | None:
        if self.ttl is None:
            return None
        m = _TTL.match(self.ttl.strip())
        assert m is not None  # checked by the validator
        return float(m.group(1)) * _TTL_UNITS[m.group(2)]


class WandbConfig(Strict):
    """wandb tracking (tracker=wandb). Offline unless WANDB_MODE is set or WANDB_API_KEY exists."""

    project: str = Field("evalsweep", min_length=1, max_length=128)
    entity: str | None = None
    tags: list[str] = Field(default_factory=list)
    # Rows of the samples table (the first N records of results.jsonl): bounded, so a big job
    # does not turn its run into a copy of the results file (that is the artifact's job).
    table_rows: int = Field(200, ge=0, le=100_000)
    # Log running metrics at most once every N records: wandb's per-call cost stays negligible.
    log_every: int = Field(25, ge=1)
    # Upload results.jsonl as an artifact of the run.
    log_results_artifact: bool = True

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if not 1 <= len(str(t)) <= 64]
        if bad:
            raise ValueError(f"wandb tags must be 1 to 64 characters long: {bad}")
        return [str(t) for t in v]


class RunConfig(Strict):
    progress: bool = True
    fail_on_sample_errors: bool = True
    # A resume asks samples that failed for good again (their earlier rows go to retried_errors.jsonl).
    retry_errors: bool = True


class SharedLimitConfig(Strict):
    """The model's limits held across every job on this machine (evalsweep.llm.shared_limit,
    docs/scaling.md); each job's own limits stay in force as well."""

    enabled: bool = False
    # null -> model.max_concurrency / model.rpm, now counted across all jobs instead of per job.
    max_concurrency: int | None = Field(None, ge=1, le=10_000)
    rpm: int | None = Field(None, ge=1)
    # null -> $EVALSWEEP_LIMITS_PATH, else /tmp/evalsweep-<uid>/shared_limits.sqlite (keep it on a local disk).
    path: str | None = None


class SpecConfig(Strict):
    """What only a person can say about the experiment; checked before the first API call
    (evalsweep.job.validation). Everything the config already says is derived, not typed here."""

    hypothesis: str | None = None
    # The result that would prove the hypothesis wrong.
    falsification: str | None = None
    # Which number answers the hypothesis and how it is aggregated; the scorer and dataset come from the config.
    metrics: str | None = None
    graphs: list[str] = Field(default_factory=list)
    # One reason per generation parameter in use (temperature, max_tokens, top_p, stop); null removes one.
    justifications: dict[str, str | None] = Field(default_factory=dict)
    # The variant the others are compared against, e.g. "model=sim_weak prompt=direct".
    baseline: str | None = None
    skip_validation: bool = False


class ExperimentConfig(Strict):
    model: ModelConfig
    dataset: DatasetConfig
    prompt: PromptConfig
    scorer: ScorerConfig = Field(default_factory=ScorerConfig)
    seed: int
    repeats: int = Field(1, ge=1)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    tracker: Literal["wandb", "none"] = "wandb"
    wandb: WandbConfig = Field(default_factory=WandbConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    shared_limit: SharedLimitConfig = Field(default_factory=SharedLimitConfig)
    structured: StructuredConfig = Field(default_factory=StructuredConfig)
    spec: SpecConfig = Field(default_factory=SpecConfig)
    # Print the pre-run validation report and exit (0 when it passes) without running anything.
    validate_only: bool = False

    @property
    def scorer_type(self) -> str:
        return self.dataset.scorer if self.scorer.type == "auto" else self.scorer.type


def _describe(err: dict[str, Any], data: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = ".".join(str(p) for p in err["loc"][:-1]) or "the top level"
        return f"unknown config key '{loc}' (not a field of {parent}); check the spelling, or remove it"
    if kind == "missing":
        return f"missing required config value '{loc}'; set it, e.g. {loc}=<value>"
    got = err.get("input")
    if loc.endswith("api_key_env"):  # may be a key pasted in by mistake: never repeated
        return f"invalid config value {loc}: {err['msg']}"
    return f"invalid config value {loc}={got!r}: {err['msg']}; fix it in conf/ or on the command line"


def validate(cfg: dict[str, Any]) -> ExperimentConfig:
    """Validate the composed config (a plain dict); raise ConfigError with one line per problem.

    The dataset's name, version, source and split as the job uses them (its option's provenance,
    or derived for another file: DatasetConfig) are written back into cfg["dataset"], so the config
    recorded (summary.json, repro/config.yaml, the tracker) and compared on resume says what the
    records say, not the option's nulls."""
    data = {k: v for k, v in cfg.items() if k != "hydra"}
    try:
        exp = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(e, data) for e in exc.errors()]
        more = f" (and {len(problems) - 1} more: {'; '.join(problems[1:3])})" if len(problems) > 1 else ""
        raise ConfigError(problems[0] + more) from None
    section = cfg.get("dataset")
    if isinstance(section, dict) and exp.dataset.provenance is not None:
        section.update({k: getattr(exp.dataset, k) for k in ("name", "version", "source", "split")})
    return exp
