"""The response cache: keys, JSON on disk, TTL, corrupt files, bypass and refresh, never caching
errors, never blocking the event loop, and four processes writing one file at once."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from evalsweep.cache import ResponseCache, cache_key
from evalsweep.cache.store import TABLE, open_dict
from evalsweep.config.model import ModelConfig, RetryConfig
from evalsweep.config.run import CacheConfig
from evalsweep.errors import CacheError
from evalsweep.llm.errors import TransientError
from evalsweep.llm.service import ModelService, key_extra
from evalsweep.llm.types import GenerateRequest, GenerateResponse, Message, Usage

from conftest import sim_server

ROOT = Path(__file__).resolve().parents[1]


def req(**kw: Any) -> GenerateRequest:
    base: dict[str, Any] = dict(provider="openai", model="sim", base_url=None, temperature=0.7, max_tokens=64,
                                seed=42, messages=[Message(role="system", content="Be brief."),
                                                   Message(role="user", content="What is 2 + 2?")])
    return GenerateRequest(**{**base, **kw})


def resp(text: str = "4") -> GenerateResponse:
    return GenerateResponse(text=text, usage=Usage(input_tokens=10, output_tokens=1), finish_reason="stop",
                            request_id="r1", model="sim", latency_s=0.3, attempts=2)


def raw_rows(path: Path) -> list[tuple[str, Any]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f'SELECT key, value FROM "{TABLE}"').fetchall()
    finally:
        conn.close()


# --- the key ---------------------------------------------------------------------------------


@pytest.mark.parametrize("change", [
    {"temperature": 0.2}, {"max_tokens": 65}, {"top_p": 0.9}, {"stop": ["\n"]}, {"seed": 43}, {"repeat": 1},
    {"model": "sim-weak"}, {"provider": "anthropic"}, {"base_url": "http://localhost:8000/v1"},
    {"messages": [Message(role="system", content="Be brief."), Message(role="user", content="What is 2 + 3?")]},
    {"messages": [Message(role="system", content="Be terse."), Message(role="user", content="What is 2 + 2?")]},
])
def test_everything_that_decides_the_answer_changes_the_key(change: dict[str, Any]) -> None:
    assert cache_key(req(**change)) != cache_key(req())


def test_a_requested_output_schema_is_in_the_key() -> None:
    from evalsweep.llm import types

    fmt_type = getattr(types, "ResponseFormat", None)
    if fmt_type is None:
        pytest.skip("no structured requests in this version")
    int_answer = fmt_type(name="Answer", json_schema={"type": "object", "properties": {"a": {"type": "integer"}}})
    str_answer = fmt_type(name="Answer", json_schema={"type": "object", "properties": {"a": {"type": "string"}}})
    keys = {cache_key(req()), cache_key(req(response_format=int_answer)), cache_key(req(response_format=str_answer))}
    assert len(keys) == 3


def test_seeds_get_their_own_entries() -> None:
    assert len({cache_key(req(seed=s)) for s in (42, 43, 44)}) == 3


def test_retries_timeouts_concurrency_limits_and_prices_are_not_in_the_key() -> None:
    a = ModelConfig(provider="openai", name="sim", simulated=True)
    b = a.model_copy(update={"request_timeout_s": 5.0, "max_concurrency": 3, "rpm": 10, "tpm": 999,
                             "retry": RetryConfig(max_attempts=2, max_wait_s=9), "max_cost_usd": 1.0})
    assert cache_key(req(), key_extra(a)) == cache_key(req(), key_extra(b))


def test_a_simulated_models_answer_profile_is_in_the_key() -> None:
    a = ModelConfig.model_validate({"provider": "openai", "name": "sim", "simulated": True,
                                    "simulator": {"accuracy": 0.75}})
    b = ModelConfig.model_validate({"provider": "openai", "name": "sim", "simulated": True,
                                    "simulator": {"accuracy": 0.95}})
    assert cache_key(req(), key_extra(a)) != cache_key(req(), key_extra(b))


# --- the file ----------------------------------------------------------------------------------


async def _put_and_close(path: Path, items: dict[str, GenerateResponse], ttl_s: float | None = None) -> None:
    cache = ResponseCache(path, ttl_s)
    for key, r in items.items():
        cache.put(key, req(), r)
    await cache.close()


async def _get(path: Path, key: str, ttl_s: float | None = None, prefetch: bool = False
               ) -> tuple[GenerateResponse | None, ResponseCache]:
    cache = ResponseCache(path, ttl_s)
    try:
        if prefetch:
            await cache.prefetch([key])
        return await cache.get(key), cache
    finally:
        await cache.close()


def test_values_are_json_not_pickle(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    asyncio.run(_put_and_close(path, {"k1": resp("four")}))
    [(key, value)] = raw_rows(path)
    assert key == "k1" and isinstance(value, str)  # TEXT, not a pickled BLOB
    entry = json.loads(value)
    assert entry["response"]["text"] == "four" and entry["model"] == "sim" and entry["provider"] == "openai"
    assert time.time() - entry["created"] < 60
    # How this answer was fetched is not stored: a hit reports its own.
    assert not {"cached", "latency_s", "attempts"} & set(entry["response"])


@pytest.mark.parametrize("prefetch", [False, True])
def test_an_entry_is_read_back_and_expires_after_its_ttl(tmp_path: Path, prefetch: bool) -> None:
    path = tmp_path / "c.sqlite"
    asyncio.run(_put_and_close(path, {"k": resp()}))
    hit, cache = asyncio.run(_get(path, "k", ttl_s=3600, prefetch=prefetch))
    assert hit is not None and hit.text == "4" and (cache.hits, cache.misses) == (1, 0)
    time.sleep(0.15)
    miss, cache = asyncio.run(_get(path, "k", ttl_s=0.1, prefetch=prefetch))
    assert miss is None and (cache.hits, cache.misses, cache.expired) == (0, 1, 1)
    hit, _ = asyncio.run(_get(path, "k", ttl_s=None, prefetch=prefetch))  # no TTL: never expires
    assert hit is not None


def test_a_corrupt_file_is_moved_aside_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database " * 200)
    with caplog.at_level(logging.WARNING):
        asyncio.run(_put_and_close(path, {"k": resp()}))
    aside = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")  # kept, not deleted
    assert str(path) in caplog.text and "moved it to" in caplog.text
    assert [k for k, _ in raw_rows(path)] == ["k"]  # a fresh cache took its place


def test_an_unopenable_path_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(CacheError, match=r"dir\.sqlite.*cache\.enabled=false"):
        open_dict(tmp_path / "dir.sqlite")
    assert (tmp_path / "dir.sqlite").is_dir()  # not moved: it is not corruption


def test_sqlite_never_runs_on_the_event_loop_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evalsweep.cache import response_cache

    calls: list[tuple[str, int]] = []
    real_open = response_cache.open_dict

    def open_spy(*a: Any, **kw: Any) -> Any:
        calls.append(("open_dict", threading.get_ident()))
        return real_open(*a, **kw)

    monkeypatch.setattr(response_cache, "open_dict", open_spy)
    for name in ("_select_sync", "_write_sync"):
        real = getattr(ResponseCache, name)

        def spy(self: ResponseCache, *a: Any, _real: Any = real, _name: str = name) -> Any:
            calls.append((_name, threading.get_ident()))
            return _real(self, *a)

        monkeypatch.setattr(ResponseCache, name, spy)

    async def main() -> int:
        cache = ResponseCache(tmp_path / "c.sqlite")
        await cache.prefetch([f"k{i}" for i in range(10)])
        for i in range(200):  # several batches
            cache.put(f"k{i}", req(), resp())
            await asyncio.sleep(0)
        await cache.get("other")  # not prefetched: a lookup of its own
        await cache.close()
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert {n for n, _ in calls} == {"open_dict", "_select_sync", "_write_sync"}
    assert all(ident != loop_thread for _, ident in calls)
    assert len(raw_rows(tmp_path / "c.sqlite")) == 200


def test_waiting_for_answers_never_holds_the_write_lock(tmp_path: Path) -> None:
    # A job whose next answer is slow to come must not keep other jobs from writing meanwhile
    # (a transaction left open across answers made them fail with "database is locked").
    path = tmp_path / "c.sqlite"

    async def main() -> None:
        cache = ResponseCache(path)
        await cache.prefetch(["mine"])  # as a job starts
        cache.put("mine", req(), resp())
        await asyncio.sleep(0.1)  # ... waiting for the next answer
        other = sqlite3.connect(path, timeout=0.2)  # another job, which would give up after 0.2 s
        with other:
            other.execute(f'REPLACE INTO "{TABLE}" (key, value) VALUES (?, ?)', ("theirs", "{}"))
        other.close()
        await cache.close()

    asyncio.run(main())
    assert {k for k, _ in raw_rows(path)} == {"mine", "theirs"}


def test_a_full_batch_is_committed_at_once_without_waiting(tmp_path: Path) -> None:
    from evalsweep.cache.response_cache import FLUSH_EVERY

    path = tmp_path / "c.sqlite"

    async def main() -> int:
        cache = ResponseCache(path)
        await cache.open()
        for i in range(FLUSH_EVERY):
            cache.put(f"k{i}", req(), resp())
        for _ in range(100):  # well under the 2 s timer
            await asyncio.sleep(0.01)
            if len(raw_rows(path)) == FLUSH_EVERY:
                break
        on_disk = len(raw_rows(path))
        await cache.close()
        return on_disk

    assert asyncio.run(main()) == FLUSH_EVERY


def test_answers_that_trickle_in_are_written_within_the_flush_interval(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from evalsweep.cache import response_cache

    monkeypatch.setattr(response_cache, "FLUSH_INTERVAL_S", 0.1)
    path = tmp_path / "c.sqlite"

    async def main() -> list[str]:
        cache = ResponseCache(path)
        cache.put("one", req(), resp())  # far fewer than a batch
        await asyncio.sleep(0.5)
        on_disk = [k for k, _ in raw_rows(path)]  # what a crash right now would keep
        await cache.close()
        return on_disk

    assert asyncio.run(main()) == ["one"]


# --- through the service, over HTTP -------------------------------------------------------------


def _svc(url: str, cache: CacheConfig, **kw: Any) -> ModelService:
    cfg = ModelConfig(provider="openai", name="sim", simulated=True, temperature=0.7,
                      retry=RetryConfig(max_attempts=2, initial_wait_s=0.01, max_backoff_s=0.02), **kw)
    return ModelService(cfg, cache, url)


async def _ask(svc: ModelService, r: GenerateRequest) -> Any:
    try:
        return await svc.generate(r)
    except TransientError as exc:
        return exc
    finally:
        await svc.aclose()


def test_errors_are_never_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALSWEEP_CACHE_PATH", str(tmp_path / "c.sqlite"))
    cc = CacheConfig()
    with sim_server(rate_500=1.0) as bad:
        assert isinstance(asyncio.run(_ask(_svc(bad.url, cc), req())), TransientError)
    assert raw_rows(tmp_path / "c.sqlite") == []
    with sim_server() as good:
        first = asyncio.run(_ask(_svc(good.url, cc), req()))
        second = asyncio.run(_ask(_svc(good.url, cc), req()))
        assert good.stats().requests_total == 1
    assert not first.cached and second.cached and second.text == first.text and second.attempts == 0


def test_disabled_cache_neither_reads_nor_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALSWEEP_CACHE_PATH", str(tmp_path / "c.sqlite"))
    with sim_server() as srv:
        for _ in range(2):
            asyncio.run(_ask(_svc(srv.url, CacheConfig(enabled=False)), req()))
        assert srv.stats().requests_total == 2
    assert not (tmp_path / "c.sqlite").exists()


def test_refresh_asks_again_and_overwrites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.sqlite"
    monkeypatch.setenv("EVALSWEEP_CACHE_PATH", str(path))
    with sim_server() as srv:
        asyncio.run(_ask(_svc(srv.url, CacheConfig()), req()))
        [(_, before)] = raw_rows(path)
        svc = _svc(srv.url, CacheConfig(refresh=True))
        fresh = asyncio.run(_ask(svc, req()))
        assert srv.stats().requests_total == 2 and not fresh.cached
        assert svc.stats().cache_misses == 1 and svc.stats().cache_hits == 0
        hit = asyncio.run(_ask(_svc(srv.url, CacheConfig()), req()))
        assert srv.stats().requests_total == 2 and hit.cached
    [(_, after)] = raw_rows(path)
    assert json.loads(after)["created"] > json.loads(before)["created"]
    assert json.loads(after)["response"]["request_id"] == fresh.request_id


# --- four processes, one file -------------------------------------------------------------------

_WRITER = r"""
import asyncio, sys, time
from pathlib import Path
from evalsweep.cache import ResponseCache
from evalsweep.llm.types import GenerateRequest, GenerateResponse, Message

path, who, n, start_at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
request = GenerateRequest(provider="openai", model="sim", messages=[Message(role="user", content="q")])

async def main():
    cache = ResponseCache(path)
    await cache.prefetch([f"{who}-{i}" for i in range(n)])
    while time.time() < start_at:  # all four start writing at the same moment
        await asyncio.sleep(0.005)
    for i in range(n):
        cache.put(f"{who}-{i}", request, GenerateResponse(text=f"{who} {i}"))
        if i % 7 == 0:
            await asyncio.sleep(0.001)  # answers arrive over time, so the processes' batches interleave
        if i % 50 == 0:
            assert (await cache.get(f"{who}-{i}")) is not None
    await cache.close()
    assert cache.error is None, cache.error
    print("wrote", cache.written)

asyncio.run(main())
"""


@pytest.mark.slow
def test_four_processes_write_one_file_at_once_and_lose_nothing(tmp_path: Path) -> None:
    path, n = tmp_path / "shared.sqlite", 600
    start_at = time.time() + 4.0  # after the four interpreters have started
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), f"p{w}", str(n), str(start_at)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
        assert "database is locked" not in err and "Traceback" not in err
        assert out.strip() == f"wrote {n}"
    keys = {k for k, _ in raw_rows(path)}
    assert keys == {f"p{w}-{i}" for w in range(4) for i in range(n)}
