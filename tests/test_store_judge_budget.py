"""The sweep's budget counts a judge's spend as well as the model's (sweep.max_cost_usd with
scorer=judge): in-process jobs on the simulator, the budget in the job dir's sqlite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import InprocJob, job_args, rows, summary
from evalsweep.store.budget import BUDGET_FILE
from evalsweep.store.budget_sqlite import SqliteBudgetStore

JUDGE = ["scorer=judge", "scorer.judge=sim_strong", "model.max_tokens=32", "+scorer.judge_overrides.max_tokens=64",
         "+scorer.judge_overrides.price.input_per_mtok=100", "+scorer.judge_overrides.price.output_per_mtok=300"]
MODEL_PRICE = ["model.price.input_per_mtok=100", "model.price.output_per_mtok=300"]
SAMPLES = 16


def _spent(job: Path) -> float:
    store = SqliteBudgetStore(job / BUDGET_FILE, str(job.resolve()), 30.0)
    try:
        return store.spent()
    finally:
        store.close()


def _check_rows(job: Path) -> list[dict]:
    """Every written row is whole and valid: an answer and the judge's grade, never a judge error."""
    got = rows(job)
    s = summary(job)
    assert len(got) == s["n_done"] and s["n_done"] + s["n_not_run"] == SAMPLES
    for r in got:
        assert r["error"] is None and r["output"]
        assert r["judge"]["error"] is None and r["judge"]["grade"] in ("C", "I") and r["score"] is not None
    assert s["judge"]["errors"] == 0 and s["n_errors"] == 0
    assert s["status"] == "incomplete" and s["budget_stopped"]
    assert "sweep budget of $" in s["stop_reason"] and "reached" in s["stop_reason"]
    return got


@pytest.mark.parametrize("model_priced", [True, False], ids=["model-and-judge", "judge-only"])
def test_a_judged_job_stops_within_one_request_of_the_sweep_budget_with_the_judges_spend_counted(
        tmp_path: Path, run_job_inproc: InprocJob, model_priced: bool) -> None:
    # judge-only: the model is free, so every refusal is of a judge's request, raised inside the scorer.
    cap = 0.17  # roughly half of what 16 samples cost the model and the judge at these prices
    job = tmp_path / "job"
    args = job_args(samples=SAMPLES) + JUDGE + (MODEL_PRICE if model_priced else []) + [
        f"sweep.max_cost_usd={cap}", "model.max_concurrency=2"]
    res = run_job_inproc(args, job)
    assert not isinstance(res, Exception), res
    got = _check_rows(job)
    model_spend = sum(r["cost_usd"] for r in got)
    judge_spend = sum(r["judge"]["cost_usd"] for r in got)
    one = max([r["judge"]["cost_usd"] for r in got] + [r["cost_usd"] for r in got])
    spent = _spent(job)
    # The store counted both (a sample the budget stopped after its model answered is on no row).
    assert model_spend + judge_spend <= spent + 1e-9
    assert cap - one <= spent <= cap + one, (spent, cap, one)
    assert judge_spend > 0 and len(got) < SAMPLES
    if model_priced:
        assert model_spend > 0 and model_spend < cap - one  # the model alone would have run on to the cap
    else:
        assert model_spend == 0.0 and judge_spend >= cap - 3 * one  # at most the 2 in flight off any row
    s = summary(job)
    assert s["judge"]["cost_usd"] == pytest.approx(judge_spend)
    print(f"sweep budget ${cap}: ${spent:.4f} spent (model ${model_spend:.4f}, judge ${judge_spend:.4f} on "
          f"{len(got)} rows; one request at most ${one:.4f})")


def test_a_request_is_settled_at_what_the_job_bills_it_prompt_cache_tokens_included() -> None:
    """The sweep budget's spend and the job's cost_usd agree when prompts are cached (Anthropic's
    cache_control, OpenAI's and Gemini's long prompts): cache tokens count at their own rates."""
    from evalsweep.config.model import PriceConfig
    from evalsweep.llm.types import Usage
    from evalsweep.store.budget import Bill

    price = PriceConfig(input_per_mtok=1e6, output_per_mtok=2e6, cache_write_per_mtok=1e7, cache_read_per_mtok=1e5)
    usage = Usage(input_tokens=10, output_tokens=5, cache_write_tokens=3, cache_read_tokens=1000)
    bill = Bill(price)
    bill.paid(usage)
    assert bill.actual == pytest.approx(price.cost_of(usage)) == pytest.approx(10 + 10 + 30 + 100)
