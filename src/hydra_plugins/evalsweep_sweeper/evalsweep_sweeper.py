"""Hydra's basic sweeper, with each job's config composed once (see composed.py).

It expands and runs a sweep exactly as the basic sweeper does (same jobs, order and batches); it only
skips composing again what the pre-run validation already composed. It lives here, not in
evalsweep.app, because Hydra takes plugins only from classes defined in the hydra_plugins package;
conf/hydra/sweeper/evalsweep.yaml selects it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_loader import ConfigLoader
from hydra.core.object_type import ObjectType
from hydra.types import HydraContext, RunMode, TaskFunction
from omegaconf import DictConfig

from evalsweep.app import composed


class ComposedOnceLoader(ConfigLoader):
    """Hydra's config loader, but a job config the preflight composed is taken from it, not composed
    again. Pickled into a launcher's worker process it finds no store there and composes as before."""

    def __init__(self, loader: ConfigLoader) -> None:
        self._loader = loader

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        sweep = composed.current()
        cfg = sweep.take(master_config, sweep_overrides) if sweep is not None else None
        return cfg if cfg is not None else self._loader.load_sweep_config(master_config, sweep_overrides)

    def load_configuration(self, config_name: str | None, overrides: list[str], run_mode: RunMode,
                           from_shell: bool = True, validate_sweep_overrides: bool = True) -> DictConfig:
        return self._loader.load_configuration(config_name, overrides, run_mode, from_shell=from_shell,
                                               validate_sweep_overrides=validate_sweep_overrides)

    def get_search_path(self) -> Any:
        return self._loader.get_search_path()

    def get_sources(self) -> Any:
        return self._loader.get_sources()

    def list_groups(self, parent_name: str) -> list[str]:
        return self._loader.list_groups(parent_name)

    def get_group_options(self, group_name: str, results_filter: ObjectType | None = ObjectType.CONFIG,
                          config_name: str | None = None, overrides: list[str] | None = None) -> list[str]:
        return self._loader.get_group_options(group_name, results_filter, config_name, overrides)

    def compute_defaults_list(self, config_name: str | None, overrides: list[str], run_mode: RunMode) -> Any:
        return self._loader.compute_defaults_list(config_name, overrides, run_mode)


class EvalsweepSweeper(BasicSweeper):
    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        shared = HydraContext(config_loader=ComposedOnceLoader(hydra_context.config_loader),
                              callbacks=hydra_context.callbacks)
        super().setup(hydra_context=shared, task_function=task_function, config=config)

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """The basic sweeper's check that each job composes, for the jobs the preflight did not compose
        (all of them when the preflight could not run)."""
        sweep = composed.current()
        assert self.config is not None
        rest = [job for job in batch if sweep is None or not sweep.has(self.config, job)]
        if rest:
            super().validate_batch_is_legal(rest)
