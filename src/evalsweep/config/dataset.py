"""The dataset a job reads: its file and format (or a Hugging Face Hub dataset), the field mapping,
the subset asked, and what the data is (name, version, source, split: stated, the dataset option's
provenance, or derived)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from evalsweep.config.base import PROJECT_ROOT, Strict


class FieldMap(Strict):
    # null: the data has no id column; each sample's id is its row's number in the file, "row-<n>"
    # (1 = the first row; counted before any subset or shuffle, so stable across jobs).
    id: str | None = "id"
    # The row field of the question; not read when `messages` is set.
    input: str = "input"
    # null: the data has no targets (Sample.target is None); the scorers that compare outputs
    # with targets (exact, numeric, choice) refuse such a dataset when it is loaded.
    target: str | None = "target"
    choices: list[str] | str | None = None
    # A row field holding a chat transcript ([{role, content}, ...], roles system/user/assistant):
    # the sample is sent as it (evalsweep.task.prompts.render), and its input is its last user turn.
    messages: str | None = None
    # Row fields carried into each sample's metadata. Every row must have each of them, unless its
    # name ends in "?" (e.g. [difficulty, topic?]): then a row without it gets null.
    metadata: list[str] = Field(default_factory=list)
    # The optional ones among metadata (without the "?"), filled from the "?" marks.
    optional_metadata: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _optional_marks(self) -> "FieldMap":
        names: list[str] = []
        optional = list(dict.fromkeys(self.optional_metadata))
        for raw in self.metadata:
            name = raw.rstrip().removesuffix("?").rstrip()
            if not name:
                raise ValueError(f"metadata field {raw!r} has no name")
            if name != raw.rstrip() and name not in optional:
                optional.append(name)
            if name not in names:
                names.append(name)
        names += [n for n in optional if n not in names]
        self.metadata, self.optional_metadata = names, optional
        return self

    def columns(self) -> list[tuple[str, str]]:
        """(column, role) of every column the mapping reads from each row, optional metadata left out."""
        text = (self.messages, "messages") if self.messages is not None else (self.input, "input")
        cols = [(c, role) for c, role in ((self.id, "id"), text, (self.target, "target")) if c is not None]
        if isinstance(self.choices, list):
            cols += [(c, "choices") for c in self.choices]
        elif isinstance(self.choices, str):
            cols.append((self.choices, "choices"))
        return cols + [(m, "metadata") for m in self.metadata if m not in self.optional_metadata]

    def absent(self, columns: Sequence[str]) -> tuple[str, str, str] | None:
        """The first column the mapping reads that is not among `columns` (a file's header): (column,
        its role, the setting that maps it), or None when each one is there."""
        for col, role in self.columns():
            if col not in columns:
                return col, role, "dataset.fields.metadata" if role == "metadata" else f"dataset.fields.{role}"
        return None

    def item_mapping(self) -> tuple[Any, ...]:
        """What decides the items read from a file: id, input, target and choices (not metadata),
        and the transcript's field when there is one."""
        choices = tuple(self.choices) if isinstance(self.choices, list) else self.choices
        mapping: tuple[Any, ...] = (self.id, self.input, self.target, choices)
        return mapping if self.messages is None else (*mapping, self.messages)


def _resolve(path: str) -> Path:
    p = Path(path).expanduser()
    # Relative paths are taken from the project root, so `python /path/run.py` works anywhere.
    return p if p.is_absolute() else PROJECT_ROOT / p


def _files(path: Path) -> list[Path]:
    """The files of a dir (a Hugging Face save_to_disk dataset), in a fixed order."""
    return sorted(p for p in path.rglob("*") if p.is_file())


def content_version(path: Path) -> str | None:
    """A version for a file nobody gave one: the start of the sha256 of its bytes (None when
    it cannot be read; loading it then says why). A dir's covers each file's relative path and
    bytes, so a save_to_disk dataset whose data or layout changed gets another version."""
    digest = hashlib.sha256()
    try:
        if path.is_dir():
            for file in _files(path):
                digest.update(file.relative_to(path).as_posix().encode("utf-8") + b"\0")
                digest.update(hashlib.sha256(file.read_bytes()).digest())
            return f"sha256:{digest.hexdigest()[:12]}"
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return f"sha256:{digest.hexdigest()[:12]}"


class HubDataset(Strict):
    """A dataset on the Hugging Face Hub (dataset.hf), loaded with datasets.load_dataset: it needs
    network access to the Hub, or a copy in the local Hugging Face cache."""

    name: str = Field(min_length=1)  # e.g. openai/gsm8k
    split: str = Field(min_length=1)  # e.g. test
    config: str | None = None  # the dataset's configuration (subset), e.g. main

    def describe(self) -> str:
        config = f"config {self.config}, " if self.config else ""
        return f"Hugging Face dataset '{self.name}' ({config}split {self.split})"

    @property
    def label(self) -> str:
        """How errors and records name it: hf:<name>[/<config>]:<split>."""
        return f"hf:{self.name}{'/' + self.config if self.config else ''}:{self.split}"


class DatasetProvenance(Strict):
    """What a dataset option's own file is (conf/dataset/*.yaml). It labels a job only while the
    job reads that file through that mapping: another dataset.path or field mapping is another
    dataset, which must not be reported under this one's name, version and source."""

    path: str | None = None
    hf: HubDataset | None = None
    fields: FieldMap = Field(default_factory=FieldMap)
    name: str = Field(min_length=1)
    version: str | None = None
    source: str | None = None
    split: str | None = None

    @property
    def where(self) -> str:
        return self.path if self.path is not None else self.hf.label if self.hf is not None else "?"


class DatasetConfig(Strict):
    name: str = Field(min_length=1)
    # A JSONL, CSV or Parquet file, or a dir written by a Hugging Face dataset's save_to_disk.
    path: str | None = None
    # Or a dataset of the Hugging Face Hub (then path is null): {name, split, config?}.
    hf: HubDataset | None = Field(None, validate_default=True)
    format: Literal["jsonl", "csv", "parquet"] | None = None
    fields: FieldMap = Field(default_factory=FieldMap)
    max_samples: int | None = Field(None, ge=1)
    shuffle: bool = True
    # Picks the max_samples subset; fixed by default so every seed of a sweep asks the same
    # items (seeds then replicate the model's sampling, not the choice of items).
    subset_seed: int = 0
    # What the data is. null: the option's provenance (below) while the job reads the option's own
    # file and mapping; for another file: derived (version, source) or not stated (split).
    version: str | None = None
    source: str | None = None
    split: str | None = None
    scorer: str = "exact"
    # The file and mapping a dataset option describes, and what they are (null: the values above
    # are taken as they are).
    provenance: DatasetProvenance | None = None
    # Provenance values the job derived because its file or mapping is not the option's own:
    # field -> how ("the file's stem", ...). Validation warns about them.
    _derived: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, v: Any) -> Any:
        # dataset.version=2 or 2.1 on the command line reaches us as a number (quote "2.10" to keep the 0).
        return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v

    @field_validator("hf")
    @classmethod
    def _one_source(cls, v: HubDataset | None, info: ValidationInfo) -> HubDataset | None:
        path = info.data.get("path")
        if v is not None and path is not None:
            raise ValueError(f"dataset.path ({path}) is set too: a job reads one source; add dataset.path=null "
                             f"to read the Hub dataset")
        if v is None and path is None and "path" in info.data:
            raise ValueError("no data: set dataset.path (a file or a save_to_disk dir) or dataset.hf "
                             "({name, split}, a Hugging Face Hub dataset)")
        return v

    @model_validator(mode="after")
    def _own_provenance(self) -> "DatasetConfig":
        p = self.provenance
        if p is None:
            return self
        if self.is_own_file:
            for key in ("version", "source", "split"):
                if getattr(self, key) is None:
                    setattr(self, key, getattr(p, key))
            return self
        # Another file or mapping: nothing of the option's provenance is inherited. A name still
        # equal to the option's is taken as inherited (Hydra cannot tell us it was typed again).
        self._derived = self._derive_hub(p) if self.hf is not None else self._derive_file(p)
        return self

    def _derive_file(self, p: DatasetProvenance) -> dict[str, str]:
        derived: dict[str, str] = {}
        path = self.resolved_path
        assert path is not None  # a dataset without a hub source has a path (_one_source)
        if self.name == p.name:
            self.name = path.stem or self.name
            derived["name"] = "the file's stem"
        if self.version is None:
            self.version = content_version(path)
            if self.version is not None:
                derived["version"] = "sha256 of the file"
        if self.source is None:
            self.source = str(path)
            derived["source"] = "the path"
        if self.split is None:
            derived["split"] = "not stated"
        return derived

    def _derive_hub(self, p: DatasetProvenance) -> dict[str, str]:
        """A Hub dataset: its name and split say what it is; its content is not known before it is
        downloaded, and may change under the same name, so no version is derived."""
        hf = self.hf
        assert hf is not None
        derived: dict[str, str] = {}
        if self.name == p.name:
            self.name = hf.name.rsplit("/", 1)[-1]
            derived["name"] = "the Hub dataset's name"
        if self.version is None:
            derived["version"] = "not stated (a Hub dataset can change under its name: state dataset.version)"
        if self.source is None:
            self.source = hf.label
            derived["source"] = "the Hub dataset"
        if self.split is None:
            self.split = hf.split
            derived["split"] = "dataset.hf.split"
        return derived

    @property
    def resolved_path(self) -> Path | None:
        """The file or dir read (None: a Hub dataset, dataset.hf)."""
        return _resolve(self.path) if self.path is not None else None

    @property
    def where(self) -> str:
        """The data as a message names it: the resolved path, or the Hub dataset's label."""
        path = self.resolved_path
        return str(path) if path is not None else self.hf.label if self.hf is not None else "?"

    def size_bytes(self) -> int:
        """The bytes of the file or dir on disk (0 for a Hub dataset or what cannot be read)."""
        path = self.resolved_path
        try:
            if path is None:
                return 0
            return sum(f.stat().st_size for f in _files(path)) if path.is_dir() else path.stat().st_size
        except OSError:
            return 0

    @property
    def is_own_file(self) -> bool | None:
        """Whether the job reads its option's own file (or Hub dataset) through the option's own
        mapping (None: the option states no provenance)."""
        p = self.provenance
        if p is None:
            return None
        if self.hf is not None or p.hf is not None:
            same = self.hf == p.hf and self.path is None and p.path is None
        else:
            mine, theirs = self.resolved_path, _resolve(p.path) if p.path is not None else None
            same = mine is not None and theirs is not None and mine.resolve() == theirs.resolve()
        return same and self.fields.item_mapping() == p.fields.item_mapping()

    @property
    def derived(self) -> dict[str, str]:
        return dict(self._derived)
