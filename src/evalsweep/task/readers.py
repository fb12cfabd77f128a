"""Reading a dataset file into rows: JSONL and CSV, as UTF-8 with or without a byte-order mark
(Excel writes one). Each row comes with its line number, for errors that name the file and line."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalsweep.config.dataset import DatasetConfig
from evalsweep.errors import DatasetError

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


def mapped_columns(cfg: DatasetConfig) -> list[tuple[str, str]]:
    """(column, role) of every column the mapping reads from each row, optional metadata left out."""
    fm = cfg.fields
    text = (fm.messages, "messages") if fm.messages is not None else (fm.input, "input")
    cols = [(c, role) for c, role in ((fm.id, "id"), text, (fm.target, "target")) if c is not None]
    if isinstance(fm.choices, list):
        cols += [(c, "choices") for c in fm.choices]
    elif isinstance(fm.choices, str):
        cols.append((fm.choices, "choices"))
    return cols + [(m, "metadata") for m in fm.metadata if m not in fm.optional_metadata]


def rows_csv(path: Path, cfg: DatasetConfig) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding=ENCODING, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        absent = [(c, role) for c, role in mapped_columns(cfg) if header and c not in header]
        if absent:
            col, role = absent[0]
            where = "dataset.fields.metadata" if role == "metadata" else f"dataset.fields.{role}"
            raise DatasetError(
                f"{path}:1: no column '{col}' (the {role}) in the header; columns: {', '.join(header)}; "
                f"map {where} to one of them")
        for row in reader:
            # line_num counts physical lines read so far, header included: the row's own line.
            # A short row's missing cells read as None: absent, as in a JSON row without the key.
            yield reader.line_num, {k: v for k, v in row.items() if v is not None}
