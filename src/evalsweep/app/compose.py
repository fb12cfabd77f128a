"""conf/ composed as run.py composes it, for a job run from Python (evalsweep.run_job) or a test:
Hydra's compose API reads the config groups and applies the overrides; nothing of Hydra's app runs
(no launcher, no sweep, no chdir)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import OmegaConf, open_dict

from evalsweep.app.cli_errors import one_line
from evalsweep.config.base import PROJECT_ROOT
from evalsweep.config.schema import ExperimentConfig, validate
from evalsweep.errors import ConfigError

CONF_DIR = PROJECT_ROOT / "conf"
_BARE = re.compile(r"^[A-Za-z0-9_./:+-]+$")  # a value Hydra's override grammar takes unquoted


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _BARE.match(text) and text not in ("true", "false", "null"):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def overrides_from_dict(changes: Mapping[str, Any], prefix: str = "") -> list[str]:
    """A plain dict of changes on the defaults as run.py's overrides: a string picks a config group's
    option (`{"model": "sim_strong"}` is `model=sim_strong`), a nested dict sets fields
    (`{"dataset": {"max_samples": 20}}` is `dataset.max_samples=20`)."""
    out: list[str] = []
    for key, value in changes.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out += overrides_from_dict(value, prefix=f"{name}.")
        else:
            out.append(f"{name}={_value(value)}")
    return out


def compose(overrides: Sequence[str] = ()) -> tuple[dict[str, Any], ExperimentConfig]:
    """conf/config.yaml with run.py's overrides applied, resolved and validated."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name="run"):
        try:
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
        except Exception as exc:  # Hydra's usage errors become the ConfigError run.py would print; others re-raise
            said = one_line(exc)
            if said is None:
                raise
            raise ConfigError(said[0]) from None
    with open_dict(cfg):
        cfg.pop("hydra", None)
    container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    assert isinstance(container, dict)
    return container, validate(container)
