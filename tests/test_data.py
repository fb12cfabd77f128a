from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsweep.config import DatasetConfig, FieldMap
from evalsweep.data import load_dataset
from evalsweep.errors import DatasetError


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def cfg(path: Path, **kw) -> DatasetConfig:
    return DatasetConfig(name="t", path=str(path), **kw)


ROWS = [{"id": f"q{i}", "input": f"What is {i} + 1?", "target": str(i + 1)} for i in range(10)]


def test_loads_jsonl_with_field_mapping(tmp_path: Path) -> None:
    rows = [{"qid": "a", "question": "Q?", "answer": 5, "level": "easy"}]
    p = jsonl(tmp_path / "d.jsonl", rows)
    [sample] = load_dataset(cfg(p, fields=FieldMap(id="qid", input="question", target="answer",
                                                    metadata=["level"])), seed=1)
    assert (sample.id, sample.input, sample.target, sample.metadata) == ("a", "Q?", "5", {"level": "easy"})


def test_loads_shipped_csv_with_choices() -> None:
    from evalsweep.config import PROJECT_ROOT
    d = DatasetConfig(name="mc", path="data/arithmetic_mc.csv", max_samples=5,
                      fields=FieldMap(id="qid", input="prompt", target="label",
                                      choices=["option_a", "option_b", "option_c", "option_d"]))
    samples = load_dataset(d, seed=42)
    assert len(samples) == 5 and all(len(x.choices or []) == 4 for x in samples)
    assert all(x.target in "ABCD" for x in samples)
    assert d.resolved_path == PROJECT_ROOT / "data" / "arithmetic_mc.csv"


def test_shuffle_is_deterministic_by_seed_and_limit_applies(tmp_path: Path) -> None:
    p = jsonl(tmp_path / "d.jsonl", ROWS)
    a = [x.id for x in load_dataset(cfg(p, max_samples=5), seed=1)]
    b = [x.id for x in load_dataset(cfg(p, max_samples=5), seed=1)]
    c = [x.id for x in load_dataset(cfg(p), seed=2)]
    assert a == b and len(a) == 5
    assert c != [r["id"] for r in ROWS] and sorted(c) == sorted(r["id"] for r in ROWS)
    unshuffled = [x.id for x in load_dataset(cfg(p, shuffle=False), seed=1)]
    assert unshuffled == [r["id"] for r in ROWS]
    # Every seed asks the same subset of items, in its own order.
    other = [x.id for x in load_dataset(cfg(p, max_samples=5), seed=7)]
    assert sorted(other) == sorted(a) and other != a
    assert sorted(x.id for x in load_dataset(cfg(p, max_samples=5, subset_seed=3), seed=1)) != sorted(a)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"file not found: .*nope\.jsonl"):
        load_dataset(cfg(tmp_path / "nope.jsonl"), seed=1)


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps(ROWS[1]) + "\n{not json\n")
    with pytest.raises(DatasetError, match=r"d\.jsonl:3: malformed JSON"):
        load_dataset(cfg(p), seed=1)


def test_missing_required_field_names_line_and_field(tmp_path: Path) -> None:
    p = jsonl(tmp_path / "d.jsonl", [ROWS[0], {"id": "x", "input": "Q?"}])
    with pytest.raises(DatasetError, match=r"d\.jsonl:2: missing required field 'target'"):
        load_dataset(cfg(p), seed=1)


def test_duplicate_ids(tmp_path: Path) -> None:
    p = jsonl(tmp_path / "d.jsonl", [ROWS[0], ROWS[1], ROWS[0]])
    with pytest.raises(DatasetError, match=r"d\.jsonl:3: duplicate id 'q0' \(first on line 1\)"):
        load_dataset(cfg(p), seed=1)


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_text("\n")
    with pytest.raises(DatasetError, match="has no rows"):
        load_dataset(cfg(p), seed=1)


def test_csv_missing_field_names_its_line(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("id,input,target\na,Q1,1\nb,,2\n")
    with pytest.raises(DatasetError, match=r"d\.csv:3: missing required field 'input'"):
        load_dataset(cfg(p), seed=1)


def test_unknown_suffix_needs_format(tmp_path: Path) -> None:
    p = tmp_path / "d.txt"
    p.write_text("x")
    with pytest.raises(DatasetError, match="dataset.format"):
        load_dataset(cfg(p), seed=1)
