"""Loading job dirs into the report's tidy DataFrame. The helpers at the top write job dirs the
way the runner does; tests/test_report_render.py reuses them."""

from __future__ import annotations

import json
import logging
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evalsweep.report import ReportError, load_runs

ACCURACY = {"sim-weak": 0.45, "sim-strong": 0.9}
PROMPT_BONUS = {"direct": 0.0, "cot": 0.05}


def record(sample_id: str, score: float | None, *, model: str = "sim-strong", prompt: str = "direct",
           dataset: str = "arithmetic", seed: int = 42, repeat: int = 0, **extra: Any) -> dict[str, Any]:
    rec = {
        "sample_id": sample_id, "model": model, "provider": "openai", "prompt": prompt,
        "dataset": dataset, "seed": seed, "repeat": repeat,
        "messages": [{"role": "user", "content": f"question {sample_id}"}],
        "output": None if score is None else f"answer to {sample_id} ({'right' if score else 'wrong'})",
        "target": f"t{sample_id}", "score": score, "scorer": "exact",
        "usage": {"input_tokens": 10, "output_tokens": 5}, "cost_usd": 0.0, "latency_s": 0.01,
        "cached": False,
        "error": None if score is not None else {"type": "RateLimitError", "message": "429", "status": 429},
        "simulated": True, "metadata": {},
    }
    rec.update(extra)
    return rec


def write_job(job: Path, records: list[dict[str, Any]], *, status: str | None = "complete",
              config: dict[str, Any] | None = None, torn: bool = False) -> Path:
    """A job dir as the runner leaves it: results.jsonl, summary.json (unless status is None),
    .hydra/config.yaml and .hydra/overrides.yaml."""
    job.mkdir(parents=True, exist_ok=True)
    first = records[0] if records else record("x", 1.0)
    cfg = config or {
        "model": {"name": first["model"], "provider": "openai", "temperature": 0.7,
                  "max_concurrency": 32, "base_url": None},
        "dataset": {"name": first["dataset"], "max_samples": 50},
        "prompt": {"name": first["prompt"]},
        "seed": first["seed"], "repeats": 1, "cache": {"enabled": True}, "tracker": "wandb",
    }
    lines = [json.dumps(r) for r in records]
    text = "\n".join(lines) + "\n"
    if torn:
        text += json.dumps(record("torn", 1.0, model=first["model"]))[:37]  # a crash mid-write
    (job / "results.jsonl").write_text(text)
    hydra = job / ".hydra"
    hydra.mkdir(exist_ok=True)
    (hydra / "config.yaml").write_text(json.dumps(cfg))  # JSON is YAML
    (hydra / "overrides.yaml").write_text(
        f"- model={cfg['model']['name']}\n- prompt={cfg['prompt']['name']}\n- seed={cfg['seed']}\n")
    if status is not None:
        scored = [r for r in records if r.get("score") is not None]
        summary = {"status": status, "n_samples": len(records), "n_scored": len(scored),
                   "n_errors": len(records) - len(scored), "metrics": {}, "config": cfg,
                   "git": {"commit": "abc1234def5678", "dirty": False}}
        (job / "summary.json").write_text(json.dumps(summary))
    return job


def job_records(model: str, prompt: str, seed: int, n_items: int = 40, dataset: str = "arithmetic",
                accuracy: float | None = None) -> list[dict[str, Any]]:
    """0/1 scores drawn per item from a fixed item difficulty and the model's accuracy (or, when
    accuracy is given, that exact chance on every item)."""
    difficulty = np.random.default_rng(7).uniform(-0.3, 0.3, n_items)  # shared by every variant
    rng = np.random.default_rng(zlib.crc32(f"{model}/{prompt}/{seed}".encode()))  # stable
    p = ACCURACY[model] + PROMPT_BONUS[prompt] - difficulty if accuracy is None else np.full(n_items, accuracy)
    scores = (rng.uniform(size=n_items) < np.clip(p, 0, 1)).astype(float)
    return [record(f"q{i:03d}", float(s), model=model, prompt=prompt, dataset=dataset, seed=seed)
            for i, s in enumerate(scores)]


def make_sweep(root: Path, models=("sim-weak", "sim-strong"), prompts=("direct", "cot"),
               seeds=(42, 43, 44), n_items: int = 40) -> Path:
    """multirun/<date>/<time>/ with one job subdir per model x prompt x seed, as Hydra numbers them."""
    sweep = root / "multirun" / "2026-11-26" / "11-23-53.123456"
    num = 0
    for model in models:
        for prompt in prompts:
            for seed in seeds:
                write_job(sweep / str(num), job_records(model, prompt, seed, n_items))
                num += 1
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    return sweep


# --- tests ---------------------------------------------------------------------------------------


def test_multirun_expands_jobs_labels_variants_without_seed(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path)
    runs = load_runs([sweep])
    assert [j.path.name for j in runs.jobs] == [str(i) for i in range(12)]  # 10, 11 after 9
    assert len(runs.df) == 2 * 2 * 3 * 40
    assert sorted(runs.df["variant"].unique()) == [
        "model=sim-strong,prompt=cot", "model=sim-strong,prompt=direct",
        "model=sim-weak,prompt=cot", "model=sim-weak,prompt=direct",
    ]
    assert runs.label_keys == ["model.name", "prompt.name"]
    assert runs.missing == [] and runs.warnings == []
    for col in ("job_dir", "variant", "model", "prompt", "dataset", "seed", "repeat", "sample_id",
                "item", "score", "error_type", "output", "target", "cached", "latency_s",
                "input_tokens", "output_tokens", "cost_usd", "model.name", "prompt.name"):
        assert col in runs.df.columns, col
    assert "seed" not in runs.label_keys and "hydra.run.dir" not in runs.df.columns
    assert runs.df["item"].iloc[0] == "arithmetic:q000"
    assert set(runs.df["seed"]) == {42, 43, 44}
    assert runs.simulated


def test_single_job_dir_is_labelled_by_model(tmp_path: Path) -> None:
    job = write_job(tmp_path / "outputs" / "2026-11-26" / "11-00-00", job_records("sim-weak", "cot", 1))
    runs = load_runs([job])
    assert set(runs.df["variant"]) == {"sim-weak"}
    assert runs.label_keys == []


def test_same_job_given_twice_is_loaded_once(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path, models=("sim-weak",), prompts=("direct",), seeds=(1,))
    runs = load_runs([sweep, sweep / "0"])
    assert len(runs.jobs) == 1 and len(runs.df) == 40


def test_label_uses_fewest_keys_and_keeps_real_differences(tmp_path: Path) -> None:
    base = {"dataset": {"name": "arithmetic"}, "prompt": {"name": "direct"}, "seed": 1}
    for i, (name, provider, temp) in enumerate([("a", "openai", 0.0), ("b", "anthropic", 0.0),
                                                 ("a", "openai", 0.7)]):
        cfg = dict(base, model={"name": name, "provider": provider, "temperature": temp,
                                "base_url": f"http://127.0.0.1:{5000 + i}"})
        write_job(tmp_path / str(i), job_records("sim-weak", "direct", 1, 10), config=cfg)
    runs = load_runs([tmp_path])
    # provider follows the name, base_url is a loopback port: neither makes a variant
    assert runs.label_keys == ["model.name", "model.temperature"]
    assert sorted(runs.df["variant"].unique()) == [
        "model=a,model.temperature=0", "model=a,model.temperature=0.7", "model=b,model.temperature=0"]
    assert "model.provider" in runs.config_columns and "model.base_url" not in runs.config_columns


def test_torn_last_line_is_dropped_with_a_warning(tmp_path: Path, caplog) -> None:
    job = write_job(tmp_path / "job", job_records("sim-weak", "cot", 1, 10), torn=True)
    with caplog.at_level(logging.WARNING):
        runs = load_runs([job])
    assert len(runs.df) == 10
    assert len(runs.warnings) == 1 and "torn last line 11" in runs.warnings[0]
    assert "torn last line" in caplog.text


def test_bad_line_mid_file_names_file_and_line(tmp_path: Path) -> None:
    job = write_job(tmp_path / "job", job_records("sim-weak", "cot", 1, 5))
    lines = (job / "results.jsonl").read_text().splitlines()
    lines[2] = lines[2][:20]
    (job / "results.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ReportError) as err:
        load_runs([job])
    msg = str(err.value)
    assert "line 3" in msg and "results.jsonl" in msg and "\n" not in msg


def test_record_without_score_is_an_error(tmp_path: Path) -> None:
    rec = record("q1", 1.0)
    del rec["score"]
    job = write_job(tmp_path / "job", [record("q0", 1.0), rec])
    with pytest.raises(ReportError, match="line 2 has no score"):
        load_runs([job])


def test_empty_dir_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="empty directory") as err:
        load_runs([tmp_path / "empty"])
    assert "multirun" in str(err.value)  # says how to fix


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no such file or directory"):
        load_runs([tmp_path / "nope"])


def test_dir_without_job_dirs_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "sweep" / "notes").mkdir(parents=True)
    with pytest.raises(ReportError, match="no job dirs"):
        load_runs([tmp_path / "sweep"])


def test_date_dir_points_at_its_sweeps(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path, models=("sim-weak",), prompts=("direct",), seeds=(1,))
    with pytest.raises(ReportError, match="11-23-53.123456"):
        load_runs([sweep.parent])


def test_jobs_without_results_are_a_clear_error(tmp_path: Path) -> None:
    for i in range(2):
        (tmp_path / "sweep" / str(i) / ".hydra").mkdir(parents=True)
    with pytest.raises(ReportError, match="no results to report") as err:
        load_runs([tmp_path / "sweep"])
    assert "no results.jsonl" in str(err.value)


def test_missing_summary_and_failed_status_are_reported(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    write_job(sweep / "0", job_records("sim-weak", "cot", 1, 10))
    write_job(sweep / "1", job_records("sim-weak", "cot", 2, 10), status=None)
    write_job(sweep / "2", job_records("sim-weak", "cot", 3, 10), status="failed")
    write_job(sweep / "3", job_records("sim-weak", "cot", 4, 10), status="incomplete")
    (sweep / "4" / ".hydra").mkdir(parents=True)
    runs = load_runs([sweep])
    reasons = {p.name: r for p, r in runs.missing}
    assert reasons["1"].startswith("no summary.json (still running or crashed)")
    assert reasons["2"] == "status failed; its rows are left out"
    assert reasons["3"].startswith("status incomplete")
    assert reasons["4"].startswith("no results.jsonl")
    assert "0" not in reasons
    assert sorted(runs.df["seed"].unique()) == [1, 2, 4]  # the failed job's rows are left out
    assert [j.included for j in runs.jobs] == [True, True, False, True, False]


def test_errored_rows_keep_null_score_and_error_type(tmp_path: Path) -> None:
    job = write_job(tmp_path / "job", [record("q0", 1.0), record("q1", None)])
    df = load_runs([job]).df
    assert df["score"].isna().tolist() == [False, True]
    assert df["error_type"].tolist()[1] == "RateLimitError"


def test_duplicate_rows_keep_the_last(tmp_path: Path) -> None:
    job = write_job(tmp_path / "job", [record("q0", None), record("q1", 0.0), record("q0", 1.0)])
    runs = load_runs([job])
    assert len(runs.df) == 2
    assert runs.df.set_index("sample_id").loc["q0", "score"] == 1.0
    assert "duplicate" in runs.warnings[0]


def test_extra_score_columns_are_joined(tmp_path: Path) -> None:
    job = write_job(tmp_path / "job", [record("q0", 1.0), record("q1", 0.0)])
    extra = [{"sample_id": "q1", "seed": 42, "repeat": 0, "refusal": 1.0, "score": 0.5}]
    (job / "results.classify.jsonl").write_text("\n".join(json.dumps(e) for e in extra) + "\n")
    df = load_runs([job]).df.set_index("sample_id")
    assert df.loc["q1", "refusal"] == 1.0 and np.isnan(df.loc["q0", "refusal"])
    assert df.loc["q1", "classify.score"] == 0.5 and df.loc["q1", "score"] == 0.0


def test_overrides_stand_in_when_no_config(tmp_path: Path) -> None:
    for i, model in enumerate(("sim-weak", "sim-strong")):
        job = write_job(tmp_path / str(i), job_records(model, "cot", 1, 5), status=None)
        (job / ".hydra" / "config.yaml").unlink()
        (job / ".hydra" / "overrides.yaml").write_text(f"- model={model.replace('-', '_')}\n- seed=1\n")
    runs = load_runs([tmp_path])
    assert sorted(runs.df["variant"].unique()) == ["model=sim_strong", "model=sim_weak"]


def test_empty_results_file_is_no_results(tmp_path: Path) -> None:
    job = write_job(tmp_path / "job", [record("q0", 1.0)])
    (job / "results.jsonl").write_text("\n")
    with pytest.raises(ReportError, match="results.jsonl is empty"):
        load_runs([job])


def test_per_job_paths_in_config_do_not_split_seeds(tmp_path: Path) -> None:
    for seed in (1, 2):
        cfg = {"model": {"name": "m"}, "prompt": {"name": "p"}, "dataset": {"name": "d"}, "seed": seed,
               "output_dir": f"/runs/{seed}", "started_utc": f"2026-11-26T11:0{seed}"}
        write_job(tmp_path / str(seed), job_records("sim-weak", "cot", seed, 5), config=cfg)
    runs = load_runs([tmp_path])
    assert set(runs.df["variant"]) == {"m"} and runs.label_keys == []
