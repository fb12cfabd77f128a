"""Pre-run validation: each blocking check failing alone, the warnings, skip, validate-only, the
preflight of a multirun, and the shipped configs passing. Unit tests compose the real conf/ with
Hydra's compose API; one job end to end runs in-process (evalsweep.run_job); exit codes, their one
line and sweeps through `python run.py` as a user would."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import ROOT, InprocJob, compose_exp, job_log, run_cli
from evalsweep.api import JobResult
from evalsweep.config.schema import ExperimentConfig
from evalsweep.errors import DatasetError
from evalsweep.llm.cache import cache_key
from evalsweep.llm.types import GenerateRequest, Message
from evalsweep.simulator import SimulatorConfig, SimulatorServer
from evalsweep.app.sweep import BASIC_SWEEPER, parallel_jobs, sweep_jobs, swept_seeds, swept_values
from evalsweep.job.validation import REPORT_JSON, REPORT_TXT, validate_job
from evalsweep.job.validation_blocking import BLOCKING, CACHE_KEY_FIELDS
from evalsweep.job.validation_context import JobContext, Machine
from evalsweep.job.validation_helpers import said
from evalsweep.job.validation_report import CheckResult, ValidationFailed, ValidationReport
from evalsweep.job.validation import validate as run_checks

GB = 1024**3
BLOCKING_KEYS = ["hyperparameters", "output_path", "hypothesis", "metrics", "dataset", "graphs", "caching",
                 "concurrency", "error_handling"]
EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


pytestmark = pytest.mark.usefixtures("private_cache")


def big_machine() -> Machine:
    return Machine(cores=8, memory_available=32 * GB, memory_total=64 * GB, process_rss=200 * 1024**2)


def ctx_for(tmp_path: Path, **kw) -> JobContext:
    return JobContext(**{"output_dir": tmp_path / "out", "seeds": [42], "machine": big_machine(), **kw})


def statuses(report: ValidationReport) -> dict[str, str]:
    return {c.key: c.status for c in report.checks}


# ---- the shipped configs pass --------------------------------------------------------------

def test_default_job_passes_every_blocking_check(tmp_path: Path) -> None:
    report = run_checks(compose_exp(), ctx_for(tmp_path))
    assert [c.key for c in report.blocking] == BLOCKING_KEYS
    assert report.passed, report.render()
    assert statuses(report)["seeds"] == "warn" and statuses(report)["baseline"] == "warn"
    assert statuses(report)["resources"] == "pass"


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_shipped_experiment_passes(tmp_path: Path, name: str) -> None:
    exp = compose_exp(f"experiment={name}")
    report = run_checks(exp, ctx_for(tmp_path))
    assert report.passed, report.render()
    assert said(exp.spec.baseline), "a shipped experiment names its baseline"


# ---- each blocking check failing alone -----------------------------------------------------

def _file(tmp_path: Path) -> Path:
    f = tmp_path / "a_file"
    f.write_text("not a directory")
    return f


ALONE: list[tuple[str, list[str], Callable[[Path, pytest.MonkeyPatch], dict] | None]] = [
    ("hyperparameters", ["spec.justifications.temperature=null"], None),
    ("hyperparameters", ["model.top_p=0.9"], None),  # a parameter newly in use needs its reason
    ("output_path", [], lambda tmp, mp: {"output_dir": _file(tmp) / "job"}),
    ("hypothesis", ["spec.hypothesis=null"], None),
    ("hypothesis", ["spec.falsification=TODO"], None),
    ("metrics", ["spec.metrics=null"], None),
    ("metrics", ["scorer=choice"], None),  # arithmetic has no choices: it would fail mid-run
    ("dataset", ["dataset.provenance.version=null"], None),
    ("dataset", ["dataset.version=''"], None),
    ("dataset", ["dataset.split=''"], None),
    ("graphs", ["spec.graphs=[]"], None),
    ("caching", [], lambda tmp, mp: mp.setenv("EVALSWEEP_CACHE_PATH", str(_file(tmp) / "c.sqlite")) or {}),
    ("concurrency", ["model=gpt4", "model.rpm=null"], None),
    ("error_handling", ["model.retry.max_wait_s=10"], None),  # below the 30 s timeout: timeouts never retried
    ("error_handling", ["model=gpt4", "model.retry.max_attempts=1"], None),
]


@pytest.mark.parametrize(("key", "overrides", "setup"), ALONE, ids=[f"{k}:{' '.join(o) or 'ctx'}" for k, o, _ in ALONE])
def test_each_blocking_check_fails_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str,
                                         overrides: list[str], setup) -> None:
    extra = setup(tmp_path, monkeypatch) if setup else {}
    report = run_checks(compose_exp(*overrides), ctx_for(tmp_path, **extra))
    assert [c.key for c in report.failed] == [key], report.render()
    assert not report.passed
    failed = report.failed[0]
    assert failed.fix and f"❌ FAIL: {failed.message}" in report.render()
    assert "RESULT: 8/9 blocking checks passed" in report.render()
    line = str(report.error())
    assert line.startswith("validation failed: ") and "\n" not in line
    if failed.fix.startswith("spec."):
        assert f"add to spec: {failed.fix.removeprefix('spec.')}" in line
    else:
        assert f"fix: {failed.fix}" in line


def test_unreadable_dataset_is_bad_input_not_a_spec_gap(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="file not found"):
        run_checks(compose_exp("dataset.path=data/no_such_file.jsonl"), ctx_for(tmp_path))


def test_all_spec_gaps_listed_in_one_line(tmp_path: Path) -> None:
    exp = compose_exp("spec.hypothesis=null", "spec.metrics=null", "spec.graphs=[]", "model=gpt4", "model.rpm=null")
    report = run_checks(exp, ctx_for(tmp_path))
    assert [c.key for c in report.failed] == ["hypothesis", "metrics", "graphs", "concurrency"]
    line = str(report.error())
    assert line.startswith("validation failed: add to spec: hypothesis")
    assert "metrics (" in line and "graphs (" in line and "fix: model.rpm" in line


def test_placeholders_do_not_count() -> None:
    assert said(None) is None and said("  ") is None and said("TODO") is None and said("...") is None
    assert said("tbd.") is None and said(" 0.7: greedy is too narrow ") == "0.7: greedy is too narrow"


def test_unused_justification_key_is_named(tmp_path: Path) -> None:
    exp = compose_exp("spec.justifications.temperature=null", "+spec.justifications.temprature=typo")
    check = next(c for c in run_checks(exp, ctx_for(tmp_path)).checks if c.key == "hyperparameters")
    assert check.status == "fail" and "temperature=0.7" in check.message and "temprature" in check.message


def test_resumed_output_dir_is_reported(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.jsonl").write_text("{}\n{}\n")
    check = next(c for c in run_checks(compose_exp(), ctx_for(tmp_path)).checks if c.key == "output_path")
    assert check.status == "pass" and "resuming: 2 records" in check.message


# ---- what is derived from the config -------------------------------------------------------

def test_derived_facts_follow_the_config(tmp_path: Path) -> None:
    exp = compose_exp("model=gpt4", "cache.ttl=7d", "dataset.max_samples=20", "repeats=3")
    by_key = {c.key: c.message for c in run_checks(exp, ctx_for(tmp_path)).checks}
    assert "20 of 200 samples x 3 repeats = 60 requests" in by_key["dataset"]
    assert "older than 7d" in by_key["caching"] and "simulator profile" not in by_key["caching"]
    assert "rpm 500" in by_key["concurrency"] and "16 requests in flight" in by_key["concurrency"]
    assert "up to 6 attempts within 300 s" in by_key["error_handling"] and "429" in by_key["error_handling"]
    off = {c.key: c.message for c in run_checks(compose_exp("cache.enabled=false"), ctx_for(tmp_path)).checks}
    assert "off (cache.enabled=false)" in off["caching"]


def _request(**kw) -> GenerateRequest:
    base = {"provider": "openai", "model": "m", "base_url": "http://x", "messages": [Message(role="user", content="q")],
            "temperature": 0.5, "max_tokens": 10, "top_p": 0.9, "stop": ["\n"], "seed": 1, "repeat": 0}
    return GenerateRequest(**{**base, **kw})


def test_cache_key_description_is_true() -> None:
    """Each field the report names as part of the key really changes the key."""
    changed = {"provider": "anthropic", "model": "m2", "base_url": "http://y",
               "messages": [Message(role="user", content="q2")], "temperature": 0.6, "max_tokens": 11,
               "top_p": 0.8, "stop": ["END"], "reasoning_effort": "low", "thinking": "adaptive",
               "thinking_budget": 2048, "extra_body": {"guided_choice": ["a"]}, "extra_headers": {"X-Route": "a"},
               "logprobs": True, "top_logprobs": 2,
               "seed": 2, "repeat": 1}
    assert set(changed) == set(CACHE_KEY_FIELDS)
    for field, value in changed.items():
        needs = {"logprobs": True} if field == "top_logprobs" else {}  # top_logprobs only with logprobs
        assert cache_key(_request(**needs, **{field: value})) != cache_key(_request(**needs)), field


# ---- warnings ------------------------------------------------------------------------------

def test_seed_warning_looks_at_the_sweep(tmp_path: Path) -> None:
    exp = compose_exp()
    one = next(c for c in run_checks(exp, ctx_for(tmp_path)).checks if c.key == "seeds")
    assert one.status == "warn" and "only one seed (42)" in one.message and not one.blocking
    three = next(c for c in run_checks(exp, ctx_for(tmp_path, seeds=[42, 43, 44])).checks if c.key == "seeds")
    assert three.status == "pass" and "3 seeds" in three.message


def test_baseline_warning(tmp_path: Path) -> None:
    def baseline(exp: ExperimentConfig, **kw) -> CheckResult:
        return next(c for c in run_checks(exp, ctx_for(tmp_path, **kw)).checks if c.key == "baseline")

    assert baseline(compose_exp()).status == "warn"
    named = compose_exp("spec.baseline='model=sim_weak prompt=direct'")
    assert baseline(named).status == "pass"
    assert baseline(named, swept={"model": ["sim_weak", "sim_strong"]}).status == "pass"
    absent = baseline(named, swept={"model": ["sim", "sim_strong"]})
    assert absent.status == "warn" and "not in this sweep" in absent.message


def test_resource_warnings(tmp_path: Path) -> None:
    def resources(exp: ExperimentConfig, **kw) -> CheckResult:
        report = run_checks(exp, ctx_for(tmp_path, **kw))
        assert report.passed  # a warning never blocks
        return next(c for c in report.checks if c.key == "resources")

    exp = compose_exp()
    small = Machine(cores=2, memory_available=50 * 1024**2, memory_total=GB, process_rss=100 * 1024**2)
    assert "free" in resources(exp, machine=small).message and resources(exp, machine=small).status == "warn"
    assert "4 jobs at once on 2 cores" in resources(exp, machine=small.model_copy(
        update={"memory_available": 64 * GB}), parallel_jobs=4).message
    burst = resources(compose_exp("model=gpt4", "model.max_concurrency=600"))
    assert burst.status == "warn" and "rpm 500" in burst.message
    tpm = resources(compose_exp("model.tpm=1000"))
    assert tpm.status == "warn" and "tpm 1000" in tpm.message
    assert resources(exp).status == "pass"


def _check(exp: ExperimentConfig, tmp_path: Path, key: str) -> CheckResult:
    report = run_checks(exp, ctx_for(tmp_path))
    assert report.passed, report.render()  # a warning never blocks
    return next(c for c in report.checks if c.key == key)


def test_prompt_showing_the_target_warns(tmp_path: Path) -> None:
    leak = _check(compose_exp("prompt.user='{input} (the answer is {target})'"), tmp_path, "prompt_target")
    assert leak.status == "warn" and "prompt.user: {target}" in leak.message and not leak.blocking
    assert _check(compose_exp(), tmp_path, "prompt_target").status == "pass"
    # The target's own column carried as metadata is the same leak.
    via_metadata = compose_exp("dataset.fields.metadata=[difficulty,answer]", "prompt.system='Hint: {answer}'")
    assert "prompt.system: {answer}" in _check(via_metadata, tmp_path, "prompt_target").message


def test_bad_template_stops_validation_with_its_own_line(tmp_path: Path) -> None:
    from evalsweep.errors import PromptError

    with pytest.raises(PromptError, match=r"a single '\}' in prompt\.user"):
        run_checks(compose_exp("prompt.user='{input} }'"), ctx_for(tmp_path))


def test_items_sharing_a_prompt_warn(tmp_path: Path) -> None:
    """The shipped file has two pairs of ids with the same question (arith-0025/0100, 0048/0168):
    with the cache on they get one answer per seed and repeat, not two draws (docs/cache.md)."""
    dup = _check(compose_exp("dataset.max_samples=null"), tmp_path, "duplicate_prompts")
    assert dup.status == "warn" and dup.message.startswith("Distinct prompts: 4 items share a prompt with another item")
    assert "at temperature 0.7 they get one cached answer per seed and repeat" in dup.message
    assert "docs/cache.md" in (dup.fix or "")
    greedy = _check(compose_exp("dataset.max_samples=null", "model.temperature=0"), tmp_path, "duplicate_prompts")
    assert greedy.status == "warn" and "counted as several items" in greedy.message
    assert _check(compose_exp(), tmp_path, "duplicate_prompts").status == "pass"  # the default 50 are distinct


# ---- report, skip, save ----------------------------------------------------------------------

def test_report_format() -> None:
    checks = [CheckResult(key="a", blocking=True, status="pass", message="Output path: out/"),
              CheckResult(key="b", blocking=True, status="fail", message="Metrics: not defined", fix="spec.metrics"),
              CheckResult(key="c", blocking=False, status="warn", message="Random seeds: only one seed",
                          fix="sweep several")]
    text = ValidationReport(checks=checks).render()
    assert text == ("Pre-Run Validation Report\n=========================\n✅ PASS: Output path: out/\n"
                    "❌ FAIL: Metrics: not defined\n⚠️  WARN: Random seeds: only one seed — sweep several\n"
                    "RESULT: 1/2 blocking checks passed, 1 warning\n")
    assert ValidationReport(checks=checks[:1]).result_line() == "RESULT: 1/1 blocking checks passed, 0 warnings"


def test_skip_validation(tmp_path: Path) -> None:
    exp = compose_exp("spec.hypothesis=null", "spec.skip_validation=true")
    report = validate_job(exp, ctx_for(tmp_path))  # does not raise
    assert report.skipped and report.passed and report.checks == []
    assert report.to_summary()["skipped"] is True
    assert "RESULT: skipped" in (tmp_path / "out" / REPORT_TXT).read_text()


def test_validate_job_saves_and_raises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValidationFailed) as info:
        validate_job(compose_exp("spec.graphs=[]"), ctx_for(tmp_path))
    assert info.value.exit_code == 5
    out = capsys.readouterr().out
    assert out.startswith("Pre-Run Validation Report") and "❌ FAIL: Graphs planned: none" in out
    saved = json.loads((tmp_path / "out" / REPORT_JSON).read_text())
    assert saved["passed"] is False and saved["n_blocking_passed"] == 8 and len(saved["checks"]) == 16
    assert (tmp_path / "out" / REPORT_TXT).read_text() == out


def test_checks_are_the_nine_of_the_issue() -> None:
    assert len(BLOCKING) == 9


# ---- sweep expansion -------------------------------------------------------------------------

def test_sweep_expansion_matches_the_basic_sweeper() -> None:
    cfg = OmegaConf.create({"hydra": {"sweeper": {"_target_": BASIC_SWEEPER, "params": {"seed": "1,2"}},
                                      "overrides": {"task": ["model=sim,gpt4", "tracker=none"]}}})
    jobs = sweep_jobs(cfg)
    assert jobs == [["seed=1", "model=sim", "tracker=none"], ["seed=1", "model=gpt4", "tracker=none"],
                    ["seed=2", "model=sim", "tracker=none"], ["seed=2", "model=gpt4", "tracker=none"]]
    assert swept_values(jobs) == {"seed": ["1", "2"], "model": ["sim", "gpt4"]}
    assert swept_seeds(jobs, 42) == [1, 2, 42]
    other = OmegaConf.create({"hydra": {"sweeper": {"_target_": "optuna.Sweeper"}, "overrides": {"task": []}}})
    assert sweep_jobs(other) is None
    assert parallel_jobs(OmegaConf.create({"n_jobs": -1}), 4, cores=2) == 2
    assert parallel_jobs(OmegaConf.create({"n_jobs": 10}), 3, cores=8) == 3
    assert parallel_jobs(OmegaConf.create({"_target_": "basic"}), 3, cores=8) == 1


# ---- end to end: one job in-process, and python run.py --------------------------------------------

def _no_results(root: Path) -> None:
    assert not list(root.rglob("results.jsonl")) and not list(root.rglob("summary.json"))


def test_default_job_validate_only(tmp_path: Path, run_job_inproc: InprocJob,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    res = run_job_inproc(["validate_only=true"], out)
    assert isinstance(res, JobResult) and res.summary is None, res  # nothing ran
    printed = capsys.readouterr().out
    assert printed.startswith("Pre-Run Validation Report\n=========================\n")
    assert "RESULT: 9/9 blocking checks passed, 2 warnings" in printed
    assert (out / REPORT_TXT).read_text() in printed
    _no_results(out)
    assert not (out / "repro").exists()


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_shipped_experiment_validate_only(tmp_path: Path, cache_env: dict[str, str], name: str) -> None:
    r = run_cli([f"experiment={name}", "validate_only=true", f"hydra.run.dir={tmp_path / 'run'}",
                 f"hydra.sweep.dir={tmp_path / 'sweep'}"], env=cache_env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "RESULT: 9/9 blocking checks passed" in r.stdout


def test_blocking_failure_sends_no_request(tmp_path: Path, run_job_inproc: InprocJob,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with SimulatorServer(SimulatorConfig()) as sim:
        common = ["dataset.max_samples=3", f"model.base_url={sim.url}"]
        bad = tmp_path / "bad"
        err = run_job_inproc([*common, "spec.hypothesis=null"], bad)
        # The error run.py prints as its one line, with exit code 5.
        assert isinstance(err, ValidationFailed) and err.exit_code == 5, err
        assert str(err).startswith("validation failed: add to spec: hypothesis") and "\n" not in str(err)
        assert "❌ FAIL: Hypothesis: spec.hypothesis not stated" in capsys.readouterr().out
        assert sim.stats().requests_total == 0
        _no_results(bad)
        assert (bad / REPORT_TXT).is_file()
        # The same job with its spec intact does reach this simulator: zero above is meaningful.
        res = run_job_inproc(common, tmp_path / "good")
        assert isinstance(res, JobResult), res
        assert sim.stats().requests_total == 3


def test_validate_only_failing_exits_non_zero(tmp_path: Path, cache_env: dict[str, str]) -> None:
    r = run_cli(["validate_only=true", "spec.graphs=[]", f"hydra.run.dir={tmp_path / 'run'}"], env=cache_env)
    assert r.returncode == 5 and "add to spec: graphs" in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("evalsweep: error:")]
    assert len(errors) == 1 and errors[0].startswith("evalsweep: error: validation failed: add to spec: graphs")


def test_multirun_stops_before_any_job_when_one_job_fails(tmp_path: Path, cache_env: dict[str, str]) -> None:
    """Job #0 (simulator) passes; job #1 (a real provider without a rate limit) does not: neither runs."""
    sweep = tmp_path / "sweep"
    r = run_cli(["-m", "tracker=none", "dataset.max_samples=3", "model=sim,gpt4", "model.rpm=null",
                 f"hydra.sweep.dir={sweep}"], env=cache_env)
    assert r.returncode == 5, r.stdout + r.stderr
    assert "Job #1 [" in r.stdout and "❌ FAIL: Concurrency" in r.stdout
    line = [ln for ln in r.stderr.splitlines() if ln.startswith("evalsweep: error:")]
    assert len(line) == 1 and "validation failed for 1 of 2 jobs, so no job was run" in line[0]
    assert "fix: model.rpm" in line[0]
    _no_results(sweep)
    assert not (sweep / "0").exists() and not (sweep / "1").exists()
    assert (sweep / "validation_preflight.txt").is_file()


def test_multirun_both_jobs_failing_runs_nothing(tmp_path: Path, cache_env: dict[str, str]) -> None:
    sweep = tmp_path / "sweep"
    r = run_cli(["-m", "tracker=none", "dataset.max_samples=3", "seed=1,2", "spec.metrics=null",
                 f"hydra.sweep.dir={sweep}"], env=cache_env)
    assert r.returncode == 5 and "validation failed for 2 of 2 jobs" in r.stderr
    _no_results(sweep)


def test_run_records_validation_and_seed_sweep(tmp_path: Path, cache_env: dict[str, str]) -> None:
    sweep = tmp_path / "sweep"
    r = run_cli(["-m", "tracker=none", "dataset.max_samples=3", "seed=1,2", "spec.baseline='seed=1'",
                 f"hydra.sweep.dir={sweep}"], env=cache_env)
    assert r.returncode == 0, r.stderr
    # One report for the sweep, printed before the first job; each job saves its own.
    assert r.stdout.count("Pre-Run Validation Report") == 1
    assert "all 2 jobs of the sweep pass" in r.stdout
    assert "✅ PASS: Random seeds: 2 seeds across the sweep (1, 2)" in r.stdout
    for job in ("0", "1"):
        summary = json.loads((sweep / job / "summary.json").read_text())
        v = summary["validation"]
        assert v["passed"] is True and v["skipped"] is False and v["n_blocking_passed"] == 9
        assert v["n_warnings"] == 0 and len(v["checks"]) == 16
        assert (sweep / job / REPORT_TXT).read_text().endswith("RESULT: 9/9 blocking checks passed, 0 warnings\n")


def test_skip_validation_runs_and_is_recorded(tmp_path: Path, run_job_inproc: InprocJob,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    res = run_job_inproc(["dataset.max_samples=3", "spec.hypothesis=null", "spec.skip_validation=true"], out)
    assert isinstance(res, JobResult), res
    assert "Pre-Run Validation Report" not in capsys.readouterr().out
    assert "pre-run validation skipped" in job_log(out)
    assert (out / "results.jsonl").is_file()
    v = json.loads((out / "summary.json").read_text())["validation"]
    assert v["skipped"] is True and v["checks"] == []



def test_multirun_with_an_unreadable_dataset_in_one_job(tmp_path: Path, cache_env: dict[str, str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "What is 1 + 1?", "answer": "2", "difficulty": "easy"}\n{oops\n')
    sweep = tmp_path / "sweep"
    r = run_cli(["-m", "tracker=none", "dataset.max_samples=3", f"dataset.path=data/arithmetic.jsonl,{bad}",
                 f"hydra.sweep.dir={sweep}"], env=cache_env)
    assert r.returncode == 2, r.stdout + r.stderr
    [line] = [ln for ln in r.stderr.splitlines() if ln.startswith("evalsweep: error:")]
    assert "job #1 [" in line and "so no job was run" in line and "bad.jsonl:2: malformed JSON" in line
    assert "Traceback" not in r.stderr
    _no_results(sweep)
