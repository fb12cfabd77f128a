"""Datasets: load local JSONL or CSV through a field mapping, check every row, limit and
shuffle deterministically by seed. A bad row is an error naming the file and line, never skipped."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

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


# A sample held as plain values: (id, input, target, choices, metadata or None).
_Row = tuple[str, str, str, tuple[str, ...] | None, dict[str, Any] | None]


def _row(sample: Sample) -> _Row:
    return (sample.id, sample.input, sample.target, tuple(sample.choices) if sample.choices is not None else None,
            sample.metadata or None)


def _sample(row: _Row) -> Sample:
    sid, text, target, choices, metadata = row
    return Sample(id=sid, input=text, target=target, choices=list(choices) if choices is not None else None,
                  metadata=dict(metadata) if metadata else {})


class Samples(Sequence[Sample]):
    """A dataset's checked samples, held as tuples and made into Sample models when read: a model
    costs about four times the memory of its values, which adds up to 100 MB per 10^5 samples."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[_Row]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> Samples: ...

    def __getitem__(self, index: int | slice) -> Sample | Samples:
        if isinstance(index, slice):
            return Samples(self._rows[index])
        return _sample(self._rows[index])

    def __iter__(self) -> Iterator[Sample]:
        return map(_sample, self._rows)

    def ids(self) -> Iterator[str]:
        """The sample ids in order, without making a Sample of each."""
        return (row[0] for row in self._rows)

    def __repr__(self) -> str:
        return f"Samples({len(self._rows)} samples)"


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


def load_dataset(cfg: DatasetConfig, seed: int) -> Samples:
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
    samples: list[_Row] = []
    seen: dict[str, int] = {}
    for lineno, row in rows:
        sample = _to_sample(row, cfg, path, lineno)
        if sample.id in seen:
            raise DatasetError(
                f"{path}:{lineno}: duplicate id '{sample.id}' (first on line {seen[sample.id]}); ids must be unique"
            )
        seen[sample.id] = lineno
        samples.append(_row(sample))
    if not samples:
        raise DatasetError(f"dataset '{cfg.name}': {path} has no rows; add samples or point dataset.path elsewhere")
    if cfg.max_samples is not None and cfg.max_samples < len(samples):
        if cfg.shuffle:
            random.Random(cfg.subset_seed).shuffle(samples)
        samples = samples[: cfg.max_samples]
    if cfg.shuffle:
        # The order is shuffled by the run's seed: reproducible, and the same items for every seed.
        random.Random(seed).shuffle(samples)
    return Samples(samples)
