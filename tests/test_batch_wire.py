"""A batch line carries the body the live client sends for the same request (evalsweep.batch.wire
mirrors the clients' fields): both are sent to the simulator and compared as it received them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from conftest import compose_exp
from evalsweep.batch import wire
from evalsweep.batch.backends import backend_for
from evalsweep.llm.service import make_client
from evalsweep.llm.types import Message, build_request
from evalsweep.simulator import build_app
from evalsweep.structured.models import Answer
from evalsweep.structured.schema import response_format_for

CASES = [
    ("sim", []),
    ("sim", ["model.stop=[END]", "model.top_p=0.9"]),
    ("sim", ["model.reasoning=true", "model.token_limit_field=max_completion_tokens",
             "model.reasoning_effort=low"]),
    ("sim_strong", []),
    ("sim_strong", ["model.stop=[END]", "model.top_p=0.9"]),
    ("sim", ["model.logprobs=true", "model.top_logprobs=3", "+model.extra_body={user: lab-1}"]),
    ("sim_strong", ["+model.prompt_cache=true", "+model.extra_body={metadata: {user_id: lab-1}}"]),
    ("sim_gemini", []),
    ("sim_gemini", ["model.stop=[END]", "model.top_p=0.9", "model.reasoning_effort=low"]),
    ("sim_gemini", ["model.reasoning=true"]),
    ("sim_gemini", ["model.logprobs=true", "model.top_logprobs=3"]),
]


@pytest.mark.parametrize("typed", [False, True])
@pytest.mark.parametrize(("model", "overrides"), CASES)
def test_batch_body_is_the_live_clients_body(model: str, overrides: list[str], typed: bool) -> None:
    cfg = compose_exp(f"model={model}", *overrides).model
    messages = [Message(role="system", content="Be brief."), Message(role="user", content="What is 2 + 3?")]
    request = build_request(cfg, messages, seed=42, repeat=1)
    if typed:
        request = request.model_copy(update={"response_format": response_format_for(Answer)})
    seen: list[dict[str, Any]] = []

    @web.middleware
    async def record(req: web.Request, handler: Any) -> web.StreamResponse:
        seen.append(await req.json())
        return await handler(req)

    async def sent_body(batch: bool) -> dict[str, Any]:
        app = build_app()
        app.middlewares.append(record)
        server = TestServer(app)
        await server.start_server()
        url = str(server.make_url("")).rstrip("/")
        # As a live job makes its client (a simulated model's extras included), or a batch job its backend.
        client = backend_for(cfg, api_key="x", base_url=url) if batch else make_client(cfg, url)
        try:
            await (client.create([("c1", request)], None) if batch else client.generate(request))
        finally:
            await client.aclose()
            await server.close()
        return seen[-1]

    live = asyncio.run(sent_body(batch=False))
    if cfg.provider == "gemini":  # the SDK turns the inlined request into the API's JSON: compared as sent
        [line] = asyncio.run(sent_body(batch=True))["batch"]["inputConfig"]["requests"]["requests"]
        assert line["metadata"] == {"key": "c1"}
        assert line["request"] == live  # the model is named by the URL, in both
        return
    batch = wire.openai_body(cfg, request) if cfg.provider == "openai" else wire.anthropic_params(cfg, request)
    assert json.loads(json.dumps(batch)) == live
