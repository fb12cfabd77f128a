"""Datasets: load local JSONL or CSV through a field mapping, check every row, limit and
shuffle deterministically by seed. A bad row is an error naming the file and line, never skipped."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evalsweep.config import DatasetConfig
from evalsweep.errors import DatasetError


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    input: str
    target: str
    choices: list[str] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


def _rows_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(
                    f"{path}:{lineno}: malformed JSON ({exc.msg} at column {exc.colno}); fix or remove that line"
                ) from None
            if not isinstance(row, dict):
                raise DatasetError(f"{path}:{lineno}: expected a JSON object per line, got {type(row).__name__}")
            yield lineno, row


def _rows_csv(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            # line_num counts physical lines read so far, header included: the row's own line.
            yield reader.line_num, row


def _field(row: dict[str, Any], name: str, path: Path, lineno: int, role: str) -> Any:
    value = row.get(name)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        raise DatasetError(
            f"{path}:{lineno}: missing required field '{name}' (the {role}); "
            f"add it to the row or map dataset.fields.{role} to another field"
        )
    return value


def _to_sample(row: dict[str, Any], cfg: DatasetConfig, path: Path, lineno: int) -> Sample:
    fm = cfg.fields
    choices: list[str] | None = None
    if fm.choices is not None:
        if isinstance(fm.choices, str):
            raw = _field(row, fm.choices, path, lineno, "choices")
            if not isinstance(raw, list) or not raw:
                raise DatasetError(f"{path}:{lineno}: field '{fm.choices}' must be a non-empty list of choices")
            choices = [str(c) for c in raw]
        else:
            choices = [str(_field(row, c, path, lineno, "choices")) for c in fm.choices]
    return Sample(
        id=str(_field(row, fm.id, path, lineno, "id")),
        input=str(_field(row, fm.input, path, lineno, "input")),
        target=str(_field(row, fm.target, path, lineno, "target")),
        choices=choices,
        metadata={k: row.get(k) for k in fm.metadata},
    )


def load_dataset(cfg: DatasetConfig, seed: int) -> list[Sample]:
    """All samples of the dataset, checked, shuffled by seed when asked, and limited."""
    path = cfg.resolved_path
    if not path.is_file():
        raise DatasetError(
            f"dataset '{cfg.name}': file not found: {path}; check dataset.path "
            f"(relative paths start at the project root)"
        )
    fmt = cfg.format or {".jsonl": "jsonl", ".csv": "csv"}.get(path.suffix.lower())
    if fmt is None:
        raise DatasetError(f"dataset '{cfg.name}': cannot tell the format of {path}; set dataset.format=jsonl|csv")
    rows = _rows_jsonl(path) if fmt == "jsonl" else _rows_csv(path)
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    for lineno, row in rows:
        sample = _to_sample(row, cfg, path, lineno)
        if sample.id in seen:
            raise DatasetError(
                f"{path}:{lineno}: duplicate id '{sample.id}' (first on line {seen[sample.id]}); ids must be unique"
            )
        seen[sample.id] = lineno
        samples.append(sample)
    if not samples:
        raise DatasetError(f"dataset '{cfg.name}': {path} has no rows; add samples or point dataset.path elsewhere")
    if cfg.max_samples is not None and cfg.max_samples < len(samples):
        if cfg.shuffle:
            random.Random(cfg.subset_seed).shuffle(samples)
        samples = samples[: cfg.max_samples]
    if cfg.shuffle:
        # The order is shuffled by the run's seed: reproducible, and the same items for every seed.
        random.Random(seed).shuffle(samples)
    return samples
