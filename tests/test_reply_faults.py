"""Replies that are not what the API sends (HTTP 200 with cut-off JSON, an empty body, an error
object), replies far larger than asked for, and keys that cannot be sent: through the real openai
and anthropic SDK clients over HTTP against the simulator, and as jobs: in-process (evalsweep.run_job),
or through `python run.py` where the process itself is measured."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values

from evalsweep.config.model import ModelConfig, RetryConfig
from evalsweep.config.run import CacheConfig
from evalsweep.errors import AuthError
from evalsweep.llm.errors import PermanentError, TransientError
from evalsweep.llm.service import ModelService, api_key_for
from evalsweep.llm.types import GenerateRequest, Message

from conftest import InprocJob, base_args, job_args, rows, sim_server, summary
from evalsweep.api import JobResult

NO_CACHE = CacheConfig(enabled=False)
PROVIDERS = [("openai", "sim"), ("anthropic", "sim-strong")]
MODEL_OPTION = {"openai": "sim", "anthropic": "sim_strong"}  # conf/model/ options of each wire format
REPLY_FAULTS = {"invalid_json": "invalid_json", "empty_body": "empty_body", "error_body_200": "unexpected_body"}


def model_cfg(provider: str, name: str, **kw: Any) -> ModelConfig:
    retry = {"max_attempts": 6, "max_wait_s": 30, "initial_wait_s": 0.01, "max_backoff_s": 0.05,
             **kw.pop("retry", {})}
    return ModelConfig(provider=provider, name=name, simulated=True, temperature=0.7, max_tokens=64,
                       retry=RetryConfig(**retry), **kw)


def request(cfg: ModelConfig, i: int = 0) -> GenerateRequest:
    return GenerateRequest(provider=cfg.provider, model=cfg.name, temperature=cfg.temperature,
                           max_tokens=cfg.max_tokens, seed=i,
                           messages=[Message(role="user", content=f"What is {i} + 7?")])


def ask_all(svc: ModelService, reqs: list[GenerateRequest]) -> list[Any]:
    async def main() -> list[Any]:
        try:
            return await asyncio.gather(*(svc.generate(r) for r in reqs), return_exceptions=True)
        finally:
            await svc.aclose()

    return asyncio.run(main())


# --- malformed replies: a transient error of one sample ----------------------------------------------


@pytest.mark.parametrize(("provider", "name"), PROVIDERS)
def test_malformed_replies_are_retried_and_counted_by_kind(provider: str, name: str) -> None:
    faults = dict(rate_invalid_json=0.1, rate_empty_body=0.1, rate_error_body_200=0.1, fault_seed=11)
    with sim_server(**faults) as srv:
        cfg = model_cfg(provider, name, retry={"max_attempts": 12})
        svc = ModelService(cfg, NO_CACHE, srv.url)
        out = ask_all(svc, [request(cfg, i) for i in range(60)])
        sim = srv.stats()
    assert [o for o in out if isinstance(o, BaseException)] == []
    assert all(o.text for o in out)
    served = {kind: sim.faults[kind] for kind in REPLY_FAULTS}
    assert all(n >= 2 for n in served.values()), served
    # Every bad reply was seen, retried, and counted under what was wrong with it.
    assert svc.stats().retries_by_cause == {REPLY_FAULTS[k]: n for k, n in served.items()}
    assert sim.requests_total == 60 + sum(served.values()) == sum(o.attempts for o in out)


@pytest.mark.parametrize("kind", sorted(REPLY_FAULTS))
@pytest.mark.parametrize(("provider", "name"), PROVIDERS)
def test_a_reply_that_stays_malformed_fails_its_sample_with_its_first_bytes(provider: str, name: str,
                                                                             kind: str) -> None:
    with sim_server(**{f"rate_{kind}": 1.0}) as srv:
        cfg = model_cfg(provider, name, retry={"max_attempts": 3})
        [err] = ask_all(ModelService(cfg, NO_CACHE, srv.url), [request(cfg)])
        assert srv.stats().requests_total == 3
    assert isinstance(err, TransientError) and err.attempts == 3  # type: ignore[attr-defined]
    assert err.cause == REPLY_FAULTS[kind]
    text = str(err)
    wire = "OpenAI" if provider == "openai" else "Anthropic"
    assert text.startswith(f"malformed reply from {wire} (") and "HTTP 200" in text and "\n" not in text
    assert {"invalid_json": "not valid JSON", "empty_body": "empty body", "error_body_200": "sent with 200"}[kind] in text
    if kind == "invalid_json":
        assert ("chatcmpl-sim" if provider == "openai" else "msg_sim") in text  # the reply's first bytes
    assert len(text) < 500  # whole in the row's error message


# --- size limits: bytes read of a reply, characters kept of its text -------------------------------


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
@pytest.mark.parametrize(("provider", "name"), PROVIDERS)
def test_an_oversized_reply_is_an_error_of_its_sample_not_read_whole(provider: str, name: str,
                                                                      chunked: bool) -> None:
    with sim_server(rate_oversize=0.5, oversize_bytes=3_000_000, oversize_chunked=chunked, fault_seed=2) as srv:
        cfg = model_cfg(provider, name, max_reply_bytes=64 * 1024)
        out = ask_all(ModelService(cfg, NO_CACHE, srv.url), [request(cfg, i) for i in range(12)])
        sim = srv.stats()
    refused = [o for o in out if isinstance(o, BaseException)]
    assert len(refused) == sim.faults["oversize"] >= 3
    assert sim.requests_total == 12  # refused at once, never retried: a server ignoring max_tokens does it again
    for err in refused:
        assert isinstance(err, PermanentError) and err.cause == "reply_too_large"
        assert "model.max_reply_bytes=65,536" in str(err)
        assert ("Content-Length 3,000," in str(err)) != chunked
    assert all(len(o.text) < 100 for o in out if not isinstance(o, BaseException))


@pytest.mark.parametrize(("provider", "name"), PROVIDERS)
def test_a_long_reply_is_cut_to_max_output_chars_and_marked(provider: str, name: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALSWEEP_CACHE_PATH", str(tmp_path / "c.sqlite"))
    with sim_server(rate_oversize=1.0, oversize_bytes=50_000) as srv:
        short = model_cfg(provider, name, max_output_chars=1000)
        [first] = ask_all(ModelService(short, CacheConfig(), srv.url), [request(short)])
        [again] = ask_all(ModelService(short, CacheConfig(), srv.url), [request(short)])
        assert srv.stats().requests_total == 1
        # A larger cap than the cached entry was cut at: asked again, in full, not served cut.
        longer = model_cfg(provider, name, max_output_chars=100_000)
        [full] = ask_all(ModelService(longer, CacheConfig(), srv.url), [request(longer)])
        assert srv.stats().requests_total == 2
        # A smaller cap than the entry: served from the cache, cut on the way out.
        tiny = model_cfg(provider, name, max_output_chars=10)
        [cut] = ask_all(ModelService(tiny, CacheConfig(), srv.url), [request(tiny)])
        assert srv.stats().requests_total == 2
    assert len(first.text) == 1000 and first.text_truncated and not first.cached
    assert again.cached and again.text == first.text and again.text_truncated
    assert len(full.text) == 50_000 and not full.text_truncated and not full.cached
    assert cut.cached and cut.text == full.text[:10] and cut.text_truncated


# --- the same, seen from a job -------------------------------------------------------------------------


def _job_on_faulty_replies(run_job_inproc: InprocJob, provider: str, run_dir: Path, *, attempts: int,
                           samples: int) -> tuple[JobResult | Exception, Any]:
    """A job against a simulator that sends one reply in ten of each malformed kind; its result
    and the simulator's counts."""
    faults = dict(rate_invalid_json=0.1, rate_empty_body=0.1, rate_error_body_200=0.1, fault_seed=4)
    with sim_server(**faults) as srv:
        res = run_job_inproc([f"model={MODEL_OPTION[provider]}", f"model.base_url={srv.url}",
                              f"model.retry.max_attempts={attempts}", *job_args(samples=samples)], run_dir)
        return res, srv.stats()


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_job_with_malformed_replies_records_every_sample_and_finishes(tmp_path: Path, provider: str,
                                                                        run_job_inproc: InprocJob) -> None:
    # One reply in ten of each kind is bad; one attempt per sample, so bad replies fail their sample.
    run_dir = tmp_path / "run"
    res, sim = _job_on_faulty_replies(run_job_inproc, provider, run_dir, attempts=1, samples=60)
    # The job finished (no exception), some samples failed for good (n_errors below: run.py's exit 4).
    assert isinstance(res, JobResult), res
    bad = sum(sim.faults[k] for k in REPLY_FAULTS)
    recs, s = rows(run_dir), summary(run_dir)
    assert len(recs) == len({r["sample_id"] for r in recs}) == 60 and s["n_done"] == 60
    failed = [r for r in recs if r["error"] is not None]
    assert len(failed) == s["n_errors"] == bad >= 9
    for r in failed:
        assert r["error"]["type"] == "TransientError" and r["output"] is None and r["attempts"] == 1
        assert r["error"]["message"].startswith("malformed reply from ")
    messages = " ".join(r["error"]["message"] for r in failed)
    assert "not valid JSON" in messages and "empty body" in messages and "sent with 200" in messages


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_job_retries_malformed_replies_to_completion(tmp_path: Path, provider: str,
                                                       run_job_inproc: InprocJob) -> None:
    run_dir = tmp_path / "run"
    res, sim = _job_on_faulty_replies(run_job_inproc, provider, run_dir, attempts=12, samples=40)
    assert isinstance(res, JobResult), res
    s = summary(run_dir)
    assert s["status"] == "complete" and s["n_done"] == 40 and s["n_errors"] == 0
    expected = {REPLY_FAULTS[k]: sim.faults[k] for k in REPLY_FAULTS if sim.faults[k]}
    assert s["retries_by_cause"] == expected and sum(expected.values()) >= 5


@pytest.mark.slow
def test_a_job_with_oversized_replies_stays_small(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    # 2 MB replies to max_tokens=256: over the byte limit they fail their sample; under it they are
    # cut on their row. Either way results.jsonl stays small (it was 126 MB for 6 samples).
    run_dir, cut_dir = tmp_path / "refused", tmp_path / "cut"
    with sim_server(rate_oversize=0.5, oversize_bytes=2_000_000, fault_seed=1) as srv:
        refused = run_job_inproc(["model=sim", f"model.base_url={srv.url}", "model.max_reply_bytes=100000",
                                  "model.max_concurrency=3", *job_args(samples=12)], run_dir,
                                 env={"EVALSWEEP_CACHE_PATH": str(tmp_path / "c1.sqlite")})
        oversize = srv.stats().faults["oversize"]
    assert isinstance(refused, JobResult) and refused.summary is not None, refused
    assert refused.summary.n_errors == oversize  # failed for good (run.py's exit 4); the job finished
    recs = rows(run_dir)
    failed = [r for r in recs if r["error"]]
    assert len(recs) == 12 and len(failed) == oversize >= 3
    assert all("model.max_reply_bytes=100,000" in r["error"]["message"] and r["attempts"] == 1 for r in failed)
    assert (run_dir / "results.jsonl").stat().st_size < 100_000

    with sim_server(rate_oversize=1.0, oversize_bytes=2_000_000) as srv:
        cut = run_job_inproc(["model=sim", f"model.base_url={srv.url}", "model.max_output_chars=500",
                              "model.max_concurrency=3", *job_args(samples=6)], cut_dir,
                             env={"EVALSWEEP_CACHE_PATH": str(tmp_path / "c2.sqlite")})
    assert isinstance(cut, JobResult) and cut.summary is not None and cut.summary.n_errors == 0, cut
    recs = rows(cut_dir)
    assert len(recs) == 6 and all(r["output_truncated"] and len(r["output"]) == 500 for r in recs)
    assert (cut_dir / "results.jsonl").stat().st_size < 50_000


# --- keys that cannot be sent --------------------------------------------------------------------------


def _gpt(**kw: Any) -> ModelConfig:
    return ModelConfig(provider="openai", name="gpt-4o", api_key_env="OPENAI_API_KEY", **kw)


def test_a_key_spanning_lines_is_refused_naming_the_variable_not_the_value(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # What python-dotenv reads from a .env whose first value's quote is closed one line late.
    env = tmp_path / ".env"
    env.write_text('OPENAI_API_KEY="sk-proj-abc123\nANTHROPIC_API_KEY=sk-ant-xyz789"\n')
    key = dotenv_values(env)["OPENAI_API_KEY"]
    assert key is not None and "\n" in key
    monkeypatch.setenv("OPENAI_API_KEY", key)
    with pytest.raises(AuthError) as info:
        api_key_for(_gpt())
    text = str(info.value)
    assert "OPENAI_API_KEY" in text and "2 lines" in text and "\n" not in text
    assert "sk-proj" not in text and "abc123" not in text and "xyz789" not in text


@pytest.mark.parametrize("bad", ["sk-abc def", "sk-abc\tdef", "\u201csk-abcdef\u201d", "sk-abc\x7fdef"])
def test_a_key_an_http_header_cannot_carry_is_refused(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", bad)
    with pytest.raises(AuthError, match="OPENAI_API_KEY holds a malformed API key") as info:
        api_key_for(_gpt())
    assert "abc" not in str(info.value)


def test_a_well_formed_key_passes_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "  sk-proj-Ab_9-xyz\n")
    assert api_key_for(_gpt()) == "sk-proj-Ab_9-xyz"


@pytest.mark.slow
def test_a_job_with_a_key_spanning_lines_stops_before_any_request(tmp_path: Path, run_job_inproc: InprocJob,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with sim_server() as srv:
        t0 = time.perf_counter()
        err = run_job_inproc(["model=gpt4", f"model.base_url={srv.url}/v1", *job_args(samples=4)], tmp_path / "run",
                             env={"OPENAI_API_KEY": "sk-proj-abc123\nNEXT=1"})
        elapsed = time.perf_counter() - t0
        assert srv.stats().requests_total == 0  # not retried as a "connection error" per sample
    # The error run.py prints as its one line, with exit code 3.
    assert isinstance(err, AuthError) and err.exit_code == 3, err
    assert "OPENAI_API_KEY" in str(err) and "malformed" in str(err) and "\n" not in str(err)
    printed = capsys.readouterr()
    assert "abc123" not in str(err) + printed.out + printed.err
    assert elapsed < 60


def test_the_reply_fault_kinds_are_config_errors_when_misspelt() -> None:
    from evalsweep.config.model import SimulatorSettings

    SimulatorSettings(faults={"rate_invalid_json": 0.2, "rate_oversize": 0.1, "oversize_bytes": 1000})
    with pytest.raises(ValueError, match="unknown fault setting 'rate_invalid_jsn'"):
        SimulatorSettings(faults={"rate_invalid_jsn": 0.2})
    with pytest.raises(ValueError, match="sum to"):
        SimulatorSettings(faults={"rate_invalid_json": 0.6, "rate_empty_body": 0.6})


def _peak_rss_mb(args: list[str], cache: Path) -> tuple[int, float]:
    """`python run.py ARGS`: (exit code, the job process's peak RSS in MB, sampled every 20 ms)."""
    import os
    import subprocess
    import sys

    import psutil

    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    env.update({"WANDB_MODE": "disabled", "WANDB_SILENT": "true", "EVALSWEEP_CACHE_PATH": str(cache)})
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, str(root / "run.py"), *args], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    job, peak = psutil.Process(proc.pid), 0
    try:
        while proc.poll() is None:
            try:
                peak = max(peak, job.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.02)
        return proc.wait(timeout=120), peak / 1e6
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_twenty_megabyte_replies_at_the_default_limit_cost_no_memory(tmp_path: Path) -> None:
    # The case reported: 20 MB replies to max_tokens=256 at concurrency 3 took the job to 431-590 MB
    # and wrote 126 MB of results for 6 samples. At the default limit none is read past 8 MiB.
    common = ["model=sim", "model.max_concurrency=3", "model.retry.max_attempts=1"]
    with sim_server() as srv:
        rc, normal = _peak_rss_mb([*common, f"model.base_url={srv.url}", *base_args(tmp_path / "a", samples=6)],
                                  tmp_path / "c1.sqlite")
        assert rc == 0
    with sim_server(rate_oversize=1.0, oversize_bytes=20_000_000) as srv:
        rc, oversize = _peak_rss_mb([*common, f"model.base_url={srv.url}", *base_args(tmp_path / "b", samples=6)],
                                    tmp_path / "c2.sqlite")
    assert rc == 4  # every sample failed for good, each recorded
    recs = rows(tmp_path / "b")
    assert len(recs) == 6 and all("model.max_reply_bytes=8,388,608" in r["error"]["message"] for r in recs)
    assert (tmp_path / "b" / "results.jsonl").stat().st_size < 50_000
    print(f"peak RSS: {normal:.0f} MB normal, {oversize:.0f} MB with 20 MB replies")
    assert oversize < normal + 80, (normal, oversize)
