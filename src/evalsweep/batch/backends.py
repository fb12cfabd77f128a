"""The providers' batch endpoints behind one small interface: submit a batch of (custom id,
request) (upload, then create), poll its state, read its results as GenerateResponses or errors,
cancel it, and find the batch an upload became (after a crash before create's reply was saved).

OpenAI: the requests as a JSONL file (files.create, purpose=batch), then batches.create on it; the
results are its output and error files. Anthropic: messages.batches.create with the requests inline;
the results are the JSONL at its results_url. Gemini: evalsweep.batch.gemini_backend. The control calls use the SDK's own retries (a few),
since a batch is one call, not one per sample."""

from __future__ import annotations

import json
from typing import Any

from evalsweep.config.model import ModelConfig
from evalsweep.llm.errors import ProviderError, TransientError, classify_status
from evalsweep.llm.types import GenerateRequest
from evalsweep.batch import wire
from evalsweep.batch.common import Backend, BatchLost, Polled, Result, Status
from evalsweep.batch.common import errored as _errored, no_endpoint as _no_endpoint
from evalsweep.batch.gemini_backend import GeminiBatches


_CONTROL_RETRIES = 3
_FIND_DEPTH = 2000  # recent batches looked through for an unrecorded upload's batch


async def sdk_call(sdk: Any, provider: str, cfg: ModelConfig, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """One call of the openai or anthropic SDK's batch API (their errors have the same names): a batch
    the provider no longer knows is BatchLost, an HTTP error is classified as live errors are."""
    try:
        return await fn(*args, **kwargs)
    except sdk.NotFoundError as exc:
        raise BatchLost(str(exc)) from None
    except sdk.APIStatusError as exc:
        raise classify_status(exc.status_code, str(exc.message), exc.response.headers, cfg.api_key_env,
                              provider) from exc
    except (sdk.APIConnectionError, sdk.APITimeoutError) as exc:
        raise TransientError(f"{provider} batch API: {exc}", status=None, cause="connection") from exc


class OpenAIBatches:
    provider = "openai"
    max_requests = 50_000
    max_bytes = 190 * 1024 * 1024  # the input file's limit is 200 MB

    def __init__(self, cfg: ModelConfig, *, api_key: str, base_url: str | None) -> None:
        import openai

        url = f"{base_url.rstrip('/')}/v1" if cfg.simulated and base_url else base_url
        self._cfg = cfg
        self._sdk = openai
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=url, max_retries=_CONTROL_RETRIES,
                                          timeout=cfg.request_timeout_s)

    def _line(self, cid: str, request: GenerateRequest) -> str:
        return json.dumps({"custom_id": cid, "method": "POST", "url": wire.OPENAI_ENDPOINT,
                           "body": wire.openai_body(self._cfg, request)})

    def line_bytes(self, cid: str, request: GenerateRequest) -> int:
        return len(self._line(cid, request).encode()) + 1

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await sdk_call(self._sdk, "OpenAI", self._cfg, fn, *args, **kwargs)

    async def upload(self, items: list[tuple[str, GenerateRequest]]) -> str | None:
        content = "".join(self._line(cid, r) + "\n" for cid, r in items).encode()
        with _no_endpoint(self._cfg, "files.create"):
            upload = await self._call(self._client.files.create, file=("evalsweep-batch.jsonl", content),
                                      purpose="batch")
        return str(upload.id)

    async def create(self, items: list[tuple[str, GenerateRequest]], file_id: str | None) -> str:
        with _no_endpoint(self._cfg, "batches.create"):
            batch = await self._call(self._client.batches.create, input_file_id=file_id,
                                     endpoint=wire.OPENAI_ENDPOINT, completion_window="24h",
                                     metadata={"made_by": "evalsweep"})
        return str(batch.id)

    async def find(self, file_id: str) -> str | None:
        seen = 0
        try:
            async for batch in self._client.batches.list(limit=100):
                if batch.input_file_id == file_id:
                    return str(batch.id)
                seen += 1
                if seen >= _FIND_DEPTH:
                    break
        except self._sdk.APIError as exc:
            raise TransientError(f"OpenAI batch API: could not list batches: {exc}", status=None,
                                 cause="connection") from exc
        return None

    @staticmethod
    def _status(batch: Any) -> Status:
        state: Polled = ("ended" if batch.status in ("completed", "expired", "cancelled", "failed") else
                         "canceling" if batch.status == "cancelling" else "in_progress")
        c = batch.request_counts
        counts = {"total": c.total, "completed": c.completed, "failed": c.failed} if c is not None else {}
        return Status(state, counts)

    async def poll(self, batch_id: str) -> Status:
        return self._status(await self._call(self._client.batches.retrieve, batch_id))

    async def cancel(self, batch_id: str) -> Status:
        return self._status(await self._call(self._client.batches.cancel, batch_id))

    async def _lines(self, file_id: str | None) -> list[dict[str, Any]]:
        if not file_id:
            return []
        content = await self._call(self._client.files.content, file_id)
        return [json.loads(line) for line in content.text.splitlines() if line.strip()]

    async def results(self, batch_id: str, requests: dict[str, GenerateRequest]) -> dict[str, Result]:
        batch = await self._call(self._client.batches.retrieve, batch_id)
        out: dict[str, Result] = {}
        for line in await self._lines(batch.output_file_id) + await self._lines(batch.error_file_id):
            out[str(line.get("custom_id"))] = self._result(line)
        if batch.status == "failed":  # the input was refused as a whole: an error of each request
            why = "; ".join(e.message or "" for e in (batch.errors.data or [])) if batch.errors else "batch failed"
            out.update({cid: _errored(why, None) for cid in requests if cid not in out})
        return out

    async def aclose(self) -> None:
        await self._client.close()

    @staticmethod
    def _result(line: dict[str, Any]) -> Result:
        response = line.get("response")
        if response is None:
            code = str((line.get("error") or {}).get("code") or "")
            if code == "batch_expired":
                return Result("expired")
            if code == "batch_cancelled":
                return Result("canceled")
            return _errored(str((line.get("error") or {}).get("message") or code), None)
        status = response.get("status_code")
        body = response.get("body") or {}
        if status != 200:
            return _errored(str((body.get("error") or {}).get("message") or body), status)
        try:
            return Result("succeeded", response=wire.openai_reply(body))
        except ProviderError as exc:  # a malformed reply: an error of its sample, as live after its retries
            return _errored(str(exc), None)


_ANTHROPIC_STATUS = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
                     "not_found_error": 404, "rate_limit_error": 429, "api_error": 500, "overloaded_error": 529}


class AnthropicBatches:
    provider = "anthropic"
    max_requests = 100_000
    max_bytes = 240 * 1024 * 1024  # the API's limit is 256 MB

    def __init__(self, cfg: ModelConfig, *, api_key: str, base_url: str | None) -> None:
        import anthropic

        self._cfg = cfg
        self._sdk = anthropic
        self._client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=_CONTROL_RETRIES,
                                                timeout=cfg.request_timeout_s)

    def _item(self, cid: str, request: GenerateRequest) -> dict[str, Any]:
        return {"custom_id": cid, "params": wire.anthropic_params(self._cfg, request)}

    def line_bytes(self, cid: str, request: GenerateRequest) -> int:
        return len(json.dumps(self._item(cid, request)).encode()) + 2

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await sdk_call(self._sdk, "Anthropic", self._cfg, fn, *args, **kwargs)

    async def upload(self, items: list[tuple[str, GenerateRequest]]) -> str | None:
        return None  # the requests go inline, in create

    async def find(self, file_id: str) -> str | None:
        return None

    async def create(self, items: list[tuple[str, GenerateRequest]], file_id: str | None) -> str:
        seeds = {r.seed for _, r in items}
        headers = None
        if self._cfg.simulated and len(seeds) == 1 and None not in seeds:
            # As the live client tells the simulator its seed (the Messages API has no seed field).
            from evalsweep.simulator.anthropic_wire import SEED_HEADER

            headers = {SEED_HEADER: str(seeds.pop())}
        with _no_endpoint(self._cfg, "messages.batches.create"):
            batch = await self._call(self._client.messages.batches.create,
                                     requests=[self._item(cid, r) for cid, r in items], extra_headers=headers)
        return str(batch.id)

    @staticmethod
    def _status(batch: Any) -> Status:
        c = batch.request_counts
        return Status(batch.processing_status, {k: getattr(c, k) for k in
                                                ("processing", "succeeded", "errored", "canceled", "expired")})

    async def poll(self, batch_id: str) -> Status:
        return self._status(await self._call(self._client.messages.batches.retrieve, batch_id))

    async def cancel(self, batch_id: str) -> Status:
        return self._status(await self._call(self._client.messages.batches.cancel, batch_id))

    async def results(self, batch_id: str, requests: dict[str, GenerateRequest]) -> dict[str, Result]:
        out: dict[str, Result] = {}
        decoder = await self._call(self._client.messages.batches.results, batch_id)
        async for item in decoder:
            result = item.result
            if result.type == "succeeded":
                request = requests.get(item.custom_id)
                if request is None:  # not asked by this run (answered already): nothing to parse it with
                    out[item.custom_id] = Result("succeeded")
                    continue
                try:
                    out[item.custom_id] = Result("succeeded", response=wire.anthropic_reply(
                        result.message.model_dump(mode="json"), request))
                except ProviderError as exc:
                    out[item.custom_id] = _errored(str(exc), None)
            elif result.type == "errored":
                err = result.error.error
                out[item.custom_id] = _errored(err.message, _ANTHROPIC_STATUS.get(err.type))
            else:
                out[item.custom_id] = Result(result.type)
        return out

    async def aclose(self) -> None:
        await self._client.close()


BACKENDS: dict[str, type] = {"openai": OpenAIBatches, "anthropic": AnthropicBatches, "gemini": GeminiBatches}


def backend_for(cfg: ModelConfig, *, api_key: str, base_url: str | None) -> Backend:
    return BACKENDS[cfg.provider](cfg, api_key=api_key, base_url=base_url)  # type: ignore[no-any-return]
