"""The shipped wandb sweep: loaded the way `wandb sweep` loads it, one grid point rendered into the
command line `wandb agent` would start (with wandb's own argument builder), and that command run."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args, load_sweep_config

from conftest import ROOT, cli_env, overrides_of, summary

SWEEP = ROOT / "sweeps" / "wandb_grid.yaml"


def agent_command(config: dict, point: dict) -> list[str]:
    """What wandb's agent runs for one sweep point (wandb_agent.Agent._command_run, for a
    program-based sweep): its variables substituted into the sweep's `command`. The agent says
    `python`; the test says which python, so the project's venv runs it."""
    args = create_sweep_command_args({"args": {k: {"value": v} for k, v in point.items()}})
    variables = {**args, "env": ["/usr/bin/env"], "interpreter": [sys.executable], "program": [config["program"]]}
    out: list[str] = []
    for part in create_sweep_command(config["command"]):
        part = str(part)
        out += variables.get(part[2:-1]) or [] if part.startswith("${") and part.endswith("}") else [part]
    return out


def grid(config: dict) -> list[dict]:
    params = config["parameters"]
    names = list(params)
    return [dict(zip(names, combo)) for combo in itertools.product(*(params[n]["values"] for n in names))]


def test_sweep_is_a_grid_over_model_prompt_and_seed_in_hydra_syntax() -> None:
    config = load_sweep_config(str(SWEEP))
    assert config is not None and config["method"] == "grid" and config["program"] == "run.py"
    assert (ROOT / config["program"]).exists()
    assert config["command"] == ["${env}", "${interpreter}", "${program}", "${args_no_hyphens}"]
    assert set(config["parameters"]) == {"model", "prompt", "seed"}
    for group in ("model", "prompt"):  # every value names a config of the group
        for value in config["parameters"][group]["values"]:
            assert (ROOT / "conf" / group / f"{value}.yaml").exists(), f"{group}={value}"
    points = grid(config)
    assert len(points) == 12 and len({tuple(p.values()) for p in points}) == 12
    # Each run's summary carries the metric the sweep optimises (see wandb_tracker.log_summary).
    assert config["metric"]["name"] == "score/mean"


def test_the_agents_command_for_one_point_runs_that_job(tmp_path: Path) -> None:
    config = load_sweep_config(str(SWEEP))
    assert config is not None
    point = next(p for p in grid(config) if p == {"model": "sim_weak", "prompt": "cot", "seed": 43})
    command = agent_command(config, point)
    assert command == ["/usr/bin/env", sys.executable, "run.py", "model=sim_weak", "prompt=cot", "seed=43"]
    out = tmp_path / "run"
    # The test's own settings come after the agent's: a small, quiet job in tmp_path, wandb offline.
    proc = subprocess.run([*command, "dataset.max_samples=4", "run.progress=false", f"hydra.run.dir={out}"],
                          cwd=ROOT, env=cli_env(tmp_path), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert overrides_of(out)[:3] == ["model=sim_weak", "prompt=cot", "seed=43"]
    s = summary(out)
    assert (s["model"], s["prompt"], s["seed"], s["status"], s["n_scored"]) == ("sim-weak", "cot", 43, "complete", 4)
    # The job was tracked in wandb (offline here), with the sweep point in the run's config.
    runs = list((out / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1
    assert b"sim-weak" in runs[0].read_bytes()  # the config (model.name) is in the run's record log
