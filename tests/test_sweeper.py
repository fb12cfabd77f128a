"""The project's sweeper (hydra_plugins.evalsweep_sweeper): a job the pre-run validation composed is
handed to the launcher as composed, once, and equals what Hydra composes afresh. In-process, on
conf/ through Hydra's own config loader."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from conftest import ROOT
from evalsweep.app import composed
from hydra_plugins.evalsweep_sweeper import evalsweep_sweeper as plugin
from hydra_plugins.evalsweep_sweeper.evalsweep_sweeper import ComposedOnceLoader

JOB = ["model=sim_weak", "seed=7"]


class CountingLoader(ComposedOnceLoader):
    """Hydra's loader, counting the configs it really composes."""

    def __init__(self, loader) -> None:  # type: ignore[no-untyped-def]
        super().__init__(loader)
        self.composed = 0

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        self.composed += 1
        return super().load_sweep_config(master_config, sweep_overrides)


@pytest.fixture
def master() -> Iterator[DictConfig]:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        yield compose("config", overrides=[], return_hydra_config=True)
    composed.begin(OmegaConf.create())  # no store of this test's multirun is left for the next


def test_the_launcher_gets_the_preflights_config_once_and_it_equals_a_fresh_one(master: DictConfig) -> None:
    hydra_loader = GlobalHydra.instance().config_loader()
    sweep = composed.begin(master)
    sweep.keep(JOB, hydra_loader.load_sweep_config(master, list(JOB)))
    sweep_dir = str(master.hydra.sweep.dir)  # resolved (its ${now:}) only after the job was composed
    counted = CountingLoader(hydra_loader)
    loader = ComposedOnceLoader(counted)

    taken = loader.load_sweep_config(master, list(JOB))
    assert counted.composed == 0
    fresh = hydra_loader.load_sweep_config(master, list(JOB))
    assert OmegaConf.to_yaml(taken) == OmegaConf.to_yaml(fresh)
    assert taken.model.name == "sim-weak" and taken.seed == 7
    assert str(taken.hydra.sweep.dir) == sweep_dir  # the sweep's dir, not a later ${now:}
    # Taken once: a second launch of the same job (or one the preflight never saw) is composed.
    loader.load_sweep_config(master, list(JOB))
    loader.load_sweep_config(master, ["seed=8"])
    assert counted.composed == 2


def test_another_multiruns_config_is_never_handed_out(master: DictConfig) -> None:
    hydra_loader = GlobalHydra.instance().config_loader()
    composed.begin(master).keep(JOB, hydra_loader.load_sweep_config(master, list(JOB)))
    other = master.copy()
    counted = CountingLoader(hydra_loader)
    ComposedOnceLoader(counted).load_sweep_config(other, list(JOB))
    assert counted.composed == 1


def test_the_sweeper_checks_only_the_jobs_the_preflight_did_not_compose(master: DictConfig) -> None:
    hydra_loader = GlobalHydra.instance().config_loader()
    composed.begin(master).keep(JOB, hydra_loader.load_sweep_config(master, list(JOB)))
    checked: list[list[str]] = []

    class Recording(CountingLoader):
        def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
            checked.append(list(sweep_overrides))
            return hydra_loader.load_sweep_config(master_config, sweep_overrides)

    # Read at call time: Hydra's plugin scan runs the plugin modules again, with classes of their own.
    sweeper = plugin.EvalsweepSweeper(max_batch_size=None)
    sweeper.config = master
    sweeper.hydra_context = type("Ctx", (), {"config_loader": Recording(hydra_loader)})()  # type: ignore[assignment]
    sweeper.validate_batch_is_legal([JOB, ["model=sim_strong", "seed=7"]])
    assert checked == [["model=sim_strong", "seed=7"]]
    # A job that does not compose is still caught by the check.
    with pytest.raises(Exception, match="no_such_model"):
        sweeper.validate_batch_is_legal([["model=no_such_model"]])
