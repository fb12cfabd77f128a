"""OpenAI's and Gemini's automatic caching of long prompts, as the real SDKs read it over HTTP from the
simulator: the cached tokens are inside the provider's prompt count, and a row records them apart
(cache_read_tokens, priced at price.cache_read_per_mtok) with input_tokens the rest, as Anthropic's are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import InprocJob, read_jsonl

from evalsweep.api import JobResult

# ~1,170 simulator tokens (1.3 a word): past the 1,024 from which both providers cache a prompt.
LONG_SYSTEM = "You are a careful assistant. Reply with only the final answer. Notes: " + " ".join(
    f"note{i}" for i in range(880))
# Prices far apart, so the cost shows which rate each token was billed at (USD per token: 1, 2, 0.1).
PRICE = ["model.price.input_per_mtok=1000000", "model.price.output_per_mtok=2000000",
         "+model.price.cache_read_per_mtok=100000"]
ONE_AT_A_TIME = ["model.max_concurrency=1", "dataset.max_samples=4"]  # the first answer is in before the next ask


def _job(run_job_inproc: InprocJob, out: Path, *args: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    result = run_job_inproc([*args, *ONE_AT_A_TIME, *PRICE], out)
    assert isinstance(result, JobResult), result
    return read_jsonl(out / "results.jsonl"), json.loads((out / "summary.json").read_text())


def _check_cost(rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    read = [r["usage"].get("cache_read_tokens", 0) for r in rows]
    assert summary["usage"]["cache_read_tokens"] == sum(read)
    expected = sum(r["usage"]["input_tokens"] + 2 * r["usage"]["output_tokens"] for r in rows) + 0.1 * sum(read)
    assert summary["cost_usd"] == pytest.approx(expected)
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(expected)


def test_openai_cached_prompt_tokens_are_recorded_apart_and_priced_at_their_rate(
        tmp_path: Path, run_job_inproc: InprocJob) -> None:
    rows, summary = _job(run_job_inproc, tmp_path / "job", "model=sim", f"prompt.system='{LONG_SYSTEM}'")
    assert "cache_read_tokens" not in rows[0]["usage"]  # the first ask finds nothing cached
    for r in rows[1:]:
        cached = r["usage"]["cache_read_tokens"]
        assert cached >= 1024 and (cached - 1024) % 128 == 0  # OpenAI counts them 128 at a time
        assert r["usage"]["input_tokens"] < 128 + 40  # what is left: the question, and the prefix's odd end
        # Together, the prompt the server counted (the same system prompt, a question of similar length).
        assert abs(cached + r["usage"]["input_tokens"] - rows[0]["usage"]["input_tokens"]) < 40
    _check_cost(rows, summary)


def test_gemini_cached_prompt_tokens_are_recorded_apart(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    rows, summary = _job(run_job_inproc, tmp_path / "job", "model=sim_gemini", f"prompt.system='{LONG_SYSTEM}'")
    assert "cache_read_tokens" not in rows[0]["usage"]
    cached = {r["usage"]["cache_read_tokens"] for r in rows[1:]}
    assert len(cached) == 1 and cached.pop() >= 1024  # the whole system prompt, every time
    _check_cost(rows, summary)


@pytest.mark.parametrize("model", ["sim", "sim_gemini"])
def test_short_prompts_are_not_cached_and_rows_keep_their_fields(tmp_path: Path, run_job_inproc: InprocJob,
                                                                 model: str) -> None:
    rows, summary = _job(run_job_inproc, tmp_path / "job", f"model={model}")
    assert all(set(r["usage"]) == {"input_tokens", "output_tokens", "reasoning_tokens"} for r in rows)
    assert "cache_read_tokens" not in summary["usage"]
