"""Solvers: a job's steps over one conversation per sample (evalsweep.task.solvers, docs/experiments.md).

Jobs run in-process (evalsweep.run_job, a private cache, tracker=none) unless the process is the
point: the exit code of a bad solver, and a two-turn job SIGKILLed mid-run and resumed."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import InprocJob, cli_env, identities, kill, rows, run_cli, spawn, summary

from evalsweep.api import JobResult
from evalsweep.errors import ConfigError
from evalsweep.job.resume import fingerprint
from evalsweep.llm.types import Message
from evalsweep.task.solvers import Generate, SolverState

N = 6
BASE = [f"dataset.max_samples={N}", "++spec.skip_validation=true"]
PUSHBACK = "Are you sure? Reply with your final answer."


async def say_it_again(state: SolverState, generate: Generate) -> None:
    """A step of the test's own, named by dotted path: asks again, quoting the previous reply."""
    state.messages.append(Message(role="user", content=f"You said {state.output!r}; say it once more."))
    await generate(state)


def not_async(state: SolverState, generate: Generate) -> None:
    """Not a step: a step is an async function."""


def _ok(result: JobResult | Exception) -> JobResult:
    assert isinstance(result, JobResult), result
    return result


def test_are_you_sure_records_both_turns_and_a_rerun_is_all_cache_hits(tmp_path: Path,
                                                                       run_job_inproc: InprocJob) -> None:
    _ok(run_job_inproc([*BASE, "solver=are_you_sure"], tmp_path / "a"))
    first = rows(tmp_path / "a")
    assert len(first) == N
    for r in first:
        one, two = r["turns"]
        # The last request holds the whole conversation: the prompt, the first reply, the pushback.
        assert [m["role"] for m in r["messages"]] == ["system", "user", "assistant", "user"]
        assert r["messages"][2]["content"] == one["output"] and r["messages"][3]["content"] == PUSHBACK
        assert r["output"] == two["output"] and not one["cached"] and not two["cached"]
        assert r["usage"]["input_tokens"] == one["usage"]["input_tokens"] + two["usage"]["input_tokens"]
        assert r["usage"]["output_tokens"] == one["usage"]["output_tokens"] + two["usage"]["output_tokens"]
        assert r["attempts"] == 2 and r["score"] is not None
    s = summary(tmp_path / "a")
    assert s["requests_sent"] == 2 * N and s["config"]["solver"]["name"] == "are_you_sure"
    assert s["usage"]["input_tokens"] == sum(r["usage"]["input_tokens"] for r in first)

    _ok(run_job_inproc([*BASE, "solver=are_you_sure"], tmp_path / "b"))  # each turn's request is cached
    again = summary(tmp_path / "b")
    assert again["requests_sent"] == 0 and again["cache"]["hits"] == 2 * N and again["n_done"] == N
    second = rows(tmp_path / "b")
    assert {r["sample_id"]: r["output"] for r in second} == {r["sample_id"]: r["output"] for r in first}
    assert all(r["cached"] and r["cost_usd"] == 0 and all(t["cached"] for t in r["turns"]) for r in second)


def test_the_default_solver_rows_have_no_turns(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    _ok(run_job_inproc(BASE, tmp_path / "a"))
    for r in rows(tmp_path / "a"):
        assert r["turns"] is None and r["attempts"] == 1
        assert [m["role"] for m in r["messages"]] == ["system", "user"]
    assert summary(tmp_path / "a")["requests_sent"] == N


def test_a_step_of_ones_own_by_dotted_path(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    _ok(run_job_inproc([*BASE, "solver.name=again",
                        "solver.steps=[{type:generate},{type:test_solvers.say_it_again}]"], tmp_path / "a"))
    for r in rows(tmp_path / "a"):
        one, two = r["turns"]
        assert r["messages"][-1]["content"] == f"You said {one['output']!r}; say it once more."
        assert r["output"] == two["output"]
    assert summary(tmp_path / "a")["requests_sent"] == 2 * N


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_prefill_is_sent_last_and_recorded_with_the_continuation(provider: str, tmp_path: Path,
                                                                  run_job_inproc: InprocJob) -> None:
    steps = "[{type:system_message,template:'Item {id}.'},{type:assistant_prefill,text:'Answer:'},{type:generate}]"
    _ok(run_job_inproc([*BASE, f"model.provider={provider}", "solver.name=prefill", f"solver.steps={steps}"],
                       tmp_path / "a"))
    for r in rows(tmp_path / "a"):
        assert [m["role"] for m in r["messages"]] == ["system", "system", "user", "assistant"]
        assert r["messages"][1]["content"] == f"Item {r['sample_id']}."
        assert r["messages"][-1]["content"] == "Answer:"
        assert r["output"].startswith("Answer:") and len(r["output"]) > len("Answer:")
        assert r["turns"] is None  # one generate: the row's output says it all


def test_typed_answers_apply_to_the_last_generate(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    _ok(run_job_inproc([*BASE, "solver=are_you_sure", "structured.response_model=evalsweep.structured.models.Answer",
                        "structured.score_field=answer"], tmp_path / "a"))
    for r in rows(tmp_path / "a"):
        assert r["parsed"] is not None and r["structured"]["valid"]
        assert not r["turns"][0]["output"].lstrip().startswith("{")  # the first turn is plain text
        assert r["turns"][1]["output"].lstrip().startswith("{")


def test_a_turn_that_fails_for_good_ends_the_conversation(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    failing = ["model.simulator.faults.poison_substring=Are you sure", "model.retry.max_attempts=2",
               "model.retry.initial_wait_s=0.01", "model.retry.max_backoff_s=0.02"]
    _ok(run_job_inproc([*BASE, "solver=are_you_sure", *failing], tmp_path / "a"))
    for r in rows(tmp_path / "a"):
        [one] = r["turns"]  # the answered turn is kept, with what it used
        assert r["error"] is not None and r["output"] is None and r["score"] is None
        assert r["messages"][-1]["content"] == PUSHBACK and r["usage"] == one["usage"]
        assert r["attempts"] == 1 + 2
    s = summary(tmp_path / "a")
    assert s["n_errors"] == N and s["requests_sent"] == N + 2 * N


BAD = {
    "output_before_a_reply": ("solver.steps=[{type:user_message,template:'You said {output}'},{type:generate}]",
                              r"steps\[0\] \(user_message\): \{output\} is the previous reply, and no generate step"),
    "unknown_field": ("solver.steps=[{type:generate},{type:user_message,template:'{answr}?'},{type:generate}]",
                      r"steps\[1\] \(user_message\): unknown placeholder \{answr\}.*available: .*\{output\}"),
    "unknown_step": ("solver.steps=[{type:generat}]", r"unknown solver solver\.steps\.type=generat: one of"),
    "not_async": ("solver.steps=[{type:generate},{type:test_solvers.not_async}]", r"is not an async function"),
    "never_sent": ("solver.steps=[{type:generate},{type:user_message,template:'More?'}]",
                   r"steps\[1\] \(user_message\) comes after the last generate step"),
    "missing_template": ("solver.steps=[{type:generate},{type:user_message},{type:generate}]",
                         r"solver\.steps\.1=.*a user_message step needs a non-empty template"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_solver_is_one_config_error_before_any_request(case: str, tmp_path: Path,
                                                            run_job_inproc: InprocJob) -> None:
    import re

    override, pattern = BAD[case]
    err = run_job_inproc([*BASE, override], tmp_path / "a")
    assert isinstance(err, ConfigError) and err.exit_code == 2, err
    assert re.search(pattern, str(err)) and "\n" not in str(err), str(err)
    assert not (tmp_path / "a" / "results.jsonl").exists()  # refused before anything was asked or written


def test_a_bad_solver_exits_2_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_cli(["tracker=none", f"hydra.run.dir={out}", *BASE, BAD["output_before_a_reply"][0]],
                   env={"EVALSWEEP_CACHE_PATH": str(tmp_path / "cache.sqlite")})
    assert proc.returncode == 2, proc.stderr[-1500:]
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("evalsweep: error:")]
    assert "{output} is the previous reply" in line and "Traceback" not in proc.stderr
    assert not (out / "results.jsonl").exists()


def test_resume_with_another_solver_is_refused_and_a_dir_from_before_solvers_is_not(
        tmp_path: Path, run_job_inproc: InprocJob) -> None:
    out = tmp_path / "a"
    _ok(run_job_inproc([*BASE, "solver=are_you_sure"], out))
    err = run_job_inproc([*BASE, "dataset.max_samples=8", "solver=self_critique"], out)
    assert isinstance(err, ConfigError) and "solver.steps" in str(err), err
    # A summary written before solvers has no `solver`: the same experiment as the default one.
    old = {"seed": 42, "model": {"name": "sim"}}
    assert fingerprint(old) == fingerprint({**old, "solver": {"name": "generate", "steps": [{"type": "generate"}]}})
    assert fingerprint(old) != fingerprint({**old, "solver": {"steps": [{"type": "generate"}] * 2}})


def _cached_answers(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT count(*) FROM responses").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


@pytest.mark.slow
def test_sigkill_mid_conversation_then_resume_asks_only_what_is_missing(tmp_path: Path) -> None:
    # Two waves of 64 samples at once. Each wave's 64 first turns, then its 64 second turns, fill one
    # cache batch each (written at once), while every turn takes the simulator's latency. The kill
    # comes when the second wave's first turns are in the cache: the first wave is in results.jsonl,
    # the second is mid-conversation.
    wave = 64
    n = 2 * wave
    out, cache = tmp_path / "job", tmp_path / "cache" / "responses.sqlite"
    args = ["tracker=none", "run.progress=false", f"dataset.max_samples={n}", f"model.max_concurrency={wave}",
            "model.simulator.latency_ms=1500", "solver=are_you_sure", "++spec.skip_validation=true",
            f"hydra.run.dir={out}"]
    env = cli_env(tmp_path)
    proc = spawn(args, env, tmp_path / "attempt0.log")
    deadline = time.monotonic() + 120
    while _cached_answers(cache) < 3 * wave:
        assert proc.poll() is None, (tmp_path / "attempt0.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "the second wave's first turns never reached the cache"
        time.sleep(0.02)
    assert kill(proc) == -signal.SIGKILL
    before = identities(out / "results.jsonl")
    assert 0 < len(before) < n, f"killed with {len(before)} of {n} samples written"
    resumed = run_cli(args, environ=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = identities(out / "results.jsonl")
    assert len(after) == n and set(after.values()) == {1}  # every sample exactly once
    s = summary(out)
    todo = n - len(before)
    assert s["status"] == "complete" and s["n_resumed"] == len(before)
    # Each redone sample's first turn came from the cache; only its second turn was asked.
    assert s["cache"]["hits"] == todo and s["requests_sent"] == todo
    redone = [r for r in rows(out) if (r["sample_id"], r["seed"], r["repeat"]) not in before]
    assert len(redone) == todo and all(r["turns"][0]["cached"] and not r["turns"][1]["cached"] for r in redone)
    # The end line counts hits of the lookups (two a sample here), not of the samples.
    assert f"cache hits {todo}/{2 * todo}" in resumed.stdout + resumed.stderr
