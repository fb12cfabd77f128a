"""Typed responses (issue 11): the real openai/anthropic SDKs over HTTP to the simulator, a real
sqlite cache in tmp_path, and jobs run in-process (evalsweep.run_job, the same files as run.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError

from evalsweep.config.model import ModelConfig
from evalsweep.config.run import CacheConfig
from evalsweep.llm.service import ModelService
from evalsweep.llm.types import GenerateRequest, Message
from evalsweep.simulator import FaultConfig, SimulatorConfig, SimulatorServer
from evalsweep.structured import StructuredOutputError
from evalsweep.structured.parse import NotJSON, extract_json

PROVIDERS = [("openai", "sim"), ("anthropic", "sim-strong")]


class Verdict(BaseModel):
    """The answer with the reasoning behind it."""

    reasoning: str
    answer: int
    confidence: float = Field(ge=0, le=1)


class VerdictV2(BaseModel):
    """Verdict with one more field: a different schema, so a different cache entry."""

    reasoning: str
    answer: int
    confidence: float = Field(ge=0, le=1)
    sure: bool


def model_cfg(provider: str, name: str, url: str, **kw: Any) -> ModelConfig:
    return ModelConfig(provider=provider, name=name, simulated=True, base_url=url, temperature=0.0,
                       retry={"initial_wait_s": 0.01, "max_backoff_s": 0.05}, **kw)


def request(cfg: ModelConfig, question: str) -> GenerateRequest:
    return GenerateRequest(provider=cfg.provider, model=cfg.name, base_url=cfg.base_url, temperature=0.0,
                           messages=[Message(role="user", content=question)])


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def with_service(cfg: ModelConfig, cache: Path | None, fn: Any) -> Any:
    svc = ModelService(cfg, CacheConfig(enabled=cache is not None, path=str(cache) if cache else None), cfg.base_url)
    try:
        return await fn(svc)
    finally:
        await svc.aclose()


@pytest.fixture
def cache_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache" / "responses.sqlite"
    monkeypatch.setenv("EVALSWEEP_CACHE_PATH", str(path))
    return path


@pytest.mark.parametrize(("provider", "name"), PROVIDERS)
def test_valid_object_comes_back_as_the_type(provider: str, name: str, cache_file: Path) -> None:
    with SimulatorServer(SimulatorConfig()) as srv:
        cfg = model_cfg(provider, name, srv.url)
        got = run(with_service(cfg, cache_file, lambda s: s.generate(request(cfg, "What is 12 + 30?"),
                                                                     response_model=Verdict)))
        assert srv.stats().requests_total == 1
    assert isinstance(got, Verdict)
    assert abs(got.answer - 42) <= 10 and str(got.answer) in got.reasoning  # the simulated (maybe wrong) answer


@pytest.mark.parametrize(("provider", "name"), PROVIDERS)
def test_invalid_then_valid_is_reasked_and_counted(provider: str, name: str, cache_file: Path) -> None:
    with SimulatorServer(SimulatorConfig(faults=FaultConfig(invalid_structured_rate=1.0))) as srv:
        cfg = model_cfg(provider, name, srv.url)
        result = run(with_service(cfg, cache_file, lambda s: s.parse(request(cfg, "What is 7 * 6?"), Verdict)))
        assert srv.stats().requests_total == 2 and srv.stats().invalid_structured == 1
    assert result.ok and result.asks == 2 and isinstance(result.value, Verdict)
    assert result.response.usage.output_tokens > 0 and result.response.attempts == 2


@pytest.mark.parametrize(("provider", "name"), PROVIDERS)
def test_never_valid_gives_raw_text_and_the_error(provider: str, name: str, cache_file: Path) -> None:
    faults = FaultConfig(invalid_structured_substring="NEVER")
    with SimulatorServer(SimulatorConfig(faults=faults)) as srv:
        cfg = model_cfg(provider, name, srv.url, structured_reasks=1)
        result = run(with_service(cfg, cache_file, lambda s: s.parse(request(cfg, "NEVER: what is 1 + 1?"), Verdict)))
        assert srv.stats().requests_total == 2  # the first ask and one re-ask, then it gives up
        with pytest.raises(StructuredOutputError, match="no valid Verdict after 2 ask"):
            run(with_service(cfg, cache_file, lambda s: s.generate(request(cfg, "NEVER: what is 1 + 1?"),
                                                                   response_model=Verdict)))
    assert result.value is None and result.asks == 2
    assert "validation error" in result.error and "Verdict" in result.error
    assert json.loads(result.raw)  # the raw reply is kept as the model sent it


@pytest.mark.parametrize(("provider", "name"), PROVIDERS)
def test_cached_object_needs_no_request_and_a_schema_change_misses(provider: str, name: str,
                                                                   cache_file: Path) -> None:
    with SimulatorServer(SimulatorConfig(faults=FaultConfig(invalid_structured_rate=0.5))) as srv:
        cfg = model_cfg(provider, name, srv.url)
        questions = [f"What is {a} + {a * 3}?" for a in range(11, 17)]

        async def ask_all(svc: ModelService, model: type[BaseModel]) -> list[Any]:
            return list(await asyncio.gather(*(svc.parse(request(cfg, q), model) for q in questions)))

        first = run(with_service(cfg, cache_file, lambda s: ask_all(s, Verdict)))
        sent = srv.stats().requests_total
        assert sent > len(questions)  # some were re-asked
        again = run(with_service(cfg, cache_file, lambda s: ask_all(s, Verdict)))
        assert srv.stats().requests_total == sent  # every ask, re-asks included, came from the cache
        assert [r.value for r in again] == [r.value for r in first]
        assert all(r.response.cached for r in again)
        other = run(with_service(cfg, cache_file, lambda s: ask_all(s, VerdictV2)))
        assert srv.stats().requests_total >= sent + len(questions)  # a new schema asks again
        assert all(isinstance(r.value, VerdictV2) for r in other)


def test_json_text_fallback_parses_json_from_the_reply(cache_file: Path) -> None:
    with SimulatorServer(SimulatorConfig(faults=FaultConfig(invalid_structured_rate=1.0))) as srv:
        cfg = model_cfg("openai", "sim", srv.url, structured_output="json_text")
        result = run(with_service(cfg, cache_file, lambda s: s.parse(request(cfg, "What is 2 + 2?"), Verdict)))
    assert result.ok and result.asks == 2 and result.raw.startswith("```json")


def test_extract_json_finds_the_object_in_chat_text() -> None:
    assert json.loads(extract_json('Sure! Here it is:\n{"a": {"b": 1}} Hope that helps.')) == {"a": {"b": 1}}
    assert json.loads(extract_json('```json\n{"a": 2}\n```')) == {"a": 2}
    with pytest.raises(NotJSON):
        extract_json("no object here {not json")
    with pytest.raises(ValidationError):
        Verdict.model_validate_json(extract_json('{"reasoning": "x"}'))


# --- as a job: python run.py structured.response_model=... --------------------------------------

from conftest import InprocJob, job_args, rows, summary  # noqa: E402
from evalsweep.api import JobResult  # noqa: E402
from evalsweep.errors import ConfigError  # noqa: E402


@pytest.mark.parametrize("model", ["sim", "sim_strong"])
def test_job_records_objects_reasks_and_unparseable_answers(model: str, tmp_path: Path,
                                                            run_job_inproc: InprocJob) -> None:
    args = [f"model={model}", "structured.response_model=evalsweep.structured.models.Answer",
            "structured.score_field=answer", "model.simulator.faults.invalid_structured_rate=0.5",
            # Questions with this text never get a valid object: recorded, and the job goes on.
            "model.simulator.faults.invalid_structured_substring='What is 1'", "model.structured_reasks=1"]
    res = run_job_inproc(job_args(samples=12) + args, tmp_path / "a")
    assert isinstance(res, JobResult), res
    recs = rows(tmp_path / "a")
    assert len(recs) == 12
    never = [r for r in recs if "What is 1" in r["messages"][-1]["content"]]
    valid = [r for r in recs if r not in never]
    assert never and valid
    for r in never:
        assert r["parsed"] is None and r["score"] is None and r["error"] is None
        assert r["structured"] == {"model": "Answer", "asks": 2, "valid": False, "error": r["structured"]["error"]}
        assert "validation error" in r["structured"]["error"] and r["output"]  # raw reply kept
    for r in valid:
        assert set(r["parsed"]) == {"reasoning", "answer", "confidence"} and r["structured"]["valid"]
        assert r["score"] == float(float(r["parsed"]["answer"]) == float(r["target"]))  # the field is scored
    s = summary(tmp_path / "a")
    st = s["structured"]
    assert st["samples"] == 12 and st["invalid"] == len(never) and st["valid"] == len(valid)
    assert st["reasks"] == sum(r["structured"]["asks"] - 1 for r in recs) > len(never)  # some valid ones re-asked
    assert s["metrics"]["score"]["n"] == len(valid)

    # A re-run into a new dir (the same private cache): every object from the cache, not one request sent.
    res = run_job_inproc(job_args(samples=12) + args, tmp_path / "b")
    assert isinstance(res, JobResult), res
    assert summary(tmp_path / "b")["requests_sent"] == 0
    by_id = {r["sample_id"]: r["parsed"] for r in recs}
    assert {r["sample_id"]: r["parsed"] for r in rows(tmp_path / "b")} == by_id


def test_bad_response_model_is_a_one_line_config_error(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    # A ConfigError is what run.py prints as its one `evalsweep: error:` line (exit 2), not a traceback.
    err = run_job_inproc(job_args() + ["structured.response_model=evalsweep.structured.models.Nope"], tmp_path / "a")
    assert isinstance(err, ConfigError) and not (tmp_path / "a" / "results.jsonl").exists()
    assert "structured.response_model=evalsweep.structured.models.Nope" in str(err) and "\n" not in str(err)
    err = run_job_inproc(job_args() + ["structured.response_model=evalsweep.structured.models.Answer",
                                       "structured.score_field=verdict"], tmp_path / "b")
    assert isinstance(err, ConfigError) and "has no such field" in str(err)
