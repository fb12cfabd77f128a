"""evalsweep: a Hydra-configured sweep runner for LLM experiments.

From Python: `evalsweep.run_job(["model=sim_strong", "seed=43"])` runs one job as run.py would
(evalsweep.api); `async with evalsweep.open_model("sim_strong") as model:` asks a model with the
job's cache, retries and limits (evalsweep.client). Imported on first use: `import evalsweep` is cheap."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalsweep.api import JobResult, run_job
    from evalsweep.client import Model, open_model

__all__ = ["JobResult", "Model", "open_model", "run_job"]
_HOME = {"JobResult": "api", "run_job": "api", "Model": "client", "open_model": "client"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        from importlib import import_module

        return getattr(import_module(f"evalsweep.{_HOME[name]}"), name)
    raise AttributeError(f"module 'evalsweep' has no attribute {name!r}")
