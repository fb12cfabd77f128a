"""Helpers for the provider-client and cache tests: a simulator started by the test (so its own
request counts can be read), and `python run.py` in a subprocess pointed at it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from evalsweep.config.schema import ExperimentConfig
from evalsweep.simulator import FaultConfig, SimulatorConfig, SimulatorServer

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


@contextmanager
def sim_server(latency_ms: float = 0.0, **faults: Any) -> Iterator[SimulatorServer]:
    srv = SimulatorServer(SimulatorConfig(latency_ms=latency_ms, faults=FaultConfig(**faults)))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def base_args(run_dir: Path, *, samples: int = 8) -> list[str]:
    args = ["tracker=none", "run.progress=false", f"dataset.max_samples={samples}", f"hydra.run.dir={run_dir}",
            # Retry waits short: the tests count retries, they do not need to wait like production.
            "model.retry.initial_wait_s=0.01", "model.retry.max_backoff_s=0.05"]
    if "spec" in ExperimentConfig.model_fields:
        args.append("++spec.skip_validation=true")  # the pre-run checklist is not what these tests test
    return args


def run_py(args: list[str], *, cache: Path | None, env: dict[str, str] | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python run.py ARGS` as a user types it, with a private cache file (or none)."""
    full = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    full.update({"WANDB_MODE": "disabled", "WANDB_SILENT": "true"})
    if cache is not None:
        full["EVALSWEEP_CACHE_PATH"] = str(cache)
    full.update(env or {})
    return subprocess.run([PY, str(ROOT / "run.py"), *args], cwd=ROOT, env=full, capture_output=True, text=True,
                          timeout=timeout)


def summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "summary.json").read_text())


def rows(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines() if line.strip()]


def write_dataset(path: Path, questions: list[str]) -> list[str]:
    """A tiny JSONL dataset in the arithmetic format; returns the overrides that select it
    (pass samples=len(questions) to base_args)."""
    with path.open("w") as f:
        for i, q in enumerate(questions):
            f.write(json.dumps({"id": f"q{i}", "question": q, "answer": "0", "difficulty": "easy"}) + "\n")
    return [f"dataset.path={path}", "dataset.shuffle=false"]


def cause_counts(sim_faults: dict[str, int]) -> dict[str, int]:
    """The simulator's fault counters in the names summary.json uses for retry causes."""
    names = {"drop": "connection"}
    return {names.get(k, k): v for k, v in sim_faults.items() if v}
