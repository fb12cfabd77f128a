"""What validation knows beyond the job's own config: the machine it runs on (Machine), where the
job writes and the sweep it belongs to (JobContext), and the dataset as read once for every check."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import psutil
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from evalsweep.config.schema import ExperimentConfig

if TYPE_CHECKING:
    from evalsweep.task.data import Samples


class Machine(BaseModel):
    """The resources a job can count on, probed with psutil (a test may pass its own)."""

    cores: int
    memory_available: int
    memory_total: int
    process_rss: int

    @classmethod
    def probe(cls) -> Machine:
        vm = psutil.virtual_memory()
        return cls(cores=psutil.cpu_count(logical=True) or 1, memory_available=vm.available,
                   memory_total=vm.total, process_rss=psutil.Process().memory_info().rss)


class JobContext(BaseModel):
    """What validation needs to know beyond the job's own config: where it writes, and its sweep."""

    model_config = ConfigDict(extra="forbid")

    output_dir: Path
    # Distinct seeds across the sweep this job belongs to ([seed] for a single run).
    seeds: list[int]
    n_jobs: int = 1
    parallel_jobs: int = 1
    # False when the sweep's pre-run validation already printed a report: the job only saves its own.
    print_report: bool = True
    # Swept override key -> the values it takes across the sweep (empty for a single run).
    swept: dict[str, list[str]] = Field(default_factory=dict)
    machine: Machine = Field(default_factory=Machine.probe)
    # The dataset as read by this validation (all rows, then the job's), read once for every check.
    _samples: tuple[str, Samples, Samples] | None = PrivateAttr(None)

    def samples(self, exp: ExperimentConfig) -> tuple[Samples, Samples]:
        """(every sample of the file, the job's samples); a file that does not load raises its
        own DatasetError (file and line, exit 2)."""
        from evalsweep.task.data import choose, read_dataset  # the data layer is only needed once validation runs

        key = f"{exp.dataset.model_dump_json()}|{exp.seed}|{exp.scorer_type}"
        if self._samples is None or self._samples[0] != key:
            every = read_dataset(exp.dataset, exp.scorer_type)
            self._samples = (key, every, choose(every, exp.dataset, exp.seed))
        return self._samples[1], self._samples[2]
