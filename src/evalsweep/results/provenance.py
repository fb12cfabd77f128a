"""Facts that make a job's numbers traceable: git commit and dirty flag, the packages that matter, platform.
A job probes them once, through its reproducibility record (evalsweep.results.record), which
hands the same facts to the summary and the tracker."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from evalsweep.config.base import PROJECT_ROOT

PACKAGES = ("evalsweep", "hydra-core", "omegaconf", "pydantic", "openai", "anthropic", "tenacity",
            "sqlitedict", "wandb", "pandas", "statsmodels", "numpy", "aiohttp", "tqdm", "google-genai")


class GitInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    commit: str | None
    dirty: bool | None
    branch: str | None = None


def _git(*args: str, cwd: Path = PROJECT_ROOT) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def git_info() -> GitInfo:
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    branch = _git("rev-parse", "--abbrev-ref", "HEAD")
    return GitInfo(
        commit=commit.strip() if commit else None,
        dirty=bool(status.strip()) if status is not None else None,
        branch=branch.strip() if branch else None,
    )


def python_info() -> dict[str, str]:
    return {"python": sys.version.split()[0], "implementation": platform.python_implementation(),
            "platform": platform.platform()}
