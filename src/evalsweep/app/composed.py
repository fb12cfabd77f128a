"""A sweep's job configs, composed once.

Within one multirun Hydra composes every job's config three times: the pre-run validation
(preflight.py) checks each job before any runs, the basic sweeper checks that each job composes, and
the launcher composes it to run it. Composing reads and merges every YAML file again (~60 ms a job),
most of what a small job costs. The preflight keeps what it composed here; the project's sweeper
(src/hydra_plugins/evalsweep_sweeper/) skips its own check of those jobs and hands each config to
the launcher once.

The store is this module's state because the preflight (a Hydra callback) and the sweeper are built by
Hydra separately and share nothing else; it holds one multirun's configs, tied to that multirun's
config object, so a second multirun in the same process never reads the first one's."""

from __future__ import annotations

import pickle
from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

_Key = tuple[str, ...]


class ComposedSweep:
    """The job configs of one multirun (its config object `master`), by each job's overrides. Kept
    pickled: a composed DictConfig is ~0.2 MB of objects and ~30 KB pickled, and unpickling it
    (~2 ms) is also the copy each taker needs (the launcher sets hydra.job.* on what it gets)."""

    def __init__(self, master: DictConfig) -> None:
        self.master = master
        self._configs: dict[_Key, bytes] = {}

    def keep(self, overrides: Sequence[str], cfg: DictConfig) -> None:
        self._configs[tuple(overrides)] = pickle.dumps(cfg)

    def has(self, master: DictConfig, overrides: Sequence[str]) -> bool:
        return master is self.master and tuple(overrides) in self._configs

    def take(self, master: DictConfig, overrides: Sequence[str]) -> DictConfig | None:
        """The job's config, once: None for another multirun or a job composed here before."""
        if master is not self.master:
            return None
        data = self._configs.pop(tuple(overrides), None)
        if data is None:
            return None
        cfg = pickle.loads(data)
        # As Hydra's load_sweep_config does: the resolved values the multirun holds now (its ${now:}
        # in the sweep dir), which it may have resolved after the preflight composed this job.
        OmegaConf.copy_cache(from_config=master, to_config=cfg)
        return cfg


_current: ComposedSweep | None = None


def begin(master: DictConfig) -> ComposedSweep:
    """A new store for the multirun of `master`, replacing any earlier one."""
    global _current
    _current = ComposedSweep(master)
    return _current


def current() -> ComposedSweep | None:
    return _current
