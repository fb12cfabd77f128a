"""The Gemini API's batch mode (client.aio.batches of the google-genai SDK) behind the interface of
evalsweep.batch.common.Backend: batches.create on the model with the requests inline, batches.get
to poll (the answers come inline with the ended batch), batches.cancel.

Requests are matched to answers by the inlined request's `metadata` ({"key": custom id}), which
the API hands back on each inlined response (the SDK's InlinedResponse.metadata); the order of
the responses is the requests' too, but a key does not depend on it. Inline, not a JSONL file
(whose lines carry a `key` as well): no upload, so nothing to find after a crash between upload
and create, and no file download; the price is the same. A batch ends as a whole: one that
expired or was cancelled has no answers, and its requests are not run (asked again next run)."""

from __future__ import annotations

import json
from typing import Any

from evalsweep.batch import wire
from evalsweep.batch.common import BatchLost, Polled, Result, Status, errored, no_endpoint
from evalsweep.config.model import ModelConfig
from evalsweep.llm.errors import ProviderError, TransientError
from evalsweep.llm.types import GenerateRequest

_NAME_PREFIX = "batches/"  # a batch's resource name is batches/{id}
_CONTROL_ATTEMPTS = 4  # the SDK's own retries of a control call (the first try and three more)
_ENDED = {"JOB_STATE_SUCCEEDED": "succeeded", "JOB_STATE_PARTIALLY_SUCCEEDED": "succeeded",
          "JOB_STATE_FAILED": "errored", "JOB_STATE_CANCELLED": "canceled", "JOB_STATE_EXPIRED": "expired"}
# google.rpc codes of an inlined response's error, as the HTTP statuses the live path records.
_HTTP_OF_RPC = {3: 400, 5: 404, 7: 403, 8: 429, 9: 400, 11: 400, 13: 500, 14: 503, 16: 401}


class GeminiBatches:
    provider = "gemini"
    # Google gives no count limit for inlined requests, only their size; 10,000 keeps the one get
    # that returns a batch's answers inline to a reasonable size.
    max_requests = 10_000
    max_bytes = 19 * 1024 * 1024  # inlined requests: the API takes up to 20 MB a batch

    def __init__(self, cfg: ModelConfig, *, api_key: str, base_url: str | None) -> None:
        import httpx2
        from google import genai
        from google.genai import errors, types

        from evalsweep.llm.endpoints import gemini_base_url, server_name
        from evalsweep.llm.gemini_client import API_VERSION, PROVIDER

        self._cfg = cfg
        self._errors = errors
        self._who = server_name(base_url, PROVIDER)
        self._transport_error = httpx2.TransportError
        # The live client's HTTP stack (httpx2, handed to the SDK), not whatever the SDK would pick.
        self._http = httpx2.AsyncClient(timeout=cfg.request_timeout_s)
        options = types.HttpOptions(base_url=gemini_base_url(base_url), api_version=API_VERSION,
                                    timeout=int(cfg.request_timeout_s * 1000), httpx_async_client=self._http,
                                    retry_options=types.HttpRetryOptions(attempts=_CONTROL_ATTEMPTS))
        self._client = genai.Client(api_key=api_key, vertexai=False, http_options=options)

    def _item(self, cid: str, request: GenerateRequest) -> dict[str, Any]:
        return {**wire.gemini_request(self._cfg, request), "metadata": {"key": cid}}

    def line_bytes(self, cid: str, request: GenerateRequest) -> int:
        return len(json.dumps(self._item(cid, request), default=str).encode()) + 2

    async def _call(self, fn: Any, **kwargs: Any) -> Any:
        from evalsweep.llm.gemini_client import status_error

        try:
            return await fn(**kwargs)
        except self._errors.APIError as exc:
            if exc.code == 404:
                raise BatchLost(str(exc)) from None
            raise status_error(exc, self._cfg.api_key_env, self._who) from exc
        except self._transport_error as exc:  # refused, reset, timed out
            raise TransientError(f"Gemini batch API: {exc!r}", status=None, cause="connection") from exc

    async def upload(self, items: list[tuple[str, GenerateRequest]]) -> str | None:
        return None  # the requests go inline, in create

    async def find(self, file_id: str) -> str | None:
        return None

    async def create(self, items: list[tuple[str, GenerateRequest]], file_id: str | None) -> str:
        model = items[0][1].model  # a round's batch holds one model's requests
        headers = items[0][1].extra_headers  # the model's headers, sent with the batch
        config: dict[str, Any] = {"display_name": "evalsweep"}
        if headers:
            config["http_options"] = {"headers": headers}
        with no_endpoint(self._cfg, "batches.create"):
            job = await self._call(self._client.aio.batches.create, model=model,
                                   src=[self._item(cid, r) for cid, r in items], config=config)
        # The id kept in the job dir names a file there: the resource name without its "batches/".
        return str(job.name).removeprefix(_NAME_PREFIX)

    @staticmethod
    def _status(job: Any) -> Status:
        state = str(getattr(job.state, "value", job.state))
        polled: Polled = ("ended" if state in _ENDED else "canceling" if state == "JOB_STATE_CANCELLING"
                          else "in_progress")
        return Status(polled, {})

    async def poll(self, batch_id: str) -> Status:
        return self._status(await self._call(self._client.aio.batches.get, name=_NAME_PREFIX + batch_id))

    async def cancel(self, batch_id: str) -> Status:
        await self._call(self._client.aio.batches.cancel, name=_NAME_PREFIX + batch_id)
        return await self.poll(batch_id)

    async def results(self, batch_id: str, requests: dict[str, GenerateRequest]) -> dict[str, Result]:
        job = await self._call(self._client.aio.batches.get, name=_NAME_PREFIX + batch_id)
        state = str(getattr(job.state, "value", job.state))
        out: dict[str, Result] = {}
        for item in (job.dest.inlined_responses or []) if job.dest is not None else []:
            cid = (item.metadata or {}).get("key")
            if cid is not None:
                out[cid] = self._result(item)
        ended = _ENDED.get(state)
        if ended == "errored":  # the batch failed as a whole: an error of each request without an answer
            why = job.error.message if job.error is not None and job.error.message else "batch failed"
            out.update({cid: errored(why, None) for cid in requests if cid not in out})
        elif ended in ("expired", "canceled"):  # no answer: not run, asked again on the next run
            out.update({cid: Result(ended) for cid in requests if cid not in out})  # type: ignore[arg-type]
        return out

    @staticmethod
    def _result(item: Any) -> Result:
        if item.error is not None:
            return errored(item.error.message or "batch request failed", _HTTP_OF_RPC.get(item.error.code or 0))
        if item.response is None:
            return errored("an inlined response with neither response nor error", None)
        try:
            return Result("succeeded", response=wire.gemini_reply(item.response))
        except ProviderError as exc:  # a malformed reply: an error of its sample, as live after its retries
            return errored(str(exc), None)

    async def aclose(self) -> None:
        try:
            await self._client.aio.aclose()
            self._client.close()
        finally:
            await self._http.aclose()  # ours: the SDK leaves a client it was given open
