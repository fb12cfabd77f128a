"""The simulator's batch APIs, over HTTP with the real SDKs: OpenAI files + batches + file content,
Anthropic message batches + results, Gemini batchGenerateContent + get + cancel; processing delay,
per-request errors, expiry, cancel, counts."""

from __future__ import annotations

import asyncio
import json

import anthropic
import openai

from conftest import sim_server


def _openai_line(cid: str, question: str) -> str:
    return json.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                       "body": {"model": "sim", "messages": [{"role": "user", "content": question}],
                                "max_tokens": 50, "temperature": 0}})


async def _openai_batch(url: str, questions: dict[str, str]) -> tuple[openai.AsyncOpenAI, str]:
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    content = "\n".join(_openai_line(cid, q) for cid, q in questions.items()).encode()
    upload = await client.files.create(file=("b.jsonl", content), purpose="batch")
    batch = await client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                        completion_window="24h")
    return client, batch.id


def test_openai_batch_answers_errors_and_expires_after_its_delay() -> None:
    with sim_server(batch_delay_s=600, batch_error_substring="ERR", batch_expire_substring="LATE") as srv:
        async def go() -> None:
            client, batch_id = await _openai_batch(srv.url, {"a": "What is 2 + 3?", "b": "ERR What is 1 + 1?",
                                                             "c": "LATE What is 4 + 4?"})
            first = await client.batches.retrieve(batch_id)
            assert first.status == "in_progress" and first.output_file_id is None
            srv.config.faults.batch_delay_s = 0  # its processing time is over
            done = await client.batches.retrieve(batch_id)
            assert done.status == "expired" and done.request_counts.total == 3
            out = [json.loads(x) for x in (await client.files.content(done.output_file_id)).text.splitlines()]
            err = {json.loads(x)["custom_id"]: json.loads(x)
                   for x in (await client.files.content(done.error_file_id)).text.splitlines()}
            assert [o["custom_id"] for o in out] == ["a"]
            assert out[0]["response"]["status_code"] == 200
            assert out[0]["response"]["body"]["choices"][0]["message"]["content"]
            assert err["b"]["response"]["status_code"] == 500
            assert err["c"]["response"] is None and err["c"]["error"]["code"] == "batch_expired"
            await client.close()

        asyncio.run(go())
        stats = srv.stats()
        assert stats.batches_created == 1 and stats.batch_requests == 3
        assert stats.requests_total == 0  # no live request was made


def test_openai_batch_cancel_leaves_every_request_cancelled() -> None:
    with sim_server(batch_delay_s=30) as srv:
        async def go() -> None:
            client, batch_id = await _openai_batch(srv.url, {"a": "What is 2 + 3?"})
            canceled = await client.batches.cancel(batch_id)
            assert canceled.status == "cancelled"
            err = (await client.files.content(canceled.error_file_id)).text
            assert json.loads(err)["error"]["code"] == "batch_cancelled"
            await client.close()

        asyncio.run(go())


def test_anthropic_message_batches_results_cancel_and_counts() -> None:
    with sim_server(batch_delay_s=600, batch_error_substring="ERR", batch_expire_substring="LATE") as srv:
        async def go() -> None:
            client = anthropic.AsyncAnthropic(base_url=srv.url, api_key="x", max_retries=0)

            def req(cid: str, q: str) -> dict:
                return {"custom_id": cid, "params": {"model": "sim-strong", "max_tokens": 50,
                                                     "messages": [{"role": "user", "content": q}]}}

            batch = await client.messages.batches.create(
                requests=[req("a", "What is 2 + 3?"), req("b", "ERR 1 + 1?"), req("c", "LATE 4 + 4?")])
            assert batch.processing_status == "in_progress" and batch.request_counts.processing == 3
            other = await client.messages.batches.create(requests=[req("z", "What is 9 + 9?")])
            assert (await client.messages.batches.cancel(other.id)).processing_status == "ended"
            srv.config.faults.batch_delay_s = 0  # its processing time is over
            ended = await client.messages.batches.retrieve(batch.id)
            assert ended.processing_status == "ended"
            assert (ended.request_counts.succeeded, ended.request_counts.errored,
                    ended.request_counts.expired) == (1, 1, 1)
            results = {r.custom_id: r.result async for r in await client.messages.batches.results(batch.id)}
            assert results["a"].type == "succeeded" and results["a"].message.content[0].text
            assert results["b"].type == "errored" and results["b"].error.error.type == "api_error"
            assert results["c"].type == "expired"
            canceled = [r.result.type async for r in await client.messages.batches.results(other.id)]
            assert canceled == ["canceled"]
            await client.close()

        asyncio.run(go())
        stats = srv.stats()
        assert stats.batches_created == 2 and stats.batch_requests == 4
        assert [e.split(":")[0] for e in stats.batch_events] == ["create", "create", "results", "results"]


def test_gemini_batch_answers_in_order_with_metadata_errors_expires_and_cancels() -> None:
    import httpx2
    from google import genai
    from google.genai import types

    with sim_server(batch_delay_s=600, batch_error_substring="ERR", batch_expire_substring="LATE") as srv:
        async def go() -> None:
            http = httpx2.AsyncClient()  # as evalsweep's clients give the SDK its HTTP client
            client = genai.Client(api_key="x", vertexai=False, http_options=types.HttpOptions(
                base_url=srv.url, api_version="v1beta", httpx_async_client=http))

            def req(cid: str, q: str) -> dict:
                return {"contents": [{"role": "user", "parts": [{"text": q}]}], "metadata": {"key": cid},
                        "config": {"max_output_tokens": 50, "temperature": 0}}

            batches = client.aio.batches
            ok = await batches.create(model="sim-gemini", src=[req("a", "What is 2 + 3?"), req("b", "ERR 1 + 1?")])
            late = await batches.create(model="sim-gemini", src=[req("c", "What is 4 + 4?"), req("d", "LATE 5 + 5?")])
            other = await batches.create(model="sim-gemini", src=[req("z", "What is 9 + 9?")])
            assert ok.name.startswith("batches/") and ok.state.value == "JOB_STATE_RUNNING" and ok.dest is None
            await batches.cancel(name=other.name)
            canceled = await batches.get(name=other.name)
            assert canceled.state.value == "JOB_STATE_CANCELLED" and canceled.dest is None
            srv.config.faults.batch_delay_s = 0  # its processing time is over
            done = await batches.get(name=ok.name)
            assert done.state.value == "JOB_STATE_SUCCEEDED"
            a, b = done.dest.inlined_responses  # in the requests' order, each with its request's metadata
            assert a.metadata == {"key": "a"} and a.response.candidates[0].content.parts[0].text and a.error is None
            assert b.metadata == {"key": "b"} and b.response is None and b.error.code == 13  # INTERNAL
            expired = await batches.get(name=late.name)  # expired as a whole: no answers at all
            assert expired.state.value == "JOB_STATE_EXPIRED" and expired.dest is None
            await client.aio.aclose()
            await http.aclose()

        asyncio.run(go())
        stats = srv.stats()
        assert stats.batches_created == 3 and stats.batch_requests == 5 and stats.requests_total == 0
