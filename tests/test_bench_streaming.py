"""What keeps a job's memory flat in the number of samples (docs/benchmarks.md, memory):
samples held as tuples, work items rendered as they are taken, and the cache not holding every
answer it wrote. Each still behaves as before for the code that uses it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from evalsweep.cache import ResponseCache, cache_key
from evalsweep.config.dataset import DatasetConfig, FieldMap
from evalsweep.config.model import ModelConfig
from evalsweep.config.run import CacheConfig
from evalsweep.config.task import PromptConfig
from evalsweep.task.data import Sample, Samples, load_dataset
from evalsweep.llm.service import ModelService, key_extra
from evalsweep.llm.types import GenerateRequest, GenerateResponse, Message
from evalsweep.job.prefetch import AheadPrefetch
from evalsweep.job.runner import WorkItem
from evalsweep.job.work import JobWork

PROMPT = PromptConfig(name="p", system="Answer.", user="{input}")


def _dataset(tmp_path: Path, n: int = 6, **kw) -> Samples:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "question": f"What is {i} + 1?", "answer": str(i + 1),
                                        "level": "easy" if i % 2 else "hard"}) + "\n" for i in range(n)))
    fields = FieldMap(id="id", input="question", target="answer", metadata=["level"])
    return load_dataset(DatasetConfig(name="t", path=str(path), fields=fields, **kw), seed=3)


def test_samples_read_back_as_models_in_order_with_slices(tmp_path: Path) -> None:
    samples = _dataset(tmp_path, shuffle=False)
    assert len(samples) == 6 and list(samples.ids()) == [f"q{i}" for i in range(6)]
    first = samples[0]
    assert isinstance(first, Sample) and (first.input, first.target, first.metadata) == ("What is 0 + 1?", "1",
                                                                                       {"level": "hard"})
    assert [s.id for s in samples[2:4]] == ["q2", "q3"] and isinstance(samples[2:4], Samples)
    assert samples[-1].id == "q5"
    # Each read is its own model: changing one read's metadata cannot change the dataset.
    first.metadata["level"] = "changed"
    assert samples[0].metadata == {"level": "hard"}


def test_work_renders_every_sample_and_repeat_and_is_iterable_again(tmp_path: Path) -> None:
    samples = _dataset(tmp_path, shuffle=False)
    work = JobWork(samples, PROMPT, repeats=2, seed=7)
    items = list(work)
    assert len(work) == len(items) == 12
    assert [(w.sample.id, w.repeat) for w in items[:3]] == [("q0", 0), ("q0", 1), ("q1", 0)]
    assert [m.content for m in items[0].messages] == ["Answer.", "What is 0 + 1?"]
    assert [(w.sample.id, w.repeat) for w in work] == [(w.sample.id, w.repeat) for w in items]
    # Not rendered ahead: the generator makes the first item only when asked.
    it = iter(work)
    assert next(it).sample.id == "q0"


def test_work_without_done_skips_exactly_those_and_knows_its_own(tmp_path: Path) -> None:
    work = JobWork(_dataset(tmp_path, shuffle=False), PROMPT, repeats=2, seed=7)
    done = {("q0", 7, 0): object(), ("q3", 7, 1): object(), ("q0", 8, 1): object()}
    todo = work.without(done)
    assert len(todo) == 10 == len(list(todo))
    assert ("q0", 0) not in {(w.sample.id, w.repeat) for w in todo} and ("q0", 1) in {
        (w.sample.id, w.repeat) for w in todo}
    assert ("q0", 7, 1) in work and ("q5", 7, 0) in work
    # Another seed, a repeat beyond the job's count or an item outside the subset is not this job's.
    assert ("q0", 8, 1) not in work and ("q0", 7, 2) not in work and ("zz", 7, 0) not in work


def _req(text: str) -> GenerateRequest:
    return GenerateRequest(provider="openai", model="sim", messages=[Message(role="user", content=text)])


def test_an_answer_written_in_this_job_is_a_hit_before_and_after_its_batch_is_committed(tmp_path: Path) -> None:
    async def go() -> None:
        cache = ResponseCache(tmp_path / "c.sqlite")
        await cache.prefetch(["k1", "k2"])  # both absent
        cache.put("k1", _req("a"), GenerateResponse(text="one"))
        assert "k1" not in cache._known  # not held twice: _pending has it until the file does
        hit = await cache.get("k1")
        assert hit is not None and hit.text == "one"
        cache._start_flush()
        await asyncio.sleep(0)  # the flush has taken the batch and is writing it
        assert not cache._pending and "k1" in cache._writing
        hit = await cache.get("k1")
        assert hit is not None and hit.text == "one"
        await cache._flush_task
        assert not cache._pending and not cache._writing and cache.written == 1
        hit = await cache.get("k1")  # now from the file
        assert hit is not None and hit.text == "one"
        assert await cache.get("k2") is None
        assert (cache.hits, cache.misses) == (3, 1)
        await cache.close()

    asyncio.run(go())


def test_cache_lookups_run_a_window_ahead_and_let_go_of_answered_keys(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALSWEEP_CACHE_PATH", str(tmp_path / "c.sqlite"))
    model = ModelConfig(provider="openai", name="sim", simulated=True)
    work = JobWork(_dataset(tmp_path, n=50, shuffle=False), PROMPT, repeats=1, seed=1)

    def request_of(item: WorkItem) -> GenerateRequest:
        return GenerateRequest(provider="openai", model="sim", messages=item.messages, seed=1)

    async def fill() -> None:
        service = ModelService(model, CacheConfig(), None)
        await service.prefetch(())
        assert service.cache is not None
        for w in work:
            r = request_of(w)
            service.cache.put(cache_key(r, key_extra(model)), r, GenerateResponse(text=w.sample.target))
        await service.aclose()

    async def rerun() -> tuple[list[str], ResponseCache, list[int]]:
        batches: list[int] = []
        select = ResponseCache._select_sync
        monkeypatch.setattr(ResponseCache, "_select_sync",
                            lambda self, db, keys: batches.append(len(keys)) or select(self, db, keys))
        service = ModelService(model, CacheConfig(), None)
        ahead = AheadPrefetch(service, work, request_of, window=8)
        texts = []
        assert service.cache is not None
        for item in await ahead.start():
            # Never more than a window and a half of looked-up keys waiting: memory flat in the job size.
            assert len(service.cache._known) <= 12
            texts.append((await service.generate(request_of(item))).text)
            await asyncio.sleep(0.01)  # the look-ahead runs between asks, as it does between a job's workers
        await ahead.aclose()
        cache = service.cache
        await service.aclose()
        return texts, cache, batches

    asyncio.run(fill())
    texts, cache, batches = asyncio.run(rerun())
    assert texts == [w.sample.target for w in work]
    assert (cache.hits, cache.misses) == (50, 0) and not cache._known
    assert len(batches) >= 7 and max(batches) <= 8  # in windows, never the whole job at once


def test_without_a_cache_the_work_goes_straight_to_the_workers(tmp_path: Path) -> None:
    model = ModelConfig(provider="openai", name="sim", simulated=True)
    work = JobWork(_dataset(tmp_path, n=5, shuffle=False), PROMPT, repeats=1, seed=1)

    async def go() -> list[str]:
        service = ModelService(model, CacheConfig(enabled=False), None)
        ahead = AheadPrefetch(service, work, lambda w: GenerateRequest(provider="openai", model="sim",
                                                                       messages=w.messages))
        items = [w.sample.id for w in await ahead.start()]
        await ahead.aclose()
        return items

    assert asyncio.run(go()) == [f"q{i}" for i in range(5)]
    with pytest.raises(TypeError, match="iterate twice"):
        AheadPrefetch(ModelService(model, CacheConfig(enabled=False), None), iter(work), lambda w: None)  # type: ignore[arg-type]


def test_fewer_collections_raises_the_young_threshold_and_restores_it() -> None:
    import gc

    from evalsweep.job.gctune import fewer_collections

    before = gc.get_threshold()
    with fewer_collections(young=12_345):
        assert gc.get_threshold() == (max(before[0], 12_345), *before[1:])
        assert gc.isenabled()
    assert gc.get_threshold() == before
    try:
        with fewer_collections(young=12_345):
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert gc.get_threshold() == before  # a job that stops on Ctrl-C leaves the process as it found it
