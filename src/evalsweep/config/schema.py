"""The composed Hydra config as one model: ExperimentConfig (its sections live beside it: base,
model, dataset, task, run), the experiment's spec, and validate(), which turns pydantic's errors
into one ConfigError line. Validation runs before any API call."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError

from evalsweep.config.base import Strict
from evalsweep.config.dataset import DatasetConfig
from evalsweep.config.model import ModelConfig, SharedLimitConfig
from evalsweep.config.run import CacheConfig, RunConfig, WandbConfig
from evalsweep.config.store import StoreConfig, SweepConfig
from evalsweep.config.task import PromptConfig, ScorerConfig, SolverConfig, StructuredConfig
from evalsweep.batch.check import check_batch
from evalsweep.errors import ConfigError
from evalsweep.store.budget import BudgetSpec


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
    # What the job does with each sample: its steps over one conversation (the default asks once).
    solver: SolverConfig = Field(default_factory=SolverConfig)
    scorer: ScorerConfig = Field(default_factory=ScorerConfig)
    seed: int
    repeats: int = Field(1, ge=1)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    tracker: Literal["wandb", "none"] = "wandb"
    wandb: WandbConfig = Field(default_factory=WandbConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    shared_limit: SharedLimitConfig = Field(default_factory=SharedLimitConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    sweep: SweepConfig = Field(default_factory=SweepConfig)
    structured: StructuredConfig = Field(default_factory=StructuredConfig)
    spec: SpecConfig = Field(default_factory=SpecConfig)
    # Print the pre-run validation report and exit (0 when it passes) without running anything.
    validate_only: bool = False
    # The sweep's budget as the job resolved it (sweep.max_cost_usd and the sweep dir), for the
    # services a scorer opens (a judge's spend counts against it too); not part of the config.
    _budget: BudgetSpec | None = PrivateAttr(None)

    @property
    def scorer_type(self) -> str:
        return self.dataset.scorer if self.scorer.type == "auto" else self.scorer.type

    @property
    def budget(self) -> BudgetSpec | None:
        """The sweep's budget every model service of this job counts against (None: no sweep budget)."""
        return self._budget

    def with_budget(self, spec: BudgetSpec | None) -> ExperimentConfig:
        """This config, for a job that counts against `spec` (see `budget`)."""
        exp = self.model_copy()
        exp._budget = spec
        return exp


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
    if isinstance(got, dict) and kind == "value_error" and (loc == "model" or loc.endswith(".model")):
        # A check across the model's fields: its message names the setting; the section itself is
        # not repeated (it is long, and extra_headers may hold what must not be printed).
        return f"invalid config: {err['msg'].removeprefix('Value error, ')}"
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
    check_batch(exp.run, exp.model, exp.sweep.max_cost_usd)  # run.mode=batch where there is no batch API: one line, nothing run
    section = cfg.get("dataset")
    if isinstance(section, dict) and exp.dataset.provenance is not None:
        section.update({k: getattr(exp.dataset, k) for k in ("name", "version", "source", "split")})
    return exp
