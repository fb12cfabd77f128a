"""Reading a dataset into rows: JSONL and CSV files, as UTF-8 with or without a byte-order mark
(Excel writes one), and through evalsweep.task.readers_arrow Parquet files and Hugging Face datasets
(a save_to_disk dir, or the Hub). Each row comes with its number for errors: its line in a JSONL or
CSV file, its row (1 = the first) in the others."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsweep.config.dataset import DatasetConfig
from evalsweep.errors import DatasetError
from evalsweep.task import readers_arrow

Rows = Iterator[tuple[int, dict[str, Any]]]

# "utf-8-sig": a leading byte-order mark is dropped, not read as part of the first field's name.
ENCODING = "utf-8-sig"


def not_utf8(path: Path) -> DatasetError:
    """The line, column and byte where a file stops being UTF-8 (read again only on this path)."""
    raw = path.read_bytes()
    try:
        raw.decode(ENCODING)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return DatasetError(
            f"{path}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {column}); save the file as UTF-8, "
            f"e.g. iconv -f latin1 -t utf-8 {path.name} > fixed{path.suffix}")
    return DatasetError(f"{path}: not UTF-8; save the file as UTF-8")


def decoded(path: Path, rows: Iterator[tuple[int, dict[str, Any]]]) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        yield from rows
    except UnicodeDecodeError:
        raise not_utf8(path) from None


def rows_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding=ENCODING) as f:
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


def rows_csv(path: Path, cfg: DatasetConfig) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding=ENCODING, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        absent = cfg.fields.absent(header) if header else None
        if absent:
            col, role, where = absent
            raise DatasetError(
                f"{path}:1: no column '{col}' (the {role}) in the header; columns: {', '.join(header)}; "
                f"map {where} to one of them")
        for row in reader:
            # line_num counts physical lines read so far, header included: the row's own line.
            # A short row's missing cells read as None: absent, as in a JSON row without the key.
            yield reader.line_num, {k: v for k, v in row.items() if v is not None}


@dataclass(frozen=True)
class Source:
    """Where a dataset's rows come from, as its errors name it."""

    label: str  # the file's path, or the Hub dataset's label (hf:<name>:<split>)
    unit: str = "line"  # what a row's number counts: its line (JSONL, CSV) or its row (the others)
    option: str = "dataset.path"  # the setting that says where the data is

    def at(self, n: int) -> str:
        """Row n's place: "file:line", or "file: row n"."""
        return f"{self.label}:{n}" if self.unit == "line" else f"{self.label}: row {n}"


FORMATS = {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet"}


def open_rows(cfg: DatasetConfig) -> tuple[Source, Rows]:
    """The dataset's rows in order, with where they come from; a source that cannot be read at
    all raises its DatasetError here or as its rows are read."""
    if cfg.hf is not None:
        return Source(cfg.hf.label, "row", "dataset.hf"), readers_arrow.rows_hub(cfg, cfg.hf)
    path = cfg.resolved_path
    assert path is not None  # a dataset without dataset.hf has a path (DatasetConfig._one_source)
    if path.is_dir():
        if cfg.format is not None:
            raise DatasetError(f"dataset '{cfg.name}': {path} is a directory, which dataset.format={cfg.format} "
                               f"does not read; set dataset.format=null for a Hugging Face save_to_disk dir")
        return Source(str(path), "row"), readers_arrow.rows_saved(cfg, path)
    if not path.is_file():
        raise DatasetError(
            f"dataset '{cfg.name}': file not found: {path}; check dataset.path "
            f"(relative paths start at the project root)"
        )
    fmt = cfg.format or FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DatasetError(f"dataset '{cfg.name}': cannot tell the format of {path}; "
                           f"set dataset.format=jsonl|csv|parquet")
    if fmt == "parquet":
        return Source(str(path), "row"), readers_arrow.rows_parquet(cfg, path)
    return Source(str(path)), decoded(path, rows_jsonl(path) if fmt == "jsonl" else rows_csv(path, cfg))

