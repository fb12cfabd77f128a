"""The simulator's structured answers and its judge role, over real HTTP through both SDKs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Literal

import anthropic
import openai
import pytest
from pydantic import BaseModel, Field, ValidationError

from evalsweep.simulator import FaultConfig, ModelProfile, SimulatorConfig, SimulatorServer
from evalsweep.simulator.__main__ import _parser, config_from_args

PROFILES = {
    "always": ModelProfile(accuracy=1.0, cot_bonus=0.0),
    "never": ModelProfile(accuracy=0.0, cot_bonus=0.0),
    "judge-perfect": ModelProfile(accuracy=0.5, judge_accuracy=1.0),
    "judge-contrary": ModelProfile(accuracy=0.5, judge_accuracy=0.0),
    "judge-70": ModelProfile(accuracy=0.5, judge_accuracy=0.7),
}


class Answer(BaseModel):
    reasoning: str
    answer: int
    confidence: float = Field(ge=0, le=1)


class Grade(BaseModel):
    explanation: str
    grade: Literal["C", "I"]


class Color(BaseModel):
    name: Literal["red", "green"]


class Kitchen(BaseModel):
    """Every kind of property the filler has to handle."""

    title: str = Field(max_length=8)
    count: int = Field(ge=3, le=9)
    ratio: float
    flag: bool
    refused: bool
    colors: list[Color] = Field(min_length=2)
    note: str | None = None
    nested: Color


def schema_format(model: type[BaseModel]) -> dict:
    return {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": model.model_json_schema(),
                                                   "strict": True}}


def tool_args(model: type[BaseModel]) -> dict:
    return {"tools": [{"name": model.__name__, "input_schema": model.model_json_schema()}],
            "tool_choice": {"type": "tool", "name": model.__name__}}


async def oai_many(url: str, model: str, prompts: list[str], fmt: dict) -> list[str]:
    """Many questions through one client (a client per request costs more than the request)."""
    async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0) as c:
        async def one(p: str) -> str:
            r = await c.chat.completions.create(model=model, messages=user(p), response_format=fmt)
            return r.choices[0].message.content

        return list(await asyncio.gather(*(one(p) for p in prompts)))


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


async def oai_json(url: str, model: str, messages: list[dict], fmt: dict, **kw) -> str:
    async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0) as c:
        r = await c.chat.completions.create(model=model, messages=messages, response_format=fmt, **kw)
    return r.choices[0].message.content


async def ant_tool(url: str, model: str, messages: list[dict], response_model: type[BaseModel]):
    async with anthropic.AsyncAnthropic(base_url=url, api_key="k", max_retries=0) as c:
        return await c.messages.create(model=model, max_tokens=300, messages=messages, **tool_args(response_model))


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(profiles=PROFILES)) as srv:
        yield srv


def test_openai_json_schema_gives_valid_object_with_the_computed_answer(sim: SimulatorServer) -> None:
    text = asyncio.run(oai_json(sim.url, "always", user("What is 12 + 30?"), schema_format(Answer)))
    obj = Answer.model_validate_json(text)
    assert obj.answer == 42 and "42" in obj.reasoning and 0 <= obj.confidence <= 1
    wrong = asyncio.run(oai_json(sim.url, "never", user("What is 12 + 30?"), schema_format(Answer)))
    assert Answer.model_validate_json(wrong).answer != 42  # the simulated model's (wrong) answer


def test_anthropic_tool_use_block_carries_the_object(sim: SimulatorServer) -> None:
    msg = asyncio.run(ant_tool(sim.url, "always", user("What is 7 * 6?"), Answer))
    assert msg.stop_reason == "tool_use"
    (block,) = msg.content
    assert block.type == "tool_use" and block.name == "Answer"
    assert Answer.model_validate(block.input).answer == 42
    assert msg.usage.output_tokens > 0


def test_anthropic_output_config_format_gives_json_text(sim: SimulatorServer) -> None:
    async def go() -> str:
        async with anthropic.AsyncAnthropic(base_url=sim.url, api_key="k", max_retries=0) as c:
            m = await c.messages.create(model="always", max_tokens=200, messages=user("What is 2 + 2?"),
                                        output_config={"format": {"type": "json_schema",
                                                                  "schema": Answer.model_json_schema()}})
        return m.content[0].text

    assert Answer.model_validate_json(asyncio.run(go())).answer == 4


def test_fills_every_kind_of_property(sim: SimulatorServer) -> None:
    obj = Kitchen.model_validate_json(asyncio.run(oai_json(sim.url, "always", user("hello"), schema_format(Kitchen))))
    assert 3 <= obj.count <= 9 and len(obj.colors) >= 2 and obj.refused is False and len(obj.title) <= 8


def test_json_text_fallback_reads_the_schema_from_the_prompt(sim: SimulatorServer) -> None:
    system = "Reply with only a JSON object that matches this JSON schema: " + json.dumps(Answer.model_json_schema())
    messages = [{"role": "system", "content": system}, *user("What is 10 + 5?")]

    async def go() -> str:
        async with openai.AsyncOpenAI(base_url=f"{sim.url}/v1", api_key="k", max_retries=0) as c:
            r = await c.chat.completions.create(model="always", messages=messages)
        return r.choices[0].message.content

    text = asyncio.run(go())
    assert text.startswith("```json\n")  # as chat models often answer
    assert Answer.model_validate_json(text.removeprefix("```json\n").removesuffix("\n```")).answer == 15
    mode = asyncio.run(oai_json(sim.url, "always", messages, {"type": "json_object"}))
    assert Answer.model_validate_json(mode).answer == 15


def test_bad_structured_requests_get_400(sim: SimulatorServer) -> None:
    with pytest.raises(openai.BadRequestError, match="word 'json'"):
        asyncio.run(oai_json(sim.url, "always", user("What is 1 + 1?"), {"type": "json_object"}))
    with pytest.raises(openai.BadRequestError, match="json_schema"):
        asyncio.run(oai_json(sim.url, "always", user("What is 1 + 1?"), {"type": "json_schema"}))

    async def wrong_tool() -> None:
        async with anthropic.AsyncAnthropic(base_url=sim.url, api_key="k", max_retries=0) as c:
            await c.messages.create(model="always", max_tokens=50, messages=user("1 + 1"),
                                    tools=[{"name": "A", "input_schema": {"type": "object"}}],
                                    tool_choice={"type": "tool", "name": "B"})

    with pytest.raises(anthropic.BadRequestError, match="no tool named"):
        asyncio.run(wrong_tool())


def _questions(n: int) -> list[str]:
    return [f"What is {3 + 7 * i} + {11 + (i * 13) % 50}?" for i in range(n)]


def test_invalid_rate_is_deterministic_and_a_reask_is_answered_validly() -> None:
    cfg = SimulatorConfig(profiles=PROFILES, faults=FaultConfig(invalid_structured_rate=0.3))
    qs = _questions(200)

    with SimulatorServer(cfg) as srv:
        first = asyncio.run(oai_many(srv.url, "always", qs, schema_format(Answer)))
        again = asyncio.run(oai_many(srv.url, "always", qs, schema_format(Answer)))
        assert first == again  # the same request is spoiled (or not) every time
        bad = []
        for q, text in zip(qs, first):
            try:
                Answer.model_validate_json(text)
            except ValidationError as exc:
                bad.append((q, text, exc))
        assert 0.2 < len(bad) / len(qs) < 0.4
        assert srv.stats().invalid_structured == 2 * len(bad)
        q, text, exc = bad[0]
        reask = [*user(q), {"role": "assistant", "content": text},
                 *user(f"Your reply failed validation:\n{exc}\nReply again with a corrected object.")]
        fixed = Answer.model_validate_json(asyncio.run(oai_json(srv.url, "always", reask, schema_format(Answer))))
        assert fixed.answer == eval(q.removeprefix("What is ").rstrip("?"))  # about the question, not the re-ask


def test_substring_marker_makes_every_structured_answer_invalid() -> None:
    cfg = SimulatorConfig(profiles=PROFILES, faults=FaultConfig(invalid_structured_substring="NEVER-VALID"))
    with SimulatorServer(cfg) as srv:
        q = "NEVER-VALID What is 1 + 2?"
        with pytest.raises(ValidationError):
            Answer.model_validate_json(asyncio.run(oai_json(srv.url, "always", user(q), schema_format(Answer))))
        reask = [*user(q), {"role": "assistant", "content": "{}"}, *user("1 validation error for Answer ...")]
        msg = asyncio.run(ant_tool(srv.url, "always", reask, Answer))
        with pytest.raises(ValidationError):
            Answer.model_validate(msg.content[0].input)
        # Other prompts are unaffected.
        assert Answer.model_validate_json(asyncio.run(oai_json(srv.url, "always", user("What is 1 + 2?"),
                                                               schema_format(Answer)))).answer == 3


def rubric(question: str, reference: str, response: str) -> str:
    return ("Grade the response against the reference answer.\n[BEGIN DATA]\n***\n"
            f"[Question]: {question}\n***\n[Reference answer]: {reference}\n***\n[Response]: {response}\n***\n"
            "[END DATA]\nExplain briefly, then end with 'GRADE: C' (correct) or 'GRADE: I' (incorrect).")


def test_judge_grades_in_text_and_structured_form(sim: SimulatorServer) -> None:
    async def text(model: str, prompt: str) -> str:
        async with openai.AsyncOpenAI(base_url=f"{sim.url}/v1", api_key="k", max_retries=0) as c:
            r = await c.chat.completions.create(model=model, messages=user(prompt))
        return r.choices[0].message.content

    right = rubric("What is 2 + 2?", "4", "Let's compute. 2 + 2 = 4.\nAnswer: 4")
    wrong = rubric("What is 2 + 2?", "4", "5")
    assert asyncio.run(text("judge-perfect", right)).endswith("GRADE: C")
    assert asyncio.run(text("judge-perfect", wrong)).endswith("GRADE: I")
    assert asyncio.run(text("judge-contrary", right)).endswith("GRADE: I")
    letter = rubric("Pick one\nA) 3\nB) 4", "B", "B")
    assert Grade.model_validate_json(asyncio.run(oai_json(sim.url, "judge-perfect", user(letter),
                                                          schema_format(Grade)))).grade == "C"
    msg = asyncio.run(ant_tool(sim.url, "judge-contrary", user(letter), Grade))
    assert Grade.model_validate(msg.content[0].input).grade == "I"


def test_judge_accuracy_sets_the_agreement_rate(sim: SimulatorServer) -> None:
    cases = [(q, str(eval(q.removeprefix("What is ").rstrip("?")) + (i % 2))) for i, q in enumerate(_questions(300))]

    prompts = [rubric(q, str(eval(q[8:-1])), resp) for q, resp in cases]
    got = [Grade.model_validate_json(t).grade
           for t in asyncio.run(oai_many(sim.url, "judge-70", prompts, schema_format(Grade)))]
    truth = ["C" if i % 2 == 0 else "I" for i in range(len(cases))]
    agree = sum(g == t for g, t in zip(got, truth)) / len(cases)
    assert 0.62 < agree < 0.78


def test_cli_flags_reach_the_config() -> None:
    args = _parser().parse_args(["--port", "0", "--invalid-structured-rate", "0.2", "--invalid-structured-substring",
                                 "XX", "--judge-accuracy", "sim-strong=0.8"])
    cfg = config_from_args(args)
    assert cfg.faults.invalid_structured_rate == 0.2 and cfg.faults.invalid_structured_substring == "XX"
    assert cfg.profile_for("sim-strong").effective_judge_accuracy() == 0.8
    assert cfg.profile_for("sim-strong").accuracy == 0.92  # the answering profile is kept
    with pytest.raises(ValidationError):
        FaultConfig(invalid_structured_rate=1.5)
