"""Helpers for the scaling tests (launchers, shared limit, wandb sweeps): run the CLI as a user
would, with a private response cache and no tracker, quiet and without the sweep report unless
a test asks for them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUIET = ["tracker=none", "run.progress=false"]
NO_REPORT = "hydra.callbacks.report.enabled=false"


def cli_env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    # Empty keys (not unset) so a developer's .env cannot supply real ones to a test.
    env = {**os.environ, "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "WANDB_MODE": "offline",
           "WANDB_SILENT": "true", "EVALSWEEP_CACHE_PATH": str(tmp_path / "cache" / "responses.sqlite")}
    env.pop("EVALSWEEP_LIMITS_PATH", None)
    return {**env, **(extra or {})}


def run_cli(args: list[str], tmp_path: Path, *, report: bool = False, env: dict[str, str] | None = None,
            timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """`python run.py ARGS` from the project root; multiruns skip the report unless asked."""
    # Hydra's flags go before the overrides (argparse stops at the first override).
    flags: list[str] = []
    overrides: list[str] = []
    it = iter(args)
    for token in it:
        if token in ("-cd", "--config-dir"):
            flags += [token, next(it)]
        elif token.startswith("-"):
            flags.append(token)
        else:
            overrides.append(token)
    extra = [] if report or "-m" not in flags else [NO_REPORT]
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *flags, *QUIET, *extra, *overrides], cwd=ROOT,
                          env=cli_env(tmp_path, env), capture_output=True, text=True, timeout=timeout)


def job_dirs(sweep: Path) -> list[Path]:
    """A sweep's job dirs (named by job number), in job order."""
    return sorted((p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))


def overrides_of(job_dir: Path) -> list[str]:
    """The job's own overrides, as Hydra saved them (.hydra/overrides.yaml)."""
    from omegaconf import OmegaConf

    return list(OmegaConf.load(job_dir / ".hydra" / "overrides.yaml"))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summary(job_dir: Path) -> dict:
    return json.loads((job_dir / "summary.json").read_text())
