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


REASONING = ["model.reasoning=true", "model.token_limit_field=max_completion_tokens", "model.reasoning_effort=low",
             "+spec.justifications.reasoning_effort=low: the least thinking that answers arithmetic",
             "model.price.input_per_mtok=0", "model.price.output_per_mtok=1000000"]  # a row's cost: its output tokens


@pytest.mark.parametrize("wire", [[], ["model=sim_gemini"]], ids=["openai", "gemini"])
def test_a_reasoning_model_records_its_reasoning_tokens_billed_as_output(tmp_path: Path, wire: list[str]) -> None:
    rows, s, _ = run([*wire, *REASONING], tmp_path / "job")
    for r in rows:
        u = r["usage"]
        assert u["reasoning_tokens"] > 0 and u["output_tokens"] > u["reasoning_tokens"]  # the answer's on top
        assert r["cost_usd"] == pytest.approx(u["output_tokens"])  # reasoning inside output: priced once
    assert s["usage"]["reasoning_tokens"] == sum(r["usage"]["reasoning_tokens"] for r in rows) > 0
    assert s["usage"]["output_tokens"] == sum(r["usage"]["output_tokens"] for r in rows)
    assert s["cost_usd"] == pytest.approx(s["usage"]["output_tokens"])


def test_reasoning_counts_against_max_tokens_and_other_models_report_none(tmp_path: Path) -> None:
    # Thinking fills a small budget: no visible answer, cut at the limit.
    rows, s, _ = run([*REASONING, "model.max_tokens=8"], tmp_path / "small")
    assert all(r["output"] == "" and r["finish_reason"] == "length" and r["usage"]["reasoning_tokens"] == 8
               for r in rows)
    assert s["n_truncated"] == 8
    plain, s, _ = run([], tmp_path / "plain")
    assert all(r["usage"]["reasoning_tokens"] == 0 for r in plain) and s["usage"]["reasoning_tokens"] == 0
    claude, _, _ = run(["model.provider=anthropic", "model.reasoning=true"], tmp_path / "anthropic")
    # Anthropic's thinking is inside output_tokens, and broken out in usage.output_tokens_details.
    assert all(0 < r["usage"]["reasoning_tokens"] < r["usage"]["output_tokens"] for r in claude)


def test_a_rerun_from_the_cache_keeps_every_new_field(tmp_path: Path) -> None:
    overrides = [*REASONING, "+model.simulator.faults.served_model=sim-other", "model.max_tokens=24"]
    first, s1, _ = run(overrides, tmp_path / "first")
    again, s2, log = run(overrides, tmp_path / "again")
    assert s2["cache"]["hits"] == 8 and all(r["cached"] for r in again)
    fields = ("served_model", "system_fingerprint", "finish_reason", "usage")
    assert [{k: r[k] for k in fields} for r in again] == [{k: r[k] for k in fields} for r in first]
    assert {r["served_model"] for r in again} == {"sim-other"} and {r["system_fingerprint"] for r in again} == {
        "evalsweep-simulator"}
    for key in ("n_served_model_differs", "served_models", "finish_reasons", "n_truncated", "usage"):
        assert s2[key] == s1[key], key
    assert s2["usage"]["reasoning_tokens"] > 0 and "not the requested" in log


def test_entries_and_rows_written_before_these_fields_still_load(tmp_path: Path) -> None:
    import time

    from evalsweep.cache import ResponseCache
    from evalsweep.results.rows import ResultRecord

    old = {"text": "4", "text_truncated": False, "usage": {"input_tokens": 3, "output_tokens": 1},
           "finish_reason": "max_tokens", "request_id": "r1", "model": "claude-x"}
    got = ResponseCache(tmp_path / "c.sqlite")._response_of({"created": time.time(), "response": old})
    assert got is not None and got.system_fingerprint is None and got.usage.reasoning_tokens == 0
    row = ResultRecord.model_validate({"sample_id": "a", "model": "m", "provider": "openai", "prompt": "p",
                                       "dataset": "d", "seed": 1, "messages": [], "output": "4", "target": "4",
                                       "score": 1.0, "scorer": "exact", "finish_reason": "max_tokens"})
    assert row.served_model is None and row.system_fingerprint is None and row.usage.reasoning_tokens == 0
    from evalsweep.job.answered import AnswerTotals

    totals = AnswerTotals()
    totals.add(row)  # an Anthropic row from before the clients said "length"
    assert totals.n_truncated == 1 and totals.n_served_model_differs == 0
