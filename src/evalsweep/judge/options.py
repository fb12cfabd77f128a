"""A model option (conf/model/<name>.yaml) loaded on its own, e.g. as a judge or a classifier,
validated like the job's own model."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import ValidationError

from evalsweep.config.base import PROJECT_ROOT
from evalsweep.config.model import ModelConfig
from evalsweep.errors import ConfigError

MODEL_DIR = PROJECT_ROOT / "conf" / "model"


def available() -> list[str]:
    return sorted(p.stem for p in MODEL_DIR.glob("*.yaml"))


def load_model_option(name: str, overrides: dict[str, Any] | None = None, *, where: str = "scorer.judge") -> ModelConfig:
    """conf/model/<name>.yaml with `overrides` merged in, as a validated ModelConfig."""
    path = MODEL_DIR / f"{name}.yaml"
    if not name or "/" in name or not path.is_file():
        raise ConfigError(f"{where}={name}: no model option conf/model/{name}.yaml; "
                          f"choose one of {', '.join(available())}")
    try:
        cfg = OmegaConf.load(path)
        if "defaults" in cfg:  # a group default list means nothing outside a Hydra composition
            cfg.pop("defaults")
        merged = OmegaConf.merge(cfg, OmegaConf.create(dict(overrides or {})))
        data = OmegaConf.to_container(merged, resolve=True)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{where}={name}: cannot read {path}: {str(exc).splitlines()[0]}") from None
    try:
        return ModelConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ConfigError(f"{where}={name}: invalid model setting '{loc}': {err['msg']}; fix {path} "
                          f"or the override") from None
