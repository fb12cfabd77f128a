"""conf/ composed as run.py composes it, for a job run from Python (evalsweep.run_job) or a test:
Hydra's compose API reads the config groups and applies the overrides; nothing of Hydra's app runs
(no launcher, no sweep, no chdir)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import OmegaConf, open_dict

from evalsweep.app.cli_errors import one_line
from evalsweep.config.base import PROJECT_ROOT
from evalsweep.config.schema import ExperimentConfig, validate
from evalsweep.errors import ConfigError

CONF_DIR = PROJECT_ROOT / "conf"


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
