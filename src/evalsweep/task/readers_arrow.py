"""Parquet files and Hugging Face datasets (a save_to_disk dir, or a Hub dataset) as rows, each with
its row number (1 = the first). pyarrow and datasets are imported here and only when such a dataset
is read: a job on JSONL or CSV never pays for them (datasets alone takes seconds to import)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalsweep.config.dataset import DatasetConfig, HubDataset
from evalsweep.errors import DatasetError

if TYPE_CHECKING:
    import datasets

Rows = Iterator[tuple[int, dict[str, Any]]]
# What a save_to_disk dir holds: one Dataset (state.json) or several splits (dataset_dict.json).
SAVED_MARKERS = ("state.json", "dataset_dict.json")


def _reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _read(cfg: DatasetConfig, label: str, columns: list[str]) -> list[str]:
    """The columns to read (every one the mapping names that is there, optional metadata too),
    after checking that each required one is."""
    absent = cfg.fields.absent(columns)
    if absent:
        col, role, where = absent
        raise DatasetError(f"{label}: no column '{col}' (the {role}); columns: {', '.join(columns)}; "
                           f"map {where} to one of them")
    fm = cfg.fields
    wanted = {c for c, _ in fm.columns()} | set(fm.metadata)
    return [c for c in columns if c in wanted]


def rows_parquet(cfg: DatasetConfig, path: Path) -> Rows:
    import pyarrow
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pyarrow.ArrowException) as exc:
        raise DatasetError(f"{path}: not a Parquet file that can be read ({_reason(exc)}); check dataset.path, "
                           f"or set dataset.format to the file's own format") from None
    columns = _read(cfg, str(path), parquet.schema_arrow.names)
    n = 0
    # In batches: the file's rows are never all held as Python objects at once.
    for batch in parquet.iter_batches(batch_size=4096, columns=columns):
        for row in batch.to_pylist():
            n += 1
            yield n, row


def _rows_of(cfg: DatasetConfig, label: str, data: datasets.Dataset) -> Rows:
    data = data.select_columns(_read(cfg, label, list(data.column_names)))
    for n, row in enumerate(data, start=1):
        yield n, row


def rows_saved(cfg: DatasetConfig, path: Path) -> Rows:
    """A dir written by Dataset.save_to_disk (or DatasetDict's: then dataset.split picks the split)."""
    if not any((path / marker).is_file() for marker in SAVED_MARKERS):
        raise DatasetError(f"dataset '{cfg.name}': {path} is a directory, not a Hugging Face save_to_disk dataset "
                           f"(it has no {' or '.join(SAVED_MARKERS)}); point dataset.path at a file or such a dir")
    import datasets

    try:
        saved = datasets.load_from_disk(str(path))
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as exc:
        raise DatasetError(f"dataset '{cfg.name}': cannot read the save_to_disk dataset {path} "
                           f"({_reason(exc)})") from None
    if isinstance(saved, datasets.DatasetDict):
        if cfg.split not in saved:
            asked = f"dataset.split={cfg.split} is not one of them; " if cfg.split is not None else ""
            raise DatasetError(f"dataset '{cfg.name}': {path} holds the splits {', '.join(saved)}; {asked}"
                               f"choose one with dataset.split=<name>")
        saved = saved[cfg.split]
    yield from _rows_of(cfg, str(path), saved)


def rows_hub(cfg: DatasetConfig, hf: HubDataset) -> Rows:
    """A Hub dataset's split, through the local Hugging Face cache (downloaded there when missing)."""
    import datasets

    try:
        data = datasets.load_dataset(hf.name, hf.config, split=hf.split)
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as exc:
        if isinstance(exc, ConnectionError):
            fix = ("reading the Hub needs network access to it, which this machine does not allow (or "
                   "HF_HUB_OFFLINE is set and the local cache has no copy); where the network is allowed, write it "
                   "with datasets.load_dataset(...).save_to_disk(DIR), then read DIR here with dataset.path=DIR "
                   "dataset.hf=null")
        else:
            fix = "check dataset.hf.name, dataset.hf.config and dataset.hf.split"
        raise DatasetError(f"dataset '{cfg.name}': cannot load {hf.describe()} ({_reason(exc)}); {fix}") from None
    yield from _rows_of(cfg, hf.label, data)
