"""The Anthropic Message Batches API of the simulator: create, retrieve, cancel and results (JSONL
at the batch's results_url), answered by evalsweep.simulator.batch_common."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from evalsweep.simulator.anthropic_wire import ANTHROPIC_ERRORS, SEED_HEADER
from evalsweep.simulator.batch_common import BatchBook, SimBatch, book_for
from evalsweep.simulator.handler import ANTHROPIC, Simulator
from evalsweep.simulator.replies import json_response


def _error(status: int, message: str) -> web.Response:
    return json_response({"type": "error", "error": {"type": ANTHROPIC_ERRORS.get(status, "not_found_error"),
                                                     "message": message}}, status, {})


def _iso(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z") if t else None


def _batch_object(book: BatchBook, batch: SimBatch, base: str) -> dict[str, Any]:
    book.advance(batch)
    counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
    if batch.answers is None:
        counts["processing"] = len(batch.requests)
    else:
        for answer in batch.answers.values():
            counts[answer.outcome] += 1
    status = "ended" if batch.ended else ("canceling" if batch.canceled_at is not None else "in_progress")
    return {
        "id": batch.id, "type": "message_batch", "processing_status": status, "request_counts": counts,
        "created_at": _iso(batch.created_at), "expires_at": _iso(batch.created_at + 86400),
        "ended_at": _iso(batch.ended_at), "cancel_initiated_at": _iso(batch.canceled_at), "archived_at": None,
        "results_url": f"{base}/v1/messages/batches/{batch.id}/results" if batch.ended else None,
    }


def _result_line(cid: str, answer: Any) -> dict[str, Any]:
    if answer.outcome == "succeeded":
        return {"custom_id": cid, "result": {"type": "succeeded", "message": answer.body}}
    if answer.outcome == "errored":
        kind = ANTHROPIC_ERRORS.get(answer.status, "api_error")
        return {"custom_id": cid, "result": {"type": "errored", "error": {
            "type": "error", "error": {"type": kind, "message": answer.message}}}}
    return {"custom_id": cid, "result": {"type": answer.outcome}}


def add_routes(app: web.Application, sim: Simulator) -> None:
    book = book_for(sim)

    def base_of(request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        items = body.get("requests")
        if not isinstance(items, list) or not items:
            return _error(400, "requests: a non-empty list is required.")
        requests = [(str(i.get("custom_id")), i.get("params") or {}) for i in items if isinstance(i, dict)]
        if len({cid for cid, _ in requests}) != len(requests):
            return _error(400, "custom_id values must be unique within a batch.")
        batch = book.create(ANTHROPIC, requests, seed=request.headers.get(SEED_HEADER), prefix="msgbatch_sim")
        return json_response(_batch_object(book, batch, base_of(request)), 200, {})

    def _get(request: web.Request) -> SimBatch | None:
        batch = book.batches.get(request.match_info["batch_id"])
        return batch if batch is not None and batch.fmt == ANTHROPIC else None

    async def retrieve(request: web.Request) -> web.Response:
        batch = _get(request)
        if batch is None:
            return _error(404, "No such message batch.")
        return json_response(_batch_object(book, batch, base_of(request)), 200, {})

    async def cancel(request: web.Request) -> web.Response:
        batch = _get(request)
        if batch is None:
            return _error(404, "No such message batch.")
        book.cancel(batch)
        return json_response(_batch_object(book, batch, base_of(request)), 200, {})

    async def results(request: web.Request) -> web.Response:
        batch = _get(request)
        if batch is None:
            return _error(404, "No such message batch.")
        book.advance(batch)
        if batch.answers is None:
            return _error(400, "The message batch has not ended yet.")
        book.results_read(batch)
        lines = [json.dumps(_result_line(cid, a)) for cid, a in batch.answers.items()]
        return web.Response(body=("\n".join(lines) + "\n").encode(), content_type="application/binary")

    app.router.add_post("/v1/messages/batches", create)
    app.router.add_get("/v1/messages/batches/{batch_id}", retrieve)
    app.router.add_post("/v1/messages/batches/{batch_id}/cancel", cancel)
    app.router.add_get("/v1/messages/batches/{batch_id}/results", results)
