"""Datasets: load a JSONL, CSV or Parquet file or a Hugging Face dataset through a field mapping,
check every row, limit and shuffle deterministically by seed. A bad row is an error naming the file
and line (or row), never skipped.

The data itself is read into rows by evalsweep.task.readers."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from typing import Any, overload

from pydantic import BaseModel, ConfigDict, Field

from evalsweep.config.dataset import DatasetConfig
from evalsweep.errors import DatasetError
from evalsweep.llm.types import Message
from evalsweep.task import transcripts
from evalsweep.task.readers import open_rows


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    input: str
    target: str | None  # None: the dataset has no targets (dataset.fields.target=null)
    choices: list[str] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    # A chat transcript the sample is sent as (dataset.fields.messages); None: a plain row, sent as
    # the prompt's rendering of `input`. With a transcript, `input` is its last user turn.
    messages: list[Message] | None = None


# A sample held as plain values: (id, input, target, choices, metadata or None, transcript or None),
# the transcript as (role, content) pairs.
_Row = tuple[str, str, str | None, tuple[str, ...] | None, dict[str, Any] | None, transcripts.Turns | None]


def _row(sample: Sample) -> _Row:
    turns = tuple((m.role, m.content) for m in sample.messages) if sample.messages is not None else None
    return (sample.id, sample.input, sample.target, tuple(sample.choices) if sample.choices is not None else None,
            sample.metadata or None, turns)


def _sample(row: _Row) -> Sample:
    sid, text, target, choices, metadata, turns = row
    return Sample(id=sid, input=text, target=target, choices=list(choices) if choices is not None else None,
                  metadata=dict(metadata) if metadata else {},
                  messages=[Message(role=r, content=c) for r, c in turns] if turns is not None else None)  # type: ignore[arg-type]


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


# A multiple-choice target: a letter, alone or in parentheses, with spaces around (" (A)" is the
# convention of Anthropic's model-written evals).
_TARGET_LETTER = re.compile(r"^\s*\(?\s*([A-Za-z])\s*\)?\s*$")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# The built-in scorers that compare each output with the sample's target: a dataset without
# targets cannot be scored by them, which is said when it is loaded, before any request.


def target_letter(target: str) -> str | None:
    """The choice letter a target names ("A", "(A)", " (A)" -> "A"), or None when it names none."""
    m = _TARGET_LETTER.match(target)
    return m.group(1).upper() if m else None


def _field(row: dict[str, Any], name: str, at: str, role: str) -> Any:
    """at: where the row is, as errors name it ("file:line", or "file: row n")."""
    value = row.get(name)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        raise DatasetError(
            f"{at}: missing required field '{name}' (the {role}); "
            f"add it to the row or map dataset.fields.{role} to another field"
        )
    return value


def _text(value: Any, name: str, at: str) -> str:
    """The input as text: a number is written out as before; a list or an object is refused, not sent
    as its Python repr."""
    if isinstance(value, (list, dict)):
        fix = (f"a chat transcript (a list of {{role, content}}) is read with dataset.fields.messages={name}"
               if isinstance(value, list) else "map dataset.fields.input to a field holding text")
        raise DatasetError(f"{at}: field '{name}' (the input) is {transcripts.kind(value)}, not text; {fix}")
    return str(value)


def _metadata(row: dict[str, Any], cfg: DatasetConfig, at: str) -> dict[str, Any]:
    fm = cfg.fields
    for name in fm.metadata:
        # Absent, not null: a JSON null is a value the file states.
        if name not in row and name not in fm.optional_metadata:
            raise DatasetError(
                f"{at}: missing metadata field '{name}' (dataset.fields.metadata); add it to the row, "
                f"remove it from the mapping, or mark it optional as '{name}?'")
    return {k: row.get(k) for k in fm.metadata}


def _choice_target(sample: Sample, at: str) -> None:
    """scorer=choice: the target must name one of the sample's choices by its letter."""
    letters = LETTERS[: len(sample.choices or [])]
    letter = target_letter(sample.target or "")
    if not sample.choices or letter is None or letter not in letters:
        has = f"choices {letters[0]}-{letters[-1]}" if letters else "no choices (dataset.fields.choices)"
        raise DatasetError(
            f"{at}: target {sample.target!r} of sample '{sample.id}' is not the letter of one of its "
            f"choices ({has}); scorer=choice needs a target such as A, (A) or \" (A)\"")


def _to_sample(row: dict[str, Any], cfg: DatasetConfig, at: str, rowno: int) -> Sample:
    """rowno: the row's number among the file's rows (1 = the first), the id when the data has none."""
    fm = cfg.fields
    choices: list[str] | None = None
    if fm.choices is not None:
        if isinstance(fm.choices, str):
            raw = _field(row, fm.choices, at, "choices")
            if not isinstance(raw, list) or not raw:
                raise DatasetError(f"{at}: field '{fm.choices}' must be a non-empty list of choices")
            choices = [str(c) for c in raw]
        else:
            choices = [str(_field(row, c, at, "choices")) for c in fm.choices]
    turns: transcripts.Turns | None = None
    if fm.messages is not None:
        turns = transcripts.parse(_field(row, fm.messages, at, "messages"), fm.messages, at)
        text = transcripts.last_user(turns)
    else:
        text = _text(_field(row, fm.input, at, "input"), fm.input, at)
    return Sample(
        id=str(_field(row, fm.id, at, "id")) if fm.id is not None else f"row-{rowno}",
        input=text,
        target=str(_field(row, fm.target, at, "target")) if fm.target is not None else None,
        choices=choices,
        metadata=_metadata(row, cfg, at),
        messages=[Message(role=r, content=c) for r, c in turns] if turns is not None else None,  # type: ignore[arg-type]
    )


def load_dataset(cfg: DatasetConfig, seed: int, scorer: str | None = None) -> Samples:
    """All samples of the dataset, checked, shuffled by seed when asked, and limited.

    scorer: the job's scorer when it is not the dataset's own (scorer=choice on a dataset whose
    dataset.scorer is another): with choice, every target must be one of its choices' letters. (A
    scorer that needs targets, on data without any, is refused by evalsweep.task.scorer_set.)"""
    return choose(read_dataset(cfg, scorer), cfg, seed)


def read_dataset(cfg: DatasetConfig, scorer: str | None = None) -> Samples:
    """Every row of the data, checked, in order (load_dataset, less the subset and shuffle)."""
    source, rows = open_rows(cfg)
    # Without choices at all, scorer=choice is a failed validation check (check_metrics), not a bad row.
    choice = (scorer or cfg.scorer) == "choice" and cfg.fields.choices is not None
    samples: list[_Row] = []
    seen: dict[str, int] = {}
    # Row numbers are counted here, in file order, before any subset or shuffle: an id made of one
    # names the same row in every job that reads the file.
    for rowno, (lineno, row) in enumerate(rows, start=1):
        at = source.at(lineno)
        sample = _to_sample(row, cfg, at, rowno)
        if choice:
            _choice_target(sample, at)
        if sample.id in seen:
            raise DatasetError(
                f"{at}: duplicate id '{sample.id}' (first on {source.unit} {seen[sample.id]}); ids must be unique"
            )
        seen[sample.id] = lineno
        samples.append(_row(sample))
    if not samples:
        raise DatasetError(f"dataset '{cfg.name}': {source.label} has no rows; add samples or point "
                           f"{source.option} elsewhere")
    return Samples(samples)


def check_targets(cfg: DatasetConfig, scorer: str, needs_target: bool) -> None:
    """A scorer that compares outputs with targets (its `needs_target`) on a dataset without any:
    one line, before any request."""
    if cfg.fields.target is None and needs_target:
        raise DatasetError(
            f"scorer '{scorer}' compares each output with the sample's target, but dataset '{cfg.name}' has no "
            f"targets (dataset.fields.target=null); choose a scorer that needs none (scorer.type=<your "
            f"module>:<function>, or scorer=judge with a rubric without {{target}}), or map "
            f"dataset.fields.target to the column of reference answers")


def choose(all_samples: Samples, cfg: DatasetConfig, seed: int) -> Samples:
    """The job's samples out of all of them: the max_samples subset, in the seed's order."""
    samples = list(all_samples._rows)
    if cfg.max_samples is not None and cfg.max_samples < len(samples):
        if cfg.shuffle:
            random.Random(cfg.subset_seed).shuffle(samples)
        samples = samples[: cfg.max_samples]
    if cfg.shuffle:
        # The order is shuffled by the run's seed: reproducible, and the same items for every seed.
        random.Random(seed).shuffle(samples)
    return Samples(samples)
