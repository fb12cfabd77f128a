from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsweep.config.dataset import DatasetConfig, FieldMap
from evalsweep.task.data import load_dataset
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
    from evalsweep.config.base import PROJECT_ROOT
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


# ---- encodings ---------------------------------------------------------------------------------

def test_non_utf8_byte_names_file_line_and_byte(tmp_path: Path) -> None:
    """A latin-1 byte used to be a 29-line UnicodeDecodeError naming neither file nor line."""
    cases = (("d.jsonl", json.dumps(ROWS[0]).encode(), b'{"id": "x", "input": "caf\xe9", "target": "1"}', 2, 26),
             ("d.csv", b"id,input,target\na,Q1,1", b"b,caf\xe9,2", 3, 6))
    for name, good, bad, line, column in cases:
        p = tmp_path / name
        p.write_bytes(good + b"\n" + bad + b"\n")
        with pytest.raises(DatasetError, match=rf"{name.replace('.', '[.]')}:{line}: not UTF-8 "
                                               rf"\(byte 0xe9 at column {column}\); save the file as UTF-8"):
            load_dataset(cfg(p), seed=1)


def test_byte_order_mark_is_not_part_of_the_first_field(tmp_path: Path) -> None:
    csv_file = tmp_path / "excel.csv"
    csv_file.write_bytes(b"\xef\xbb\xbfid,input,target\na,Q1,1\n")
    [sample] = load_dataset(cfg(csv_file), seed=1)
    assert sample.id == "a"
    jsonl_file = tmp_path / "bom.jsonl"
    jsonl_file.write_bytes(b"\xef\xbb\xbf" + json.dumps(ROWS[0]).encode() + b"\n")
    assert [x.id for x in load_dataset(cfg(jsonl_file), seed=1)] == ["q0"]


def test_csv_header_without_a_mapped_column(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("qid,input,target\na,Q1,1\n")
    with pytest.raises(DatasetError, match=r"d\.csv:1: no column 'id' \(the id\) in the header; columns: qid, input"):
        load_dataset(cfg(p), seed=1)


# ---- metadata ----------------------------------------------------------------------------------

def test_missing_metadata_field_names_field_file_and_line(tmp_path: Path) -> None:
    rows = [{**ROWS[0], "level": "easy"}, ROWS[1]]
    p = jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(DatasetError, match=r"d\.jsonl:2: missing metadata field 'level' .*optional as 'level\?'"):
        load_dataset(cfg(p, fields=FieldMap(metadata=["level"])), seed=1)
    csv_file = tmp_path / "d.csv"
    csv_file.write_text("id,input,target\na,Q1,1\n")
    with pytest.raises(DatasetError, match=r"d\.csv:1: no column 'level' \(the metadata\)"):
        load_dataset(cfg(csv_file, fields=FieldMap(metadata=["level"])), seed=1)


def test_optional_metadata_is_null_when_absent_and_a_json_null_is_a_value(tmp_path: Path) -> None:
    fields = FieldMap(metadata=["level", "topic?"])
    assert fields.metadata == ["level", "topic"] and fields.optional_metadata == ["topic"]
    assert FieldMap.model_validate(fields.model_dump()) == fields  # survives a round trip
    p = jsonl(tmp_path / "d.jsonl", [{**ROWS[0], "level": None, "topic": "sums"}, {**ROWS[1], "level": "hard"}])
    a, b = load_dataset(cfg(p, fields=fields, shuffle=False), seed=1)
    assert a.metadata == {"level": None, "topic": "sums"} and b.metadata == {"level": "hard", "topic": None}
    csv_file = tmp_path / "d.csv"
    csv_file.write_text("id,input,target,level\na,Q1,1,easy\n")
    [c] = load_dataset(cfg(csv_file, fields=fields), seed=1)
    assert c.metadata == {"level": "easy", "topic": None}


def test_shipped_datasets_have_their_metadata() -> None:
    from evalsweep.config.base import PROJECT_ROOT
    import yaml

    for f in sorted((PROJECT_ROOT / "conf" / "dataset").glob("*.yaml")):
        d = DatasetConfig.model_validate({**yaml.safe_load(f.read_text()), "max_samples": None})
        assert all(set(s.metadata) == set(d.fields.metadata) for s in load_dataset(d, seed=1)), f.name


# ---- multiple-choice targets --------------------------------------------------------------------

def test_choice_targets_in_any_usual_form_load(tmp_path: Path) -> None:
    fields = FieldMap(choices="options")
    rows = [{"id": f"q{i}", "input": "Q?", "target": t, "options": ["x", "y", "z"]}
            for i, t in enumerate([" (A)", "(B)", "C", " b ", "( C )"])]
    p = jsonl(tmp_path / "mwe.jsonl", rows)
    samples = load_dataset(cfg(p, fields=fields, scorer="choice", shuffle=False), seed=1)
    assert [s.target for s in samples] == [" (A)", "(B)", "C", " b ", "( C )"]  # kept as the file has them


@pytest.mark.parametrize("target", ["(D)", "E", "A or B", "answer: A", ""])
def test_a_target_that_is_no_choice_letter_is_an_error_at_load(tmp_path: Path, target: str) -> None:
    fields = FieldMap(choices="options")
    rows = [{"id": "ok", "input": "Q?", "target": "A", "options": ["x", "y", "z"]},
            {"id": "bad", "input": "Q?", "target": target or " ", "options": ["x", "y", "z"]}]
    p = jsonl(tmp_path / "mwe.jsonl", rows)
    pattern = (r"mwe\.jsonl:2: (target .* of sample 'bad' is not the letter of one of its choices "
               r"\(choices A-C\)|missing)")
    with pytest.raises(DatasetError, match=pattern):
        load_dataset(cfg(p, fields=fields), seed=1, scorer="choice")
    # Scored another way, such a target is fine.
    if target:
        assert len(load_dataset(cfg(p, fields=fields), seed=1, scorer="exact")) == 2
