"""The OpenAI Batch API of the simulator: files (upload, content), batches (create, retrieve, list,
cancel), with the output and error files as the API writes them (evalsweep.simulator.batch_common)."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from evalsweep.simulator.batch_common import BatchBook, SimBatch, book_for
from evalsweep.simulator.handler import OPENAI, Simulator
from evalsweep.simulator.replies import json_response

_ENDPOINT = "/v1/chat/completions"


def _error(status: int, message: str) -> web.Response:
    return json_response({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                    "code": None}}, status, {})


def _status(batch: SimBatch) -> str:
    if not batch.ended:
        return "cancelling" if batch.canceled_at is not None else "in_progress"
    if batch.canceled_at is not None:
        return "cancelled"
    return "expired" if batch.expired else "completed"


def _write_results(book: BatchBook, batch: SimBatch) -> None:
    """The output file (replies with status 200) and the error file (the rest), once, when it ends."""
    if not batch.ended or "output_file_id" in batch.meta:
        return
    assert batch.answers is not None
    out: list[str] = []
    err: list[str] = []
    for cid, answer in batch.answers.items():
        line: dict[str, Any] = {"id": f"batch_req_{cid[:16]}", "custom_id": cid}
        if answer.outcome == "succeeded":
            line.update(response={"status_code": 200, "request_id": cid[:24], "body": answer.body}, error=None)
            out.append(json.dumps(line))
        elif answer.outcome == "errored":
            body = {"error": {"message": answer.message, "type": "server_error" if answer.status >= 500 else
                              "invalid_request_error", "param": None, "code": None}}
            line.update(response={"status_code": answer.status, "request_id": cid[:24], "body": body}, error=None)
            err.append(json.dumps(line))
        else:
            code = "batch_expired" if answer.outcome == "expired" else "batch_cancelled"
            line.update(response=None, error={"code": code, "message": f"This request was not run: {code}."})
            err.append(json.dumps(line))
    batch.meta["output_file_id"] = book.new_file(("\n".join(out) + "\n").encode()) if out else None
    batch.meta["error_file_id"] = book.new_file(("\n".join(err) + "\n").encode()) if err else None


def _batch_object(book: BatchBook, batch: SimBatch) -> dict[str, Any]:
    book.advance(batch)
    _write_results(book, batch)
    answers = batch.answers or {}
    done = sum(1 for a in answers.values() if a.outcome == "succeeded")
    status = _status(batch)
    ended = int(batch.ended_at) if batch.ended_at else None
    return {
        "id": batch.id, "object": "batch", "endpoint": _ENDPOINT, "errors": None,
        "input_file_id": batch.meta["input_file_id"], "completion_window": "24h", "status": status,
        "output_file_id": batch.meta.get("output_file_id"), "error_file_id": batch.meta.get("error_file_id"),
        "created_at": int(batch.created_at), "in_progress_at": int(batch.created_at),
        "expires_at": int(batch.created_at) + 86400,
        "completed_at": ended if status == "completed" else None,
        "expired_at": ended if status == "expired" else None,
        "cancelling_at": int(batch.canceled_at) if batch.canceled_at else None,
        "cancelled_at": ended if status == "cancelled" else None,
        "request_counts": {"total": len(batch.requests), "completed": done, "failed": len(answers) - done},
        "metadata": batch.meta.get("metadata"),
    }


def add_routes(app: web.Application, sim: Simulator) -> None:
    book = book_for(sim)

    async def upload(request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField) or form.get("purpose") != "batch":
            return _error(400, "a multipart `file` with purpose=batch is required (evalsweep simulator)")
        content = upload.file.read()
        file_id = book.new_file(content)
        return json_response({"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                              "filename": upload.filename or "batch.jsonl", "purpose": "batch",
                              "status": "processed"}, 200, {})

    async def content(request: web.Request) -> web.Response:
        data = book.files.get(request.match_info["file_id"])
        if data is None:
            return _error(404, "No such File object.")
        for batch in book.batches.values():
            if request.match_info["file_id"] in (batch.meta.get("output_file_id"), batch.meta.get("error_file_id")):
                book.results_read(batch)
        return web.Response(body=data, content_type="application/octet-stream")

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        data = book.files.get(str(body.get("input_file_id")))
        if data is None:
            return _error(404, f"No such File object: {body.get('input_file_id')}")
        if body.get("endpoint") != _ENDPOINT:
            return _error(400, f"endpoint must be {_ENDPOINT} (evalsweep simulator)")
        requests: list[tuple[str, dict[str, Any]]] = []
        for n, line in enumerate(data.decode().splitlines(), 1):
            if not line.strip():
                continue
            item = json.loads(line)
            if item.get("url") != _ENDPOINT or item.get("method") != "POST" or "custom_id" not in item:
                return _error(400, f"line {n} of the input file is not a POST to {_ENDPOINT} with a custom_id")
            requests.append((str(item["custom_id"]), item.get("body") or {}))
        if len({cid for cid, _ in requests}) != len(requests):
            return _error(400, "custom_id values must be unique within a batch")
        batch = book.create(OPENAI, requests)
        batch.meta.update(input_file_id=body["input_file_id"], metadata=body.get("metadata"))
        return json_response(_batch_object(book, batch), 200, {})

    def _get(request: web.Request) -> SimBatch | None:
        batch = book.batches.get(request.match_info["batch_id"])
        return batch if batch is not None and batch.fmt == OPENAI else None

    async def retrieve(request: web.Request) -> web.Response:
        batch = _get(request)
        return _error(404, "No such batch.") if batch is None else json_response(_batch_object(book, batch), 200, {})

    async def listing(_: web.Request) -> web.Response:
        ours = [b for b in reversed(book.batches.values()) if b.fmt == OPENAI]  # newest first, as the API
        data = [_batch_object(book, b) for b in ours]
        return json_response({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                              "last_id": data[-1]["id"] if data else None, "has_more": False}, 200, {})

    async def cancel(request: web.Request) -> web.Response:
        batch = _get(request)
        if batch is None:
            return _error(404, "No such batch.")
        book.cancel(batch)
        return json_response(_batch_object(book, batch), 200, {})

    app.router.add_post("/v1/files", upload)
    app.router.add_get("/v1/files/{file_id}/content", content)
    app.router.add_post("/v1/batches", create)
    app.router.add_get("/v1/batches", listing)
    app.router.add_get("/v1/batches/{batch_id}", retrieve)
    app.router.add_post("/v1/batches/{batch_id}/cancel", cancel)
