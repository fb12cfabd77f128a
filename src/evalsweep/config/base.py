"""What every section of the config shares: the Strict base (extra="forbid" everywhere catches
typos that Hydra's `+key=value` lets through) and PROJECT_ROOT, which relative paths are taken from."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[3]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
