"""provider: gemini, over real HTTP with the real google-genai SDK: jobs against the simulator's
generateContent endpoint (in-process, a multirun, faults, typed answers, keys), what the client puts
on the wire (read back by a recording server), and a provider named by dotted path."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from evalsweep.api import JobResult
from evalsweep.config.model import ModelConfig, RetryConfig
from evalsweep.config.run import CacheConfig
from evalsweep.errors import AuthError, ConfigError
from evalsweep.llm.errors import PermanentError, TransientError
from evalsweep.llm.service import ModelService
from evalsweep.llm.types import GenerateRequest, Message, ResponseFormat
from evalsweep.structured.models import Answer
from evalsweep.structured.schema import response_format_for
from evalsweep.simulator.server import bind_socket, start_site, url_of

from conftest import InprocJob, cause_counts, job_args, rows, run_cli_quiet, sim_server, summary

GEMINI = ["model=sim_gemini"]
NO_CACHE = CacheConfig(enabled=False)


@pytest.fixture(autouse=True)
def _no_google_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own keys must never reach a test (the SDK reads these when given none).
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)


def ok(result: JobResult | Exception) -> JobResult:
    assert isinstance(result, JobResult), result
    return result


def gemini_cfg(**kw: Any) -> ModelConfig:
    """A simulated Gemini model with short retry waits."""
    retry = {"max_attempts": 6, "initial_wait_s": 0.01, "max_backoff_s": 0.05, **kw.pop("retry", {})}
    return ModelConfig(provider="gemini", name="sim-gemini", simulated=True, temperature=0.7, max_tokens=64,
                       retry=RetryConfig(**retry), **kw)


def request(question: str = "What is 2 + 2?", **kw: Any) -> GenerateRequest:
    messages = kw.pop("messages", [Message(role="system", content="Reply with only the final answer."),
                                   Message(role="user", content=question)])
    return GenerateRequest(provider="gemini", model="sim-gemini", messages=messages,
                           **{"temperature": 0.7, "max_tokens": 64, "seed": 1, **kw})


async def ask_all(svc: ModelService, reqs: list[GenerateRequest]) -> list[Any]:
    try:
        return await asyncio.gather(*(svc.generate(r) for r in reqs), return_exceptions=True)
    finally:
        await svc.aclose()


# --- jobs against the simulator ------------------------------------------------------------------------


def test_a_gemini_job_runs_and_its_rerun_is_all_cache_hits(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    first = ok(run_job_inproc([*GEMINI, "dataset.max_samples=8"], tmp_path / "first"))
    again = ok(run_job_inproc([*GEMINI, "dataset.max_samples=8"], tmp_path / "again"))
    s1, s2 = summary(first.out_dir), summary(again.out_dir)
    assert s1["provider"] == s1["config"]["model"]["provider"] == "gemini" and s1["model"] == "sim-gemini"
    assert s1["n_done"] == 8 and s1["n_errors"] == 0 and s1["requests_sent"] == 8
    rows1 = rows(first.out_dir)
    assert all(r["finish_reason"] == "stop" and r["usage"]["input_tokens"] > 0 and r["usage"]["output_tokens"] > 0
               and r["request_id"] and r["provider"] == "gemini" for r in rows1)
    assert s2["requests_sent"] == 0 and s2["cache"]["hits"] == 8
    assert sorted((r["sample_id"], r["output"]) for r in rows(again.out_dir)) == sorted(
        (r["sample_id"], r["output"]) for r in rows1)


def test_the_simulator_answers_gemini_as_it_answers_openai(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    # sim_gemini has sim's profile: the same questions get the same answers, whatever the wire format.
    gemini = ok(run_job_inproc([*GEMINI, "dataset.max_samples=12"], tmp_path / "gemini"))
    openai = ok(run_job_inproc(["model=sim", "dataset.max_samples=12"], tmp_path / "openai"))
    assert sorted((r["sample_id"], r["output"]) for r in rows(gemini.out_dir)) == sorted(
        (r["sample_id"], r["output"]) for r in rows(openai.out_dir))


@pytest.mark.slow
def test_a_gemini_multirun_over_seeds(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_cli_quiet(["-m", *GEMINI, "seed=1,2", "dataset.max_samples=6", "++spec.skip_validation=true",
                          f"hydra.sweep.dir={sweep}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = [summary(d) for d in sorted(sweep.iterdir()) if (d / "summary.json").exists()]
    assert sorted(s["seed"] for s in jobs) == [1, 2]
    assert all(s["provider"] == "gemini" and s["n_done"] == 6 and s["n_errors"] == 0 for s in jobs)


def test_injected_429_and_503_are_retried_until_every_sample_completes(tmp_path: Path,
                                                                        run_job_inproc: InprocJob) -> None:
    with sim_server(rate_429=0.25, rate_503=0.2, retry_after_s=0.01, fault_seed=5) as srv:
        res = ok(run_job_inproc([*GEMINI, f"model.base_url={srv.url}", "model.retry.max_attempts=12",
                                 *job_args(samples=24)], tmp_path / "run"))
        sim = srv.stats()
    s = summary(res.out_dir)
    assert s["n_done"] == 24 and s["n_errors"] == 0
    assert sim.faults["429"] > 0 and sim.faults["503"] > 0
    assert s["retries_by_cause"] == cause_counts(sim.faults)
    assert s["requests_sent"] == sim.requests_total == sim.by_format["gemini"] == 24 + s["retries"]


def test_a_429_waits_as_long_as_its_retry_info_says() -> None:
    with sim_server(rate_429=1.0, retry_after_s=0.25) as srv:
        svc = ModelService(gemini_cfg(retry={"max_attempts": 1}), NO_CACHE, srv.url)
        [err] = asyncio.run(ask_all(svc, [request()]))
    assert isinstance(err, TransientError) and err.status == 429 and err.retry_after == 0.25
    assert "Rate limit" in str(err)


def test_a_typed_answer_goes_through_the_json_schema_mode(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    with sim_server() as srv:
        res = ok(run_job_inproc([*GEMINI, f"model.base_url={srv.url}",
                                 "structured.response_model=evalsweep.structured.models.Answer",
                                 *job_args(samples=8)], tmp_path / "run"))
        sim = srv.stats()
    assert sim.structured_by_wire == {"gemini_json_schema": 8} and sim.by_format == {"gemini": 8}
    s = summary(res.out_dir)
    assert s["structured"]["valid"] == 8 and s["n_errors"] == 0
    for row in rows(res.out_dir):
        Answer.model_validate_json(row["output"])  # the reply's text is the object


def test_a_missing_key_stops_before_any_request(tmp_path: Path) -> None:
    with sim_server() as srv:
        proc = run_cli_quiet(["model=gemini", f"model.base_url={srv.url}", *job_args(),
                              f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, env={"GEMINI_API_KEY": ""})
        sent = srv.stats().requests_total
    assert proc.returncode == 3, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("evalsweep: error:")]
    assert len(errors) == 1 and "GEMINI_API_KEY is not set" in errors[0] and "(gemini)" in errors[0]
    assert "Traceback" not in proc.stderr
    assert sent == 0 and not (tmp_path / "run" / "results.jsonl").exists()


def test_a_wrong_key_stops_the_job_with_one_line_and_the_right_one_is_let_in(tmp_path: Path,
                                                                            run_job_inproc: InprocJob) -> None:
    # The Gemini API answers a wrong key with 400 API_KEY_INVALID (the simulator too): the job stops.
    args = [*GEMINI, "model.api_key_env=SIM_GEMINI_KEY", "model.max_concurrency=1", *job_args(samples=4)]
    with sim_server(require_api_key="the-right-key") as srv:
        args.append(f"model.base_url={srv.url}")
        err = run_job_inproc(args, tmp_path / "a", env={"SIM_GEMINI_KEY": "a-wrong-key"})
        sim = srv.stats()
        res = run_job_inproc(args, tmp_path / "b", env={"SIM_GEMINI_KEY": "the-right-key"})
    assert isinstance(err, AuthError), err
    assert "SIM_GEMINI_KEY" in str(err) and "HTTP 400" in str(err) and "a-wrong-key" not in str(err)
    assert sim.faults["401"] == sim.requests_total == 1
    assert summary(ok(res).out_dir)["n_errors"] == 0


def test_a_bad_request_is_the_samples_error_and_not_retried() -> None:
    with sim_server(max_prompt_chars=20) as srv:
        svc = ModelService(gemini_cfg(), NO_CACHE, srv.url)
        [err] = asyncio.run(ask_all(svc, [request("What is 1234 + 5678, worked out in full?")]))
        sim = srv.stats()
    assert isinstance(err, PermanentError) and err.status == 400 and sim.requests_total == 1


# The SDK's default transport is aiohttp, whose session it subclasses (aiohttp warns about that).
@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
def test_the_sdk_as_it_comes_gets_answers_objects_and_errors_in_gemini_shapes() -> None:
    from google import genai
    from google.genai import errors, types

    async def main(url: str) -> tuple[Any, Any]:
        # The SDK's own defaults (its API version, its HTTP client), pointed at the simulator.
        client = genai.Client(api_key="k", vertexai=False, http_options=types.HttpOptions(base_url=url))
        try:
            text = await client.aio.models.generate_content(model="sim-gemini", contents="What is 40 + 2?")
            typed = await client.aio.models.generate_content(
                model="sim-gemini", contents="What is 40 + 2?",
                config=types.GenerateContentConfig(response_mime_type="application/json", response_schema=Answer))
            return text, typed
        finally:
            await client.aio.aclose()
            client.close()

    with sim_server() as srv:
        text, typed = asyncio.run(main(srv.url))
        sim = srv.stats()
    assert text.text.strip() and text.candidates[0].finish_reason == types.FinishReason.STOP
    assert text.usage_metadata.prompt_token_count > 0 and text.usage_metadata.candidates_token_count > 0
    assert isinstance(typed.parsed, Answer) and sim.by_format == {"gemini": 2}
    # A pydantic class as response_schema goes as the OpenAPI-style responseSchema, also answered.
    assert sim.structured_by_wire == {"gemini_response_schema": 1}

    with sim_server(rate_429=1.0, retry_after_s=2) as srv:
        with pytest.raises(errors.ClientError) as caught:
            asyncio.run(main(srv.url))
    assert caught.value.code == 429 and caught.value.status == "RESOURCE_EXHAUSTED"
    retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}
    assert retry_info in caught.value.details["error"]["details"]


REPLY_FAULTS = {"invalid_json": "invalid_json", "empty_body": "empty_body", "error_body_200": "unexpected_body",
                "drop": "connection"}


def test_malformed_replies_and_dropped_connections_are_retried_and_counted_by_kind() -> None:
    with sim_server(**{f"rate_{k}": 0.08 for k in REPLY_FAULTS}, fault_seed=11) as srv:
        svc = ModelService(gemini_cfg(retry={"max_attempts": 12}), NO_CACHE, srv.url)
        out = asyncio.run(ask_all(svc, [request(f"What is {i} + 7?", seed=i) for i in range(60)]))
        sim = srv.stats()
    assert [o for o in out if isinstance(o, BaseException)] == [] and all(o.text for o in out)
    served = {kind: sim.faults[kind] for kind in REPLY_FAULTS}
    assert all(n >= 2 for n in served.values()), served
    assert svc.stats().retries_by_cause == {REPLY_FAULTS[k]: n for k, n in served.items()}
    assert sim.requests_total == 60 + sum(served.values()) == sum(o.attempts for o in out)


@pytest.mark.parametrize("kind", ["invalid_json", "empty_body", "error_body_200"])
def test_a_reply_that_stays_malformed_fails_its_sample_with_its_first_bytes(kind: str) -> None:
    with sim_server(**{f"rate_{kind}": 1.0}) as srv:
        [err] = asyncio.run(ask_all(ModelService(gemini_cfg(retry={"max_attempts": 2}), NO_CACHE, srv.url),
                                    [request()]))
    assert isinstance(err, TransientError) and err.cause == REPLY_FAULTS[kind]
    text = str(err)
    assert text.startswith("malformed reply from Gemini (") and "HTTP 200" in text and "\n" not in text
    shows = {"invalid_json": '{"candidates"', "empty_body": "empty body", "error_body_200": "sent with 200"}
    assert shows[kind] in text


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_an_oversized_reply_is_an_error_of_its_sample_not_read_whole(chunked: bool) -> None:
    with sim_server(rate_oversize=0.5, oversize_bytes=3_000_000, oversize_chunked=chunked, fault_seed=2) as srv:
        svc = ModelService(gemini_cfg(max_reply_bytes=64 * 1024), NO_CACHE, srv.url)
        out = asyncio.run(ask_all(svc, [request(f"What is {i} + 7?", seed=i) for i in range(12)]))
        sim = srv.stats()
    refused = [o for o in out if isinstance(o, BaseException)]
    assert len(refused) == sim.faults["oversize"] >= 3 and sim.requests_total == 12
    assert all(isinstance(e, PermanentError) and e.cause == "reply_too_large" for e in refused), refused


# --- what goes on the wire -----------------------------------------------------------------------------


@contextmanager
def recording_server(reply: dict[str, Any]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A server that records each request (path, headers, JSON body) and sends `reply`."""
    seen: list[dict[str, Any]] = []

    async def handle(req: web.Request) -> web.Response:
        seen.append({"path": req.path, "headers": dict(req.headers), "body": await req.json()})
        return web.json_response(reply)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    sock = bind_socket("127.0.0.1", 0)
    loop = asyncio.new_event_loop()
    runner = loop.run_until_complete(start_site(app, sock))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield url_of(sock), seen
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(runner.cleanup())
        loop.close()


def reply_of(text: str = "4", finish: str = "STOP", **extra: Any) -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish}],
            "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 3}, "modelVersion": "gemini-x-001",
            "responseId": "resp-1", **extra}


def sent(reply: dict[str, Any], req: GenerateRequest, cfg: ModelConfig | None = None) -> tuple[Any, dict[str, Any]]:
    with recording_server(reply) as (url, seen):
        [out] = asyncio.run(ask_all(ModelService(cfg or gemini_cfg(), NO_CACHE, url), [req]))
    [one] = seen
    return out, one


def test_each_setting_goes_where_the_api_reads_it() -> None:
    req = request(messages=[Message(role="system", content="Be brief."), Message(role="user", content="What is 2 + 2?"),
                            Message(role="assistant", content="5"), Message(role="user", content="Are you sure?")],
                  top_p=0.9, stop=["\n\n"], seed=7)
    out, got = sent(reply_of(), req)
    assert got["path"] == "/v1beta/models/sim-gemini:generateContent"
    assert got["headers"]["x-goog-api-key"] == "evalsweep-simulator"
    body = got["body"]
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert [(c["role"], c["parts"]) for c in body["contents"]] == [
        ("user", [{"text": "What is 2 + 2?"}]), ("model", [{"text": "5"}]), ("user", [{"text": "Are you sure?"}])]
    assert body["generationConfig"] == {"temperature": 0.7, "topP": 0.9, "maxOutputTokens": 64,
                                        "stopSequences": ["\n\n"], "seed": 7}
    assert out.text == "4" and out.finish_reason == "stop" and out.request_id == "resp-1"
    assert out.model == "gemini-x-001" and (out.usage.input_tokens, out.usage.output_tokens) == (11, 3)


def test_a_typed_ask_sends_json_mode_with_the_json_schema() -> None:
    fmt: ResponseFormat = response_format_for(Answer)
    _, got = sent(reply_of('{"reasoning": "r", "answer": "4", "confidence": 0.9}'), request(response_format=fmt))
    config = got["body"]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == Answer.model_json_schema()
    assert "responseSchema" not in config


def test_a_reasoning_model_gets_no_sampling_parameters_and_effort_as_thinking_level() -> None:
    _, got = sent(reply_of(), request(top_p=0.9, stop=["x"], reasoning_effort="low"),
                  gemini_cfg(reasoning=True))
    assert got["body"]["generationConfig"] == {"maxOutputTokens": 64, "seed": 1,
                                               "thinkingConfig": {"thinking_level": "LOW"}}


@pytest.mark.parametrize(("reply", "text", "finish"), [
    (reply_of("12", "MAX_TOKENS"), "12", "length"),
    (reply_of("", "SAFETY"), "", "content_filter"),
    (reply_of("x", "RECITATION"), "x", "content_filter"),
    (reply_of("x", "OTHER"), "x", "other"),
    ({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}}, "", "content_filter"),
])
def test_finish_reasons_in_the_words_of_the_other_providers(reply: dict[str, Any], text: str, finish: str) -> None:
    out, _ = sent(reply, request())
    assert (out.text, out.finish_reason) == (text, finish)


def test_thought_parts_are_not_the_answer_and_thinking_tokens_count_as_output() -> None:
    reply = reply_of()
    reply["candidates"][0]["content"]["parts"] = [{"text": "let me think", "thought": True}, {"text": "4"}]
    reply["usageMetadata"]["thoughtsTokenCount"] = 40
    out, _ = sent(reply, request())
    assert out.text == "4" and out.usage.output_tokens == 43


def test_a_reply_that_is_not_generate_content_is_retried_then_recorded_with_its_first_bytes() -> None:
    error = {"error": {"code": 500, "message": "sent with 200"}}
    out, _ = sent(error, request(), gemini_cfg(retry={"max_attempts": 1}))
    assert isinstance(out, TransientError) and out.cause == "unexpected_body"
    assert "no candidates" in str(out) and "sent with 200" in str(out)


# --- providers by name ---------------------------------------------------------------------------------

ECHO = '''
from evalsweep.llm.types import GenerateResponse, Usage

class EchoClient:
    """A provider of one's own: answers every request with its last message, reversed."""

    def __init__(self, name):
        self.name = name

    @classmethod
    def from_config(cls, cfg, *, api_key, base_url):
        return cls(cfg.name)

    async def generate(self, request):
        return GenerateResponse(text=request.messages[-1].content[::-1], usage=Usage(input_tokens=1, output_tokens=1),
                                finish_reason="stop", model=self.name)

    async def aclose(self):
        pass
'''


def test_a_provider_named_by_dotted_path_is_found(tmp_path: Path, run_job_inproc: InprocJob,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "echo_provider_mod.py").write_text(ECHO)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "echo_provider_mod", raising=False)
    res = ok(run_job_inproc(["model=gemini", "model.provider=echo_provider_mod:EchoClient", "model.name=echo",
                             "model.api_key_env=ECHO_KEY", *job_args(samples=3)], tmp_path / "run",
                            env={"ECHO_KEY": "anything"}))
    out = rows(res.out_dir)
    assert len(out) == 3 and all(r["provider"] == "echo_provider_mod:EchoClient" for r in out)
    assert all(r["output"] == r["messages"][-1]["content"][::-1] for r in out)


def test_an_unknown_provider_is_one_line_naming_the_known_ones(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    err = run_job_inproc(["model=sim", "model.provider=gemni"], tmp_path / "run")
    assert isinstance(err, ConfigError), err
    message = str(err)
    assert "\n" not in message and "model.provider=gemni" in message
    assert "one of anthropic, gemini, openai" in message


def test_a_dotted_path_that_is_no_provider_is_refused_before_any_request(tmp_path: Path,
                                                                        run_job_inproc: InprocJob) -> None:
    err = run_job_inproc(["model=sim", "model.provider=evalsweep.llm.types:Message"], tmp_path / "run")
    assert isinstance(err, ConfigError) and "is not a provider client class" in str(err), err
    missing = run_job_inproc(["model=sim", "model.provider=no_such_module_here:Client"], tmp_path / "run2")
    assert isinstance(missing, ConfigError) and "cannot import module 'no_such_module_here'" in str(missing)
