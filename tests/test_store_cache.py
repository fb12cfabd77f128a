"""The response cache on the Redis store: a cache built in sqlite, exported and imported into
Redis, serves a re-run with zero requests, and back; the maintenance commands work on both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import summary
from redis_server import redis_url  # noqa: F401 - the fixture
from evalsweep.cache.__main__ import main as cache_cli

JOB = ["model=sim_strong", "dataset.max_samples=12", "++spec.skip_validation=true"]


def test_a_cache_exported_from_sqlite_and_imported_into_redis_serves_a_rerun_with_zero_requests(
        redis_url: str, tmp_path: Path, run_job_inproc, capsys: pytest.CaptureFixture[str]) -> None:
    sqlite_cache = tmp_path / "cache" / "responses.sqlite"  # run_job_inproc's private cache
    first = run_job_inproc(JOB, tmp_path / "laptop")
    assert summary(tmp_path / "laptop")["requests_sent"] == 12, first

    assert cache_cli(["export", str(tmp_path / "cache.jsonl"), "--path", str(sqlite_cache)]) == 0
    lines = (tmp_path / "cache.jsonl").read_text().splitlines()
    assert len(lines) == 12 and {"key", "value"} == set(json.loads(lines[0]))
    assert cache_cli(["import", str(tmp_path / "cache.jsonl"), "--store", redis_url]) == 0
    assert "imported 12 entries" in capsys.readouterr().out

    # The cluster run: the Redis store only (the sqlite file moved away), a new simulator port.
    sqlite_cache.rename(tmp_path / "laptop.sqlite")
    run_job_inproc([*JOB, f"store.url={redis_url}"], tmp_path / "cluster")
    s = summary(tmp_path / "cluster")
    assert s["requests_sent"] == 0 and s["cache"]["hits"] == 12 and s["cache"]["path"] == redis_url
    assert not sqlite_cache.exists()  # the job never opened a sqlite cache
    rows = [json.loads(x) for x in (tmp_path / "cluster" / "results.jsonl").read_text().splitlines()]
    laptop = [json.loads(x) for x in (tmp_path / "laptop" / "results.jsonl").read_text().splitlines()]
    assert sorted((r["sample_id"], r["output"]) for r in rows) == sorted((r["sample_id"], r["output"]) for r in laptop)

    # And back: Redis -> a fresh sqlite file, entry for entry.
    assert cache_cli(["export", str(tmp_path / "back.jsonl"), "--store", redis_url]) == 0
    assert cache_cli(["import", str(tmp_path / "back.jsonl"), "--path", str(tmp_path / "back.sqlite")]) == 0
    capsys.readouterr()
    assert cache_cli(["stats", "--json", "--path", str(tmp_path / "back.sqlite")]) == 0
    back = json.loads(capsys.readouterr().out)
    assert cache_cli(["stats", "--json", "--store", redis_url]) == 0
    on_redis = json.loads(capsys.readouterr().out)
    assert back["entries"] == on_redis["entries"] == 12
    assert back["by_model"][0]["model"] == on_redis["by_model"][0]["model"] == "sim-strong"


def test_maintenance_commands_work_on_the_redis_store(redis_url: str, tmp_path: Path, run_job_inproc,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    run_job_inproc([*JOB, f"store.url={redis_url}"], tmp_path / "job")
    assert cache_cli(["check", "--store", redis_url]) == 0
    assert "12 entries" in capsys.readouterr().out
    assert cache_cli(["clear", "--store", redis_url, "--model", "other-model"]) == 0
    assert "deleted 0 entries" in capsys.readouterr().out
    assert cache_cli(["prune", "--store", redis_url, "--older-than", "1d", "--dry-run"]) == 0
    assert "would delete 0 entries" in capsys.readouterr().out
    assert cache_cli(["clear", "--store", redis_url, "--model", "sim-strong"]) == 0
    assert "deleted 12 entries" in capsys.readouterr().out


def test_a_bad_import_file_changes_nothing_and_says_which_line(redis_url: str, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    good = json.dumps({"key": "a" * 64, "value": {"created": 1.0, "provider": "openai", "model": "m",
                                                  "response": {"text": "4"}}})
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good + "\n" + '{"key": "nothex", "value": {}}\n')
    assert cache_cli(["import", str(bad), "--store", redis_url]) == 2
    err = capsys.readouterr().err
    assert f"{bad} line 2" in err and len(err.strip().splitlines()) == 1
    assert cache_cli(["stats", "--json", "--store", redis_url]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 0  # line 1 was not written either


def test_a_batch_job_keeps_its_answers_in_the_redis_store(redis_url: str, tmp_path: Path, run_job_inproc) -> None:
    batch = [*JOB, f"store.url={redis_url}", "run.mode=batch", "run.batch_poll_s=0.02", "run.batch_poll_max_s=0.1"]
    run_job_inproc(batch, tmp_path / "batch")
    assert summary(tmp_path / "batch")["cache"]["path"] == redis_url
    # A live re-run elsewhere, on the same store: every answer is there.
    run_job_inproc([*JOB, f"store.url={redis_url}"], tmp_path / "live")
    s = summary(tmp_path / "live")
    assert s["requests_sent"] == 0 and s["cache"]["hits"] == 12
