"""Items are paired by what they are, not by a name; and a parameter the provider is never sent
makes no variant and no cache entry of its own."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from evalsweep.cache.keys import cache_key, key_payload
from evalsweep.task.data import Sample
from evalsweep.task.fingerprint import dataset_fingerprint, short
from evalsweep.llm.types import GenerateRequest, Message
from evalsweep.report import load_runs, write_report

_spec = importlib.util.spec_from_file_location("_report_helpers", Path(__file__).with_name("test_report_load.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)  # type: ignore[union-attr]

SAMPLES = [Sample(id="q1", input="2+2?", target="4"), Sample(id="q2", input="3+3?", target="6"),
           Sample(id="q3", input="Pick", target="B", choices=["A", "B"])]


# ---- the fingerprint -----------------------------------------------------------------------------

def test_fingerprint_is_of_the_contents_in_id_order() -> None:
    fp = dataset_fingerprint(SAMPLES)
    assert fp.startswith("sha256:") and len(fp) == len("sha256:") + 64
    assert dataset_fingerprint(reversed(SAMPLES)) == fp  # row order and shuffle do not count
    with_meta = [s.model_copy(update={"metadata": {"difficulty": 3}}) for s in SAMPLES]
    assert dataset_fingerprint(with_meta) == fp  # metadata does not decide what is asked
    for changed in ({"input": "2+3?"}, {"target": "5"}, {"id": "q9"}, {"choices": ["A", "B"]}):
        other = [SAMPLES[0].model_copy(update=changed), *SAMPLES[1:]]
        assert dataset_fingerprint(other) != fp, changed
    assert dataset_fingerprint(SAMPLES[:2]) != fp  # another subset is other contents
    # Field boundaries are kept: moving text from input to target changes it.
    a = [Sample(id="x", input="ab", target="c")]
    b = [Sample(id="x", input="a", target="bc")]
    assert dataset_fingerprint(a) != dataset_fingerprint(b)
    assert short(fp) == fp[len("sha256:"):][:12] and short(None) == "unknown"


def test_summary_carries_the_fingerprint() -> None:
    from evalsweep.job.summary import Summary

    assert Summary.model_fields["dataset_fingerprint"].default is None
    assert "dataset_fingerprint" in Summary.model_fields


# ---- the report: same name, different contents ---------------------------------------------------

def _job(path: Path, model: str, fingerprint: str | None, n: int = 40, provider: str = "openai",
         extra_model: dict[str, Any] | None = None, seed: int = 1) -> Path:
    records = H.job_records(model, "direct", seed, n, accuracy=None if model in H.ACCURACY else 0.8)
    for r in records:
        r["provider"] = provider
    cfg = {"model": {"name": model, "provider": provider, "temperature": 0.7, **(extra_model or {})},
           "dataset": {"name": "arithmetic", "max_samples": n}, "prompt": {"name": "direct"}, "seed": seed}
    H.write_job(path, records, config=cfg)
    if fingerprint is not None:
        summary = json.loads((path / "summary.json").read_text())
        summary["dataset_fingerprint"] = fingerprint
        (path / "summary.json").write_text(json.dumps(summary))
    return path


FP_A = "sha256:" + hashlib.sha256(b"file a").hexdigest()
FP_B = "sha256:" + hashlib.sha256(b"file b").hexdigest()


def test_same_name_other_contents_are_not_paired(tmp_path: Path) -> None:
    _job(tmp_path / "s" / "0", "sim-strong", FP_A)
    _job(tmp_path / "s" / "1", "sim-weak", FP_B)
    result = write_report([tmp_path / "s"])
    row = result.comparison.pairwise.iloc[0]
    assert row["n_shared"] == 0
    assert row["status"] == (f"not paired: dataset arithmetic has other contents in each (fingerprint "
                             f"{short(FP_A)} vs {short(FP_B)}): the same ids are different questions")
    assert any("dataset arithmetic: its jobs asked different items under one name" in w for w in result.warnings)
    df = result.loaded.df
    assert set(df["item"].str.split(":").str[0]) == {f"arithmetic@{short(FP_A)}", f"arithmetic@{short(FP_B)}"}
    assert set(df["dataset_fingerprint"]) == {FP_A, FP_B}
    md = result.markdown.read_text()
    assert "has other contents in each" in md and "different items under one name" in md
    assert not result.comparison.disagreements


def test_same_contents_are_paired_and_items_keep_their_names(tmp_path: Path) -> None:
    _job(tmp_path / "s" / "0", "sim-strong", FP_A)
    _job(tmp_path / "s" / "1", "sim-weak", FP_A)
    result = write_report([tmp_path / "s"])
    row = result.comparison.pairwise.iloc[0]
    assert row["status"] == "paired" and row["n_shared"] == 40
    assert result.loaded.df["item"].str.startswith("arithmetic:q").all()  # unchanged item keys
    assert not any("different items under one name" in w for w in result.warnings)


def test_one_fingerprint_shared_pairs_on_it(tmp_path: Path) -> None:
    """A variant whose seeds used two contents still pairs, on the contents both variants asked."""
    _job(tmp_path / "s" / "0", "sim-strong", FP_A, seed=1)
    _job(tmp_path / "s" / "1", "sim-weak", FP_A, seed=1)
    _job(tmp_path / "s" / "2", "sim-weak", FP_B, seed=2)
    row = write_report([tmp_path / "s"]).comparison.pairwise.iloc[0]
    assert row["status"] == "paired" and row["n_shared"] == 40


def test_jobs_from_before_the_fingerprint_pair_by_name(tmp_path: Path) -> None:
    _job(tmp_path / "s" / "0", "sim-strong", None)
    _job(tmp_path / "s" / "1", "sim-weak", None)
    row = write_report([tmp_path / "s"]).comparison.pairwise.iloc[0]
    assert row["status"] == "paired" and row["n_shared"] == 40


# ---- labels: what reaches the model --------------------------------------------------------------

def test_a_temperature_sweep_over_real_claude_is_one_variant(tmp_path: Path) -> None:
    real = {"simulated": False}
    _job(tmp_path / "s" / "0", "claude-sonnet-4-5", FP_A, provider="anthropic", extra_model={**real, "temperature": 0.0})
    _job(tmp_path / "s" / "1", "claude-sonnet-4-5", FP_A, provider="anthropic", extra_model={**real, "temperature": 0.7})
    loaded = load_runs([tmp_path / "s"])
    assert loaded.variants == ["claude-sonnet-4-5"] and "model.temperature" not in loaded.label_keys
    assert any("model.temperature was set to 0, 0.7" in w and "never sent temperature" in w for w in loaded.warnings)
    assert any("2 jobs are variant claude-sonnet-4-5 with seed 1" in w for w in loaded.warnings)


def test_simulated_anthropic_keeps_temperature_in_its_label(tmp_path: Path) -> None:
    sim = {"simulated": True}
    _job(tmp_path / "s" / "0", "sim-strong", FP_A, provider="anthropic", extra_model={**sim, "temperature": 0.0})
    _job(tmp_path / "s" / "1", "sim-strong", FP_A, provider="anthropic", extra_model={**sim, "temperature": 0.7})
    loaded = load_runs([tmp_path / "s"])
    assert loaded.variants == ["model.temperature=0", "model.temperature=0.7"]
    assert not any("never sent" in w for w in loaded.warnings)


def test_claude_next_to_gpt_shows_not_sent(tmp_path: Path) -> None:
    _job(tmp_path / "s" / "0", "claude-sonnet-4-5", FP_A, provider="anthropic",
         extra_model={"simulated": False, "temperature": 0.7})
    _job(tmp_path / "s" / "1", "gpt-4o", FP_A, extra_model={"simulated": False, "temperature": 0.0})
    _job(tmp_path / "s" / "2", "gpt-4o", FP_A, extra_model={"simulated": False, "temperature": 0.7})
    loaded = load_runs([tmp_path / "s"])
    assert sorted(loaded.variants) == ["model=claude-sonnet-4-5,model.temperature=not sent",
                                       "model=gpt-4o,model.temperature=0", "model=gpt-4o,model.temperature=0.7"]


# ---- the cache key -------------------------------------------------------------------------------

def _old_key_payload(request: GenerateRequest, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """evalsweep.cache.keys.key_payload as it was before parameters not sent left the key (verbatim)."""
    payload: dict[str, Any] = {
        "v": 1, "provider": request.provider, "model": request.model, "base_url": request.base_url,
        "messages": [[m.role, m.content] for m in request.messages], "temperature": request.temperature,
        "max_tokens": request.max_tokens, "top_p": request.top_p, "stop": request.stop, "seed": request.seed,
        "repeat": request.repeat, "extra": extra or {},
    }
    fmt = getattr(request, "response_format", None)
    if fmt is not None:
        payload["response_format"] = fmt.model_dump(mode="json")
    return payload


def _old_cache_key(request: GenerateRequest, extra: dict[str, Any] | None = None) -> str:
    canonical = json.dumps(_old_key_payload(request, extra), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _req(**kw: Any) -> GenerateRequest:
    base: dict[str, Any] = dict(provider="openai", model="gpt-4o", base_url=None, temperature=0.7, max_tokens=256,
                                top_p=0.9, stop=["\n\n"], seed=42, repeat=1,
                                messages=[Message(role="system", content="Be brief."),
                                          Message(role="user", content="What is 2 + 2?")])
    return GenerateRequest(**{**base, **kw})


SIM_EXTRA = {"simulator": {"accuracy": 0.92, "cot_bonus": 0.05}}


def test_openai_and_simulated_keys_are_unchanged_byte_for_byte() -> None:
    # The digests the old function gave (fixed here, so a change to both copies is caught too).
    assert cache_key(_req()) == "702ba6c73e5a46ebabd3146795a30fbd1308a916f6ac08ce8b56f8f5d67a4dd7"
    sim = _req(provider="anthropic", model="sim-strong")
    assert cache_key(sim, SIM_EXTRA) == "816a284ee895c29b9b1749484653100721c7682034f3f631dfb65417ee422076"
    for request, extra in [(_req(), None), (_req(temperature=0.0, top_p=None, stop=None, seed=None), None),
                           (_req(base_url="http://x/v1"), None),
                           (sim, SIM_EXTRA), (sim.model_copy(update={"temperature": 0.1}), SIM_EXTRA)]:
        assert key_payload(request, extra) == _old_key_payload(request, extra)
        assert cache_key(request, extra) == _old_cache_key(request, extra)
    assert cache_key(sim, simulated=True) == _old_cache_key(sim)  # said outright, even without a profile


def test_a_simulators_key_does_not_depend_on_its_port() -> None:
    # A simulator started per run listens on a new port each time: its answers (decided by the
    # profile in `extra`) are the same, so the key is too, and equal to the auto-started one's.
    profile = {"simulator": {"accuracy": 0.5, "cot_bonus": 0.0}}
    ports = {cache_key(_req(base_url=f"http://127.0.0.1:{port}/v1"), profile) for port in (41001, 52002)}
    assert ports == {cache_key(_req(base_url=None), profile)}
    # A real server's URL still decides the key.
    assert cache_key(_req(base_url="http://a/v1"), simulated=False) != cache_key(_req(base_url="http://b/v1"),
                                                                                  simulated=False)


def test_real_claude_key_leaves_out_what_is_not_sent() -> None:
    claude = _req(provider="anthropic", model="claude-sonnet-4-5")
    payload = key_payload(claude)
    assert "temperature" not in payload and "top_p" not in payload
    assert payload["seed"] == 42 and payload["stop"] == ["\n\n"] and payload["max_tokens"] == 256
    assert cache_key(claude) == cache_key(claude.model_copy(update={"temperature": 0.0, "top_p": None}))
    assert cache_key(claude, simulated=False) == cache_key(claude)
    for changed in ({"seed": 43}, {"max_tokens": 10}, {"stop": None}, {"repeat": 0}, {"model": "claude-opus-4"}):
        assert cache_key(claude.model_copy(update=changed)) != cache_key(claude), changed
    # A simulator answering as Claude reads temperature: it stays in that key.
    assert cache_key(claude, SIM_EXTRA) != cache_key(claude.model_copy(update={"temperature": 0.0}), SIM_EXTRA)
