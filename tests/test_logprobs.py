"""Token logprobs (model.logprobs, model.top_logprobs): sent by the OpenAI client to the simulator
over HTTP, stored compactly per row, served again from the cache, and read by a scorer of this
module's own (the probability of the right answer at the first token)."""

from __future__ import annotations

import math
from pathlib import Path

from conftest import compose_exp, job_args, rows, summary
from evalsweep.cache.keys import key_payload
from evalsweep.errors import ConfigError
from evalsweep.llm.logprobs import TokenLogprobs
from evalsweep.llm.types import Message, build_request
from evalsweep.task.scorer_api import ScoreInput

K = 4


def p_target(item: ScoreInput) -> dict[str, float]:
    """A researcher's scorer: how likely the model thought the right answer was, and whether it gave it."""
    assert item.logprobs is not None, "the job asks for logprobs: the scorer gets them"
    return {"p_target": item.logprobs.probability(item.sample.target or ""),
            "correct": float(item.text.strip() == item.sample.target)}


def test_a_logprobs_job_stores_top_k_per_row_and_a_scorer_reads_the_answers_probability(
        run_job_inproc, tmp_path: Path) -> None:
    args = [*job_args(samples=30), "model.logprobs=true", f"model.top_logprobs={K}",
            "scorer.type=test_logprobs:p_target", "scorer.primary=p_target"]
    result = run_job_inproc(args, tmp_path / "job")
    assert not isinstance(result, Exception), result
    got = rows(tmp_path / "job")
    assert len(got) == 30 and all(r["error"] is None for r in got)
    for r in got:
        lp = TokenLogprobs.model_validate(r["logprobs"])
        assert "".join(lp.tokens) == r["output"] and len(lp.logprobs) == len(lp.tokens)
        assert lp.top is not None and all(len(alts) == K for alts in lp.top)
        assert all(max(alts.values()) == chosen for alts, chosen in zip(lp.top, lp.logprobs))  # greedy
        assert math.isclose(r["scores"]["p_target"], p_target_of(lp, r["target"]), abs_tol=1e-12)
    right = [r["scores"]["p_target"] for r in got if r["scores"]["correct"] == 1.0]
    wrong = [r["scores"]["p_target"] for r in got if r["scores"]["correct"] == 0.0]
    assert right and wrong
    # The simulated model is more sure of its right answers, and a wrong one leaves some mass on the right one.
    assert min(right) >= 0.7 > max(wrong) and all(0 < p < 0.35 for p in wrong)
    assert summary(tmp_path / "job")["metrics"]["score"]["n"] == 30  # the primary metric: p_target

    again = run_job_inproc(args, tmp_path / "again")  # from the cache: the same logprobs
    assert not isinstance(again, Exception), again
    cached = rows(tmp_path / "again")
    assert all(r["cached"] for r in cached)
    assert {r["sample_id"]: r["logprobs"] for r in cached} == {r["sample_id"]: r["logprobs"] for r in got}


def p_target_of(lp: TokenLogprobs, target: str) -> float:
    return sum(math.exp(v) for t, v in (lp.top or [{}])[0].items() if t.strip() == target)


def test_without_logprobs_rows_and_cache_keys_are_as_before(run_job_inproc, tmp_path: Path) -> None:
    result = run_job_inproc(job_args(samples=3), tmp_path / "job")
    assert not isinstance(result, Exception), result
    assert all("logprobs" not in r for r in rows(tmp_path / "job"))
    plain = compose_exp("tracker=none")
    request = build_request(plain.model, [Message(role="user", content="What is 2 + 2?")], seed=1)
    payload = key_payload(request, simulated=True)
    assert "logprobs" not in payload and "top_logprobs" not in payload
    off = compose_exp("tracker=none", "model.logprobs=false")  # false is the same as unset
    assert key_payload(build_request(off.model, request.messages, seed=1), simulated=True) == payload
    on = compose_exp("tracker=none", "model.logprobs=true", "model.top_logprobs=2")
    assert key_payload(build_request(on.model, request.messages, seed=1), simulated=True)["top_logprobs"] == 2


def test_logprobs_on_anthropic_and_top_without_logprobs_are_refused_in_one_line(run_job_inproc,
                                                                                tmp_path: Path) -> None:
    claude = run_job_inproc([*job_args(), "model=sim_strong", "model.logprobs=true"], tmp_path / "a")
    assert isinstance(claude, ConfigError) and claude.exit_code == 2
    assert "Anthropic's Messages API returns no token logprobs" in str(claude) and "\n" not in str(claude)
    o4 = run_job_inproc([*job_args(), "model=sim", "model.reasoning=true", "model.logprobs=true"], tmp_path / "r")
    assert isinstance(o4, ConfigError) and o4.exit_code == 2
    assert "reasoning models return no token logprobs" in str(o4) and "\n" not in str(o4)
    top = run_job_inproc([*job_args(), "model.top_logprobs=3"], tmp_path / "b")
    assert isinstance(top, ConfigError) and "top_logprobs needs logprobs=true" in str(top)
    assert not (tmp_path / "a" / "results.jsonl").exists()


def test_probability_matches_answers_without_whitespace_or_case() -> None:
    lp = TokenLogprobs(tokens=[" Yes", "."], logprobs=[math.log(0.7), math.log(0.9)],
                       top=[{" Yes": math.log(0.7), " yes": math.log(0.05), " No": math.log(0.2)}, {}])
    assert math.isclose(lp.probability("Yes"), 0.75) and math.isclose(lp.probability(" No", "no"), 0.2)
    assert lp.probability("Maybe") == 0.0 and lp.probability("Yes", position=5) == 0.0
    assert math.isclose(lp.probability("."), 0.0) and math.isclose(lp.probability(".", position=1), 0.9)
    assert list(lp.distribution()) == [" Yes", " No", " yes"]
    chosen_only = TokenLogprobs(tokens=["No"], logprobs=[math.log(0.6)])
    assert math.isclose(chosen_only.probability("no"), 0.6)


def test_gemini_sends_response_logprobs_and_reads_logprobs_result(run_job_inproc, tmp_path: Path) -> None:
    args = [*job_args(samples=6), "model=sim_gemini", "model.logprobs=true", "model.top_logprobs=2"]
    result = run_job_inproc(args, tmp_path / "job")
    assert not isinstance(result, Exception), result
    for r in rows(tmp_path / "job"):
        lp = TokenLogprobs.model_validate(r["logprobs"])
        assert "".join(lp.tokens) == r["output"] and lp.top is not None and all(len(a) == 2 for a in lp.top)
    chosen_only = run_job_inproc([*job_args(samples=2), "model=sim_gemini", "model.logprobs=true"], tmp_path / "c")
    assert not isinstance(chosen_only, Exception), chosen_only
    assert all(r["logprobs"]["top"] is None and r["logprobs"]["tokens"] for r in rows(tmp_path / "c"))
