"""Each bad input: one clear line on stderr naming what and where, a non-zero exit, no request sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli


def _dataset(tmp_path: Path, text: str, name: str = "d.jsonl") -> str:
    p = tmp_path / name
    p.write_text(text)
    return f"dataset.path={p}"


# The shipped option maps metadata [difficulty]: every row of a file read through it must have it.
GOOD = json.dumps({"id": "a", "question": "What is 1 + 1?", "answer": "2", "difficulty": "easy"}) + "\n"

CASES = {
    "typo": (lambda t: ["+model.temprature=0.5"], 2, r"unknown config key 'model\.temprature'"),
    "wrong_type": (lambda t: ["model.max_tokens=lots"], 2, r"model\.max_tokens='lots'.*integer"),
    "unknown_option": (lambda t: ["model=gtp4"], 2, r"no config option model=gtp4.*one of: claude"),
    "missing_value": (lambda t: ["model.name=???"], 2, r"'model\.name' cannot be resolved.*[Mm]issing"),
    "bad_ttl": (lambda t: ["cache.ttl=soon"], 2, r"cache\.ttl='soon'.*30m, 12h, 7d"),
    "missing_file": (lambda t: ["dataset.path=/no/such/file.jsonl"], 2, r"file not found: /no/such/file\.jsonl"),
    "malformed_json": (lambda t: [_dataset(t, GOOD + "{oops\n")], 2, r"d\.jsonl:2: malformed JSON"),
    "missing_field": (lambda t: [_dataset(t, GOOD + '{"id": "b", "question": "x"}\n')], 2,
                      r"d\.jsonl:2: missing required field 'answer'"),
    "duplicate_ids": (lambda t: [_dataset(t, GOOD + GOOD)], 2, r"d\.jsonl:2: duplicate id 'a'"),
    "empty_file": (lambda t: [_dataset(t, "")], 2, r"has no rows"),
    "unknown_placeholder": (lambda t: ["prompt.user='{input} {questoin}'"], 2,
                            r"unknown placeholder \{questoin\} in prompt\.user"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_one_clear_line(case: str, tmp_path: Path, cache_env: dict[str, str]) -> None:
    import re

    make_args, code, pattern = CASES[case]
    out = tmp_path / "run"
    proc = run_cli(["tracker=none", f"hydra.run.dir={out}", *make_args(tmp_path)], env=cache_env)
    assert proc.returncode == code, (proc.returncode, proc.stderr[-1500:])
    assert re.search(pattern, proc.stderr), proc.stderr[-1500:]
    assert "Traceback" not in proc.stderr
    if code == 2:
        [line] = [x for x in proc.stderr.splitlines() if x.startswith("evalsweep: error:")]
        assert len(line) < 400
    # Nothing was asked: validation comes before the first request.
    assert not (out / "results.jsonl").exists()
    assert not Path(cache_env["EVALSWEEP_CACHE_PATH"]).exists()
