"""The dataset a job reads: its file and format, the field mapping, the subset asked, and what the
data is (name, version, source, split: stated, the dataset option's provenance, or derived)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

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


def content_version(path: Path) -> str | None:
    """A version for a file nobody gave one: the start of the sha256 of its bytes (None when
    it cannot be read; loading it then says why)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return f"sha256:{digest.hexdigest()[:12]}"


class DatasetProvenance(Strict):
    """What a dataset option's own file is (conf/dataset/*.yaml). It labels a job only while the
    job reads that file through that mapping: another dataset.path or field mapping is another
    dataset, which must not be reported under this one's name, version and source."""

    path: str
    fields: FieldMap = Field(default_factory=FieldMap)
    name: str = Field(min_length=1)
    version: str | None = None
    source: str | None = None
    split: str | None = None


class DatasetConfig(Strict):
    name: str = Field(min_length=1)
    path: str
    format: Literal["jsonl", "csv"] | None = None
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
        derived: dict[str, str] = {}
        path = self.resolved_path
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
        self._derived = derived
        return self

    @property
    def resolved_path(self) -> Path:
        return _resolve(self.path)

    @property
    def is_own_file(self) -> bool | None:
        """Whether the job reads its option's own file through the option's own mapping (None:
        the option states no provenance)."""
        p = self.provenance
        if p is None:
            return None
        same_path = self.resolved_path.resolve() == _resolve(p.path).resolve()
        return same_path and self.fields.item_mapping() == p.fields.item_mapping()

    @property
    def derived(self) -> dict[str, str]:
        return dict(self._derived)
