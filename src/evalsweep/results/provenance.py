"""Facts that make a job's numbers traceable: git commit and dirty flag, versions, platform."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from evalsweep.config.base import PROJECT_ROOT

PACKAGES = ("evalsweep", "hydra-core", "omegaconf", "pydantic", "openai", "anthropic", "tenacity",
            "sqlitedict", "wandb", "pandas", "statsmodels", "numpy", "aiohttp", "tqdm")


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


def git_diff() -> str | None:
    """The uncommitted change to tracked files, for a dirty tree's patch file."""
    return _git("diff", "HEAD")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def python_info() -> dict[str, str]:
    return {"python": sys.version.split()[0], "implementation": platform.python_implementation(),
            "platform": platform.platform()}
