"""The Gemini API's batch mode in the simulator, as the google-genai SDK calls it: create
(POST /v1beta/models/{model}:batchGenerateContent, the requests inline), get (GET /v1beta/batches/{id})
and cancel (POST /v1beta/batches/{id}:cancel), answered by evalsweep.simulator.batch_common.

A batch is a long-running operation: {name: "batches/...", metadata: {state: BATCH_STATE_*, ...}},
its answers inline in metadata.output.inlinedResponses, in the order of the requests and each with
the request's metadata. As Google's API does, a batch that expired (or was cancelled before it ran)
ends with no answers at all: BATCH_STATE_EXPIRED or BATCH_STATE_CANCELLED."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from evalsweep.simulator.batch_common import Answer, BatchBook, SimBatch, book_for
from evalsweep.simulator.gemini_wire import gemini_error
from evalsweep.simulator.handler import GEMINI, Simulator
from evalsweep.simulator.replies import json_response

_META_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
# google.rpc codes of the statuses a batch request can fail with.
_RPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 429: 8, 500: 13, 503: 14}


def _error(status: int, message: str) -> web.Response:
    return json_response(gemini_error(status, message), status, {})


def _iso(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z") if t else None


def _inlined(answer: Answer, metadata: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"metadata": metadata} if metadata else {}
    if answer.outcome == "succeeded":
        out["response"] = answer.body
    else:
        out["error"] = {"code": _RPC_CODE.get(answer.status, 13), "message": answer.message}
    return out


def _operation(book: BatchBook, batch: SimBatch) -> dict[str, Any]:
    book.advance(batch)
    if not batch.ended:
        state = "BATCH_STATE_RUNNING"
    elif batch.expired:
        state = "BATCH_STATE_EXPIRED"
    elif batch.answers and all(a.outcome == "canceled" for a in batch.answers.values()):
        state = "BATCH_STATE_CANCELLED"
    else:
        state = "BATCH_STATE_SUCCEEDED"
    meta: dict[str, Any] = {
        "@type": _META_TYPE, "model": batch.meta["model"], "displayName": batch.meta.get("displayName", ""),
        "state": state, "createTime": _iso(batch.created_at), "updateTime": _iso(batch.ended_at or batch.created_at),
        "batchStats": {"requestCount": str(len(batch.requests))},
    }
    if batch.ended_at:
        meta["endTime"] = _iso(batch.ended_at)
    if state == "BATCH_STATE_SUCCEEDED" and batch.answers is not None:
        metadata = batch.meta["metadata"]
        meta["output"] = {"inlinedResponses": {"inlinedResponses": [
            _inlined(batch.answers[cid], metadata[cid]) for cid, _ in batch.requests]}}
    return {"name": f"batches/{batch.id}", "metadata": meta, "done": batch.ended}


def add_routes(app: web.Application, sim: Simulator) -> None:
    book = book_for(sim)

    async def create(request: web.Request) -> web.Response:
        model = request.match_info["model"]
        body = await request.json()
        batch_in = body.get("batch") if isinstance(body, dict) else None
        items = (((batch_in or {}).get("inputConfig") or {}).get("requests") or {}).get("requests")
        if not isinstance(items, list) or not items:
            return _error(400, "batch.inputConfig.requests.requests: a non-empty list is required.")
        requests: list[tuple[str, dict[str, Any]]] = []
        metadata: dict[str, Any] = {}
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
                return _error(400, f"batch.inputConfig.requests.requests[{i}].request: an object is required.")
            req = dict(item["request"])
            req.setdefault("model", f"models/{model}")
            cid = str(i)  # the answers come back in the requests' order, each with its metadata
            requests.append((cid, req))
            metadata[cid] = item.get("metadata")
        batch = book.create(GEMINI, requests, prefix="gbatch_sim")  # its name: batches/{id}
        batch.meta.update(model=f"models/{model}", displayName=(batch_in or {}).get("displayName", ""),
                          metadata=metadata)
        return json_response(_operation(book, batch), 200, {})

    def _get(request: web.Request) -> SimBatch | None:
        batch = book.batches.get(request.match_info["batch_id"])
        return batch if batch is not None and batch.fmt == GEMINI else None

    async def get(request: web.Request) -> web.Response:
        batch = _get(request)
        if batch is None:
            return _error(404, "Requested entity was not found.")
        body = _operation(book, batch)
        if "output" in body["metadata"]:  # the answers are read with the batch
            book.results_read(batch)
        return json_response(body, 200, {})

    async def cancel(request: web.Request) -> web.Response:
        batch = _get(request)
        if batch is None:
            return _error(404, "Requested entity was not found.")
        book.cancel(batch)
        return json_response({}, 200, {})

    for version in ("v1beta", "v1"):
        app.router.add_post(f"/{version}/models/{{model}}:batchGenerateContent", create)
        app.router.add_get(f"/{version}/batches/{{batch_id}}", get)
        app.router.add_post(f"/{version}/batches/{{batch_id}}:cancel", cancel)
