"""Shared test helpers: run the CLI as a user would, with a private cache per test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from evalsweep.config.schema import ExperimentConfig, validate

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def run_cli(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 180,
            cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`python run.py ARGS` in a subprocess; tracker off unless the test asks for it."""
    # Empty keys (not unset) so a developer's .env cannot supply real ones to a test.
    full_env = {**os.environ, "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", **(env or {})}
    full_env.setdefault("WANDB_MODE", "offline")
    full_env.setdefault("WANDB_SILENT", "true")
    return subprocess.run([PY, str(ROOT / "run.py"), *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def cache_env(tmp_path: Path) -> dict[str, str]:
    """A private response cache, so no test reads another's (or the developer's) answers."""
    return {"EVALSWEEP_CACHE_PATH": str(tmp_path / "cache" / "responses.sqlite")}


def compose_exp(*overrides: str) -> ExperimentConfig:
    """conf/ with these overrides, composed, resolved and validated (no job runs)."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    return validate(container)


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """For in-process jobs and checks: a response cache of this test's own."""
    monkeypatch.setenv("EVALSWEEP_CACHE_PATH", str(tmp_path / "cache" / "responses.sqlite"))
