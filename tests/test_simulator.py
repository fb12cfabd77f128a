"""The local simulator, exercised through the real openai and anthropic SDKs over HTTP."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from pydantic import ValidationError

from evalsweep.simulator import FaultConfig, ModelProfile, SimStats, SimulatorConfig, SimulatorServer
from evalsweep.simulator.answers import NO_QUESTION_REPLY

PROFILES = {
    "sim": ModelProfile(accuracy=0.75),
    "sim-weak": ModelProfile(accuracy=0.45),
    "sim-strong": ModelProfile(accuracy=0.92),
    "always": ModelProfile(accuracy=1.0, cot_bonus=0.0),
    "never": ModelProfile(accuracy=0.0, cot_bonus=0.0),
    "half": ModelProfile(accuracy=0.5, cot_bonus=0.3),
}


def run(coro):
    return asyncio.run(coro)


def oai(url: str, key: str = "test-key") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def ant(url: str, key: str = "test-key") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key=key, max_retries=0)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def ask_openai(url: str, model: str, text: str, **kw) -> str:
    async with oai(url) as client:
        r = await client.chat.completions.create(model=model, messages=user(text), **kw)
    return r.choices[0].message.content


async def ask_many_openai(url: str, model: str, texts: list[str], **kw) -> list[str]:
    async with oai(url) as client:
        sem = asyncio.Semaphore(32)

        async def one(t: str) -> str:
            async with sem:
                r = await client.chat.completions.create(model=model, messages=user(t), **kw)
                return r.choices[0].message.content

        return await asyncio.gather(*(one(t) for t in texts))


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(profiles=PROFILES)) as srv:
        yield srv


def questions(n: int) -> list[tuple[str, int]]:
    ops = [("+", lambda a, b: a + b), ("-", lambda a, b: a - b), ("*", lambda a, b: a * b)]
    out = []
    for i in range(n):
        sym, f = ops[i % 3]
        a, b = 3 + 7 * i, 11 + (i * 13) % 50
        out.append((f"What is {a} {sym} {b}?", f(a, b)))
    return out


# --- answering -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected"),
    [("What is 37 + 58?", "95"), ("What is -12 * 7?", "-84"), ("What is 9 x 6?", "54"),
     ("What is 8 × 7?", "56"), ("What is 3 - -4?", "7"), ("Compute 1 + 1. Now: what is 20 - 45?", "-25")],
)
def test_openai_answers_arithmetic(sim: SimulatorServer, question: str, expected: str) -> None:
    assert run(ask_openai(sim.url, "always", question)) == expected


def test_openai_response_shape(sim: SimulatorServer) -> None:
    async def go():
        async with oai(sim.url) as client:
            return await client.chat.completions.with_raw_response.create(
                model="always", messages=user("What is 37 + 58?")
            )

    raw = run(go())
    assert raw.headers["x-evalsweep-simulator"] == "1"
    assert raw.headers["x-request-id"]
    body = json.loads(raw.text)
    assert body["id"].startswith("chatcmpl-sim-")
    assert body["object"] == "chat.completion" and body["model"] == "always"
    assert body["system_fingerprint"] == "evalsweep-simulator"
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"] == {"role": "assistant", "content": "95"}
    # 5 words * 1.3 -> 7 prompt tokens; 1 word -> 2 completion tokens
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}


def test_anthropic_answers_and_shape(sim: SimulatorServer) -> None:
    async def go():
        async with ant(sim.url) as client:
            raw = await client.messages.with_raw_response.create(
                model="always",
                max_tokens=64,
                system=[{"type": "text", "text": "You are terse."}],
                messages=[{"role": "user", "content": [{"type": "text", "text": "What is 37 + 58?"}]}],
            )
            return raw, await raw.parse()

    raw, msg = run(go())
    assert raw.headers["x-evalsweep-simulator"] == "1" and raw.headers["request-id"]
    assert msg.id.startswith("msg_sim_") and msg.model == "always" and msg.role == "assistant"
    assert [b.text for b in msg.content] == ["95"]
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert msg.usage.input_tokens == 11 and msg.usage.output_tokens == 2  # 8 words incl. system


def test_multiple_choice_letter(sim: SimulatorServer) -> None:
    q = "What is 6 * 23?\nA) 153\nB) 130\nC) 138\nD) 149\nAnswer with the letter."
    assert run(ask_openai(sim.url, "always", q)) == "C"
    wrong = run(ask_many_openai(sim.url, "never", [q.replace("letter", f"letter ({i})") for i in range(20)]))
    assert all(w in {"A", "B", "D"} for w in wrong)
    assert len(set(wrong)) >= 2  # the wrong letter varies with the item


def test_wrong_numeric_answers_are_offsets(sim: SimulatorServer) -> None:
    qs = questions(40)
    answers = run(ask_many_openai(sim.url, "never", [q for q, _ in qs]))
    offsets = {int(a) - v for a, (_, v) in zip(answers, qs, strict=True)}
    assert 0 not in offsets and len(offsets) >= 3


def test_no_question_gets_polite_reply(sim: SimulatorServer) -> None:
    assert run(ask_openai(sim.url, "sim", "Hello, how are you?")) == NO_QUESTION_REPLY


def test_accuracy_matches_profiles_and_strong_is_superset(sim: SimulatorServer) -> None:
    qs = questions(400)
    texts = [q for q, _ in qs]

    def correct(model: str) -> set[int]:
        got = run(ask_many_openai(sim.url, model, texts, temperature=0))
        return {i for i, (a, (_, v)) in enumerate(zip(got, qs, strict=True)) if a == str(v)}

    weak, strong = correct("sim-weak"), correct("sim-strong")
    assert abs(len(weak) / 400 - 0.45) <= 0.07
    assert abs(len(strong) / 400 - 0.92) <= 0.07
    assert weak <= strong


def test_unknown_model_uses_default_accuracy() -> None:
    qs = questions(300)
    with SimulatorServer(SimulatorConfig(profiles={}, default_accuracy=0.2)) as srv:
        got = run(ask_many_openai(srv.url, "no-such-model", [q for q, _ in qs], temperature=0))
        assert srv.stats().by_model == {"no-such-model": 300}
    acc = sum(a == str(v) for a, (_, v) in zip(got, qs, strict=True)) / 300
    assert abs(acc - 0.2) <= 0.07


def test_seed_matters_only_when_sampling(sim: SimulatorServer) -> None:
    texts = [q for q, _ in questions(40)]
    hot1 = run(ask_many_openai(sim.url, "half", texts, temperature=0.7, seed=1))
    hot1b = run(ask_many_openai(sim.url, "half", texts, temperature=0.7, seed=1))
    hot2 = run(ask_many_openai(sim.url, "half", texts, temperature=0.7, seed=2))
    cold1 = run(ask_many_openai(sim.url, "half", texts, temperature=0, seed=1))
    cold2 = run(ask_many_openai(sim.url, "half", texts, temperature=0, seed=2))
    assert hot1 == hot1b
    assert sum(a != b for a, b in zip(hot1, hot2, strict=True)) >= 5
    assert cold1 == cold2


def test_anthropic_seed_from_header_or_body_matches_openai(sim: SimulatorServer) -> None:
    texts = [q for q, _ in questions(30)]

    async def go(**kw):
        async with ant(sim.url) as client:
            msgs = await asyncio.gather(
                *(client.messages.create(model="half", max_tokens=32, messages=user(t), **kw) for t in texts)
            )
        return [m.content[0].text for m in msgs]

    via_header = run(go(extra_headers={"x-evalsweep-seed": "7"}))
    via_body = run(go(extra_body={"seed": 7}))
    other = run(go(extra_headers={"x-evalsweep-seed": "8"}))
    assert via_header == via_body == run(ask_many_openai(sim.url, "half", texts, seed=7))
    assert via_header != other


def test_chain_of_thought_style_is_consistent(sim: SimulatorServer) -> None:
    async def go(model: str, text: str) -> str:
        async with oai(sim.url) as client:
            r = await client.chat.completions.create(
                model=model,
                messages=[{"role": "system", "content": "Think step by step."}, *user(text)],
            )
        return r.choices[0].message.content

    right = run(go("always", "What is 37 + 58?"))
    assert right.splitlines()[-1] == "Answer: 95" and "37 + 58 = 95" in right
    for model in ("never", "half"):
        for i in range(10):
            out = run(go(model, f"What is {10 + i} * 3?"))
            stated = re.search(r"= (-?\d+)\.", out).group(1)
            assert out.splitlines()[-1] == f"Answer: {stated}"
    mc = run(go("always", "What is 2 + 2?\nA) 5\nB) 4\nC) 3"))
    assert mc.splitlines()[-1] == "Answer: B" and "= 4" in mc


def test_cot_bonus_raises_accuracy(sim: SimulatorServer) -> None:
    qs = questions(300)
    plain = run(ask_many_openai(sim.url, "half", [q for q, _ in qs], temperature=0))
    cot = run(ask_many_openai(sim.url, "half", [f"{q} Think step by step." for q, _ in qs], temperature=0))
    acc_plain = sum(a == str(v) for a, (_, v) in zip(plain, qs, strict=True)) / 300
    acc_cot = sum(a.endswith(f"Answer: {v}") for a, (_, v) in zip(cot, qs, strict=True)) / 300
    assert abs(acc_plain - 0.5) <= 0.07 and abs(acc_cot - 0.8) <= 0.07


def test_max_tokens_and_stop(sim: SimulatorServer) -> None:
    cot = [{"role": "system", "content": "Go step by step."}, *user("What is 37 + 58?")]

    async def go():
        async with oai(sim.url) as oc, ant(sim.url) as ac:
            o = await oc.chat.completions.create(model="always", messages=cot, max_tokens=5)
            s = await oc.chat.completions.create(model="always", messages=cot, stop=["\n"])
            a = await ac.messages.create(model="always", max_tokens=5, messages=cot[1:], system="step by step")
            b = await ac.messages.create(
                model="always", max_tokens=100, messages=cot[1:], system="step by step", stop_sequences=["\n"]
            )
        return o, s, a, b

    o, s, a, b = run(go())
    assert o.choices[0].finish_reason == "length" and o.choices[0].message.content == "Let's compute 37"
    assert o.usage.completion_tokens <= 5
    assert s.choices[0].finish_reason == "stop" and "Answer" not in s.choices[0].message.content
    assert a.stop_reason == "max_tokens" and a.usage.output_tokens <= 5
    assert b.stop_reason == "stop_sequence" and b.stop_sequence == "\n" and "Answer" not in b.content[0].text


# --- faults --------------------------------------------------------------------------------


def _fault_server(**faults) -> SimulatorServer:
    return SimulatorServer(SimulatorConfig(profiles=PROFILES, faults=FaultConfig(**faults)))


@pytest.mark.parametrize(
    ("faults", "sdk", "exc", "status", "kind"),
    [
        ({"rate_429": 1.0}, "openai", openai.RateLimitError, 429, "429"),
        ({"rate_429": 1.0}, "anthropic", anthropic.RateLimitError, 429, "429"),
        ({"rate_500": 1.0}, "openai", openai.InternalServerError, 500, "500"),
        ({"rate_503": 1.0}, "openai", openai.InternalServerError, 503, "503"),
        ({"rate_503": 1.0}, "anthropic", anthropic.InternalServerError, 503, "503"),
        ({"rate_529": 1.0}, "anthropic", anthropic.InternalServerError, 529, "529"),
        ({"rate_529": 1.0}, "openai", openai.InternalServerError, 529, "529"),
        ({"max_prompt_chars": 10}, "openai", openai.BadRequestError, 400, "400"),
        ({"max_prompt_chars": 10}, "anthropic", anthropic.BadRequestError, 400, "400"),
        ({"require_api_key": "right"}, "openai", openai.AuthenticationError, 401, "401"),
        ({"require_api_key": "right"}, "anthropic", anthropic.AuthenticationError, 401, "401"),
        ({"rate_drop": 1.0}, "openai", openai.APIConnectionError, None, "drop"),
        ({"rate_drop": 1.0}, "anthropic", anthropic.APIConnectionError, None, "drop"),
    ],
)
def test_fault_kinds(faults, sdk, exc, status, kind) -> None:
    async def go(url: str):
        if sdk == "openai":
            async with oai(url) as c:
                return await c.chat.completions.create(model="sim", messages=user("What is 37 + 58?"))
        async with ant(url) as c:
            return await c.messages.create(model="sim", max_tokens=16, messages=user("What is 37 + 58?"))

    with _fault_server(**faults) as srv:
        with pytest.raises(exc) as info:
            run(go(srv.url))
        stats = srv.stats()
    if status is not None:
        err = info.value
        assert err.status_code == status
        assert err.response.headers["x-evalsweep-simulator"] == "1"
        if status in (429, 529):
            assert err.response.headers["retry-after"] == "1"
            assert err.response.headers["retry-after-ms"] == "1000"
        else:
            assert "retry-after" not in err.response.headers
        if status == 400:
            assert "too long" in str(err)
        if sdk == "anthropic":
            expected_type = {429: "rate_limit_error", 529: "overloaded_error", 400: "invalid_request_error",
                             401: "authentication_error"}.get(status, "api_error")
            assert err.body["type"] == "error" and err.body["error"]["type"] == expected_type
    assert stats.requests_total == 1 and stats.responses_ok == 0
    assert stats.faults[kind] == 1 and sum(stats.faults.values()) == 1
    assert stats.by_model == {"sim": 1} and stats.in_flight == 0


def test_right_api_key_and_short_prompt_pass() -> None:
    with _fault_server(require_api_key="right", max_prompt_chars=100) as srv:
        async def go():
            async with oai(srv.url, key="right") as oc, ant(srv.url, key="right") as ac:
                o = await oc.chat.completions.create(model="always", messages=user("What is 1 + 2?"))
                a = await ac.messages.create(model="always", max_tokens=8, messages=user("What is 1 + 2?"))
            return o.choices[0].message.content, a.content[0].text

        assert run(go()) == ("3", "3")
        assert srv.stats().responses_ok == 2


def test_poison_always_fails_and_others_succeed() -> None:
    with _fault_server(poison_substring="POISON") as srv:
        async def go():
            async with oai(srv.url) as c:
                for _ in range(5):
                    with pytest.raises(openai.InternalServerError):
                        await c.chat.completions.create(model="sim", messages=user("What is 1 + 1? POISON"))
                await c.chat.completions.create(model="sim", messages=user("What is 1 + 1?"))

        run(go())
        stats = srv.stats()
    assert stats.faults["500"] == 5 and stats.responses_ok == 1 and stats.requests_total == 6


def test_fault_rates_are_reproducible_and_reset_restarts_them() -> None:
    body = {"model": "sim", "messages": user("What is 1 + 1?")}
    with _fault_server(rate_429=0.1, rate_500=0.1, rate_503=0.1, rate_529=0.1, fault_seed=3) as srv:
        def statuses() -> list[int]:
            with httpx.Client(base_url=srv.url) as c:
                return [c.post("/v1/chat/completions", json=body).status_code for _ in range(400)]

        first = statuses()
        stats = srv.stats()
        with httpx.Client(base_url=srv.url) as c:
            assert c.post("/_sim/reset").status_code == 200
            assert SimStats(**c.get("/_sim/stats").json()).requests_total == 0
        second = statuses()
    assert first == second
    for code in (429, 500, 503, 529):
        assert 20 <= first.count(code) <= 60
        assert stats.faults[str(code)] == first.count(code)
    assert stats.responses_ok == first.count(200) and stats.requests_total == 400


def test_malformed_requests_get_400(sim: SimulatorServer) -> None:
    sim.reset()
    with httpx.Client(base_url=sim.url) as c:
        bad_oai = c.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
        bad_ant = c.post("/v1/messages", content=b"[1,", headers={"content-type": "application/json"})
        no_max = c.post("/v1/messages", json={"model": "sim", "messages": user("What is 1 + 1?")})
    assert bad_oai.status_code == 400 and bad_oai.json()["error"]["type"] == "invalid_request_error"
    assert bad_ant.status_code == 400 and bad_ant.json()["type"] == "error"
    assert no_max.status_code == 400 and "max_tokens" in no_max.json()["error"]["message"]
    stats = sim.stats()
    assert stats.faults["400"] == 3 and stats.requests_total == 3 and stats.by_model == {"sim": 1}


def test_max_in_flight_under_concurrency() -> None:
    with SimulatorServer(SimulatorConfig(latency_ms=300)) as srv:
        async def go():
            async with oai(srv.url) as c:
                await asyncio.gather(
                    *(c.chat.completions.create(model="sim", messages=user(f"What is {i} + 1?")) for i in range(20))
                )

        run(go())
        stats = srv.stats()
    assert 10 <= stats.max_in_flight <= 20
    assert stats.in_flight == 0 and stats.requests_total == 20 and stats.responses_ok == 20


def test_stats_health_and_reset_endpoints(sim: SimulatorServer) -> None:
    run(ask_openai(sim.url, "sim", "What is 2 + 2?"))
    with httpx.Client(base_url=sim.url) as c:
        health = c.get("/health")
        stats = SimStats(**c.get("/_sim/stats").json())
        c.post("/_sim/reset")
        after = sim.stats()
    assert health.status_code == 200 and health.headers["x-evalsweep-simulator"] == "1"
    assert stats.requests_total >= 1 and stats.by_model.get("sim", 0) >= 1
    assert set(stats.faults) == {"429", "500", "503", "529", "drop", "400", "401",
                                 "invalid_json", "empty_body", "error_body_200", "oversize"}
    assert after.requests_total == 0 and after.responses_ok == 0 and after.by_model == {}


def test_config_validation() -> None:
    with pytest.raises(ValidationError):
        FaultConfig(rate_429=0.6, rate_500=0.6)
    with pytest.raises(ValidationError):
        SimulatorConfig(latency=5)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ModelProfile(accuracy=1.5)
    assert SimulatorConfig().profiles["sim-strong"].accuracy == 0.92


def test_stop_then_url_unreachable() -> None:
    srv = SimulatorServer()
    url = srv.start()
    assert srv.url == url and re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    srv.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=2)


# --- CLI -----------------------------------------------------------------------------------


def test_cli_serves_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalsweep.simulator", "--port", "0", "--accuracy", "cli-model=1.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        m = re.fullmatch(r"evalsweep simulator \(not a real model\) listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert m, line
        assert run(ask_openai(m.group(1), "cli-model", "What is 40 + 2?")) == "42"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_only_a_job_that_asks_the_simulator_loads_its_server(tmp_path: Path) -> None:
    """The server and aiohttp (~0.15 s of imports) load when a simulator starts: a validate-only run
    (like a config error) starts none and pays none of their imports."""
    loaded = "sorted(m for m in sys.modules if m in ('aiohttp', 'evalsweep.simulator.server'))"
    env = {**os.environ, "EVALSWEEP_CACHE_PATH": str(tmp_path / "c.sqlite")}
    seen = []
    for name, extra in (("job", ""), ("check", ", 'validate_only=true'")):
        code = ("import sys, evalsweep; evalsweep.run_job(['tracker=none', 'run.progress=false', "
                f"'dataset.max_samples=3', '++spec.skip_validation=true'{extra}], out_dir={str(tmp_path / name)!r}); "
                f"print({loaded})")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env)
        assert proc.returncode == 0, proc.stderr[-1500:]
        seen.append(proc.stdout.strip().splitlines()[-1])
    assert seen == ["['aiohttp', 'evalsweep.simulator.server']", "[]"]
