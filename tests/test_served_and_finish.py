"""What answered each sample and how its answer ended: the served model and OpenAI's fingerprint
on every row, a served model other than the requested one counted and warned about, finish
reasons and truncations counted, reasoning tokens recorded; all kept on a re-run from the cache.
Jobs run in-process (evalsweep.run_job) against the job's own simulator, with a private cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import evalsweep
from evalsweep.job.answered import same_model

BASE = ["tracker=none", "run.progress=false", "dataset.max_samples=8"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache.sqlite"
    monkeypatch.setenv("EVALSWEEP_CACHE_PATH", str(path))
    return path


def run(overrides: list[str], out: Path) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    evalsweep.run_job([*BASE, *overrides], out_dir=out)
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    return rows, json.loads((out / "summary.json").read_text()), (out / "run.log").read_text()


@pytest.mark.parametrize(("requested", "served", "same"), [
    ("gpt-4o", "gpt-4o", True),
    ("gpt-4o", "gpt-4o-2024-08-06", True),
    ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", True),
    ("claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022", True),
    ("gpt-4o", None, True),  # nothing said: nothing to count
    ("gpt-4o", "gpt-4o-mini", False),
    ("gpt-4o", "gpt-4", False),
    ("sim", "other-model", False),
])
def test_a_served_name_that_only_adds_a_snapshot_is_the_same_model(requested: str, served: str | None,
                                                                   same: bool) -> None:
    assert same_model(requested, served) is same


def test_every_row_records_the_served_model_and_fingerprint(tmp_path: Path) -> None:
    rows, s, log = run([], tmp_path / "job")
    assert len(rows) == 8
    assert all(r["served_model"] == "sim" and r["system_fingerprint"] == "evalsweep-simulator" for r in rows)
    assert s["n_served_model_differs"] == 0 and s["served_models"] == {"sim": 8}
    assert "not the requested" not in log


def test_gemini_wire_records_its_model_version_and_no_fingerprint(tmp_path: Path) -> None:
    rows, s, _ = run(["model=sim_gemini"], tmp_path / "job")
    assert all(r["served_model"] == "sim-gemini" and r["system_fingerprint"] is None for r in rows)
    assert s["n_served_model_differs"] == 0


def test_another_served_model_is_counted_and_warned_about_once(tmp_path: Path) -> None:
    rows, s, log = run(["+model.simulator.faults.served_model=sim-other"], tmp_path / "job")
    assert all(r["model"] == "sim" and r["served_model"] == "sim-other" for r in rows)
    assert s["n_served_model_differs"] == 8 and s["served_models"] == {"sim-other": 8}
    warnings = [line for line in log.splitlines() if "not the requested" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0] and "'sim-other'" in warnings[0]


def test_a_dated_snapshot_is_not_counted_as_another_model(tmp_path: Path) -> None:
    _, s, log = run(["+model.simulator.faults.served_model=sim-2026-01-01"], tmp_path / "job")
    assert s["n_served_model_differs"] == 0 and s["served_models"] == {"sim-2026-01-01": 8}
    assert "not the requested" not in log


@pytest.mark.parametrize("wire", [[], ["model.provider=anthropic"], ["model=sim_gemini"]],
                         ids=["openai", "anthropic", "gemini"])
def test_answers_cut_at_max_tokens_are_counted_as_length_and_warned_about(tmp_path: Path, wire: list[str]) -> None:
    rows, s, log = run([*wire, "model.max_tokens=1"], tmp_path / "job")
    assert all(r["finish_reason"] == "length" for r in rows)
    assert s["finish_reasons"] == {"length": 8} and s["n_truncated"] == 8
    (line,) = [line for line in log.splitlines() if "raise model.max_tokens" in line]
    assert "WARNING" in line and "8 of 8 answers were cut at model.max_tokens=1" in line


def test_whole_answers_are_counted_by_their_finish_reason_and_not_warned_about(tmp_path: Path) -> None:
    _, s, log = run(["model.provider=anthropic"], tmp_path / "job")
    assert s["finish_reasons"] == {"end_turn": 8} and s["n_truncated"] == 0
    assert "raise model.max_tokens" not in log


def test_the_end_of_job_line_says_how_many_were_truncated_and_the_fix(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    from evalsweep.app.compose import compose
    from evalsweep.app.entry import _report_end
    from evalsweep.results.record import JobInfo

    overrides = [*BASE, "model.max_tokens=1"]
    result = evalsweep.run_job(overrides, out_dir=tmp_path / "job")
    assert result.summary is not None
    with caplog.at_level("INFO", logger="evalsweep"):
        _report_end(result.summary, compose(overrides)[1], result.out_dir, JobInfo(output_dir=str(result.out_dir)))
    (end,) = [r for r in caplog.records if "mean score" in r.getMessage()]
    assert end.levelname == "WARNING" and "8 truncated at max_tokens (raise model.max_tokens)" in end.getMessage()
