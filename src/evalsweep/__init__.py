"""evalsweep: a Hydra-configured sweep runner for LLM experiments.

From Python: `evalsweep.run_job(["model=sim_strong", "seed=43"])` runs one job as run.py would
(evalsweep.api). Imported on first use, so `import evalsweep` stays cheap."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalsweep.api import JobResult, run_job

__all__ = ["JobResult", "run_job"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from evalsweep import api

        return getattr(api, name)
    raise AttributeError(f"module 'evalsweep' has no attribute {name!r}")
