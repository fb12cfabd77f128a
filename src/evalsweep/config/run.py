"""How a job runs and what it keeps: the response cache (with its ttl), the wandb tracker, and the
run section (progress, sample errors, retrying errors on resume)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from evalsweep.config.base import Strict


_TTL = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class CacheConfig(Strict):
    enabled: bool = True
    path: str | None = None
    ttl: str | None = None
    refresh: bool = False

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, v: str | None) -> str | None:
        if v is not None and not _TTL.match(str(v).strip()):
            raise ValueError("expected a duration such as 30m, 12h, 7d or 2w")
        return v

    @property
    def ttl_seconds(self) -> float | None:
        if self.ttl is None:
            return None
        m = _TTL.match(self.ttl.strip())
        assert m is not None  # checked by the validator
        return float(m.group(1)) * _TTL_UNITS[m.group(2)]


class WandbConfig(Strict):
    """wandb tracking (tracker=wandb). Offline unless WANDB_MODE is set or WANDB_API_KEY exists."""

    project: str = Field("evalsweep", min_length=1, max_length=128)
    entity: str | None = None
    tags: list[str] = Field(default_factory=list)
    # Rows of the samples table (the first N records of results.jsonl): bounded, so a big job
    # does not turn its run into a copy of the results file (that is the artifact's job).
    table_rows: int = Field(200, ge=0, le=100_000)
    # Log running metrics at most once every N records: wandb's per-call cost stays negligible.
    log_every: int = Field(25, ge=1)
    # Upload results.jsonl as an artifact of the run.
    log_results_artifact: bool = True

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if not 1 <= len(str(t)) <= 64]
        if bad:
            raise ValueError(f"wandb tags must be 1 to 64 characters long: {bad}")
        return [str(t) for t in v]


class RunConfig(Strict):
    progress: bool = True
    fail_on_sample_errors: bool = True
    # A resume asks samples that failed for good again (their earlier rows go to retried_errors.jsonl).
    retry_errors: bool = True
    # live: one request at a time as samples go; batch: the provider's batch API at its batch price
    # (OpenAI, Anthropic; docs/batch.md).
    mode: Literal["live", "batch"] = "live"
    # batch: wait for the batches to end (polling); false submits, exits 0 and says how to collect.
    batch_wait: bool = True
    # batch: seconds before the first poll of a batch's state; later polls back off to batch_poll_max_s.
    batch_poll_s: float = Field(5.0, gt=0)
    batch_poll_max_s: float = Field(60.0, gt=0)
    # batch: at most this many requests per batch (null: the provider's own limit).
    batch_max_requests: int | None = Field(None, ge=1)
