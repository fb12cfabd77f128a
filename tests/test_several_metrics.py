"""Several metrics at once: a scorer returns named numbers on any scale, `scorer.also` adds more
scorers, each row holds `scores`, summary.json gives every metric its mean and CI, `score` stays the
primary metric, and a scorer that raises is recorded on its sample instead of stopping the job."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from conftest import read_jsonl, run_cli

import evalsweep
from evalsweep.errors import ConfigError
from evalsweep.task.data import Sample
from evalsweep.task.scorer_api import ScoreInput

BASE = {"tracker": "none", "run": {"progress": False}, "cache": {"enabled": False},
        "spec": {"skip_validation": True}, "dataset": {"max_samples": 10}}


def refusal_and_length(output: str, sample: Sample) -> dict[str, float]:
    """A researcher's scorer outside the package: two metrics, one of them not in [0, 1]."""
    return {"refused": float(output.lower().startswith("i can't")), "length": float(len(output) * 53)}


refusal_and_length.metrics = ("refused", "length")  # type: ignore[attr-defined]


async def last_turn_digits(item: ScoreInput) -> float:
    """An async scorer that takes the whole item (conversation and outputs)."""
    assert item.messages and item.outputs and item.outputs[-1] == item.text
    assert item.conversation[-1].role == "assistant" and item.conversation[-1].content == item.outputs[-1]
    return float(sum(c.isdigit() for c in item.text))


def breaks_on_some(output: str, sample: Sample) -> float:
    if sample.id.endswith(("1", "3")):
        raise ValueError(f"cannot score {sample.id}")
    return 1.0


def _job(tmp_path: Path, name: str, scorer: dict) -> tuple[list[dict], dict]:
    evalsweep.run_job({**BASE, "scorer": scorer}, out_dir=tmp_path / name)
    return read_jsonl(tmp_path / name / "results.jsonl"), json.loads((tmp_path / name / "summary.json").read_text())


def test_a_dict_scorer_and_an_also_scorer_give_every_metric_in_rows_and_summary(tmp_path: Path,
                                                                               private_cache: None) -> None:
    rows, summary = _job(tmp_path, "j", {"type": "test_several_metrics:refusal_and_length",
                                         "also": ["numeric", "test_several_metrics:last_turn_digits"]})
    assert len(rows) == 10
    for r in rows:
        assert set(r["scores"]) == {"refused", "length", "numeric", "last_turn_digits"}
        assert r["score"] == r["scores"]["refused"]  # the first metric of scorer.type is the primary
        assert r["scores"]["length"] == len(r["output"]) * 53
    metrics = summary["metrics"]
    assert set(metrics) == {"score", "length", "numeric", "last_turn_digits"}  # refused is `score`
    lengths = [r["scores"]["length"] for r in rows]
    assert metrics["length"]["mean"] == pytest.approx(sum(lengths) / 10)
    lo, hi = metrics["length"]["ci95"]
    assert lo < metrics["length"]["mean"] < hi and hi > 1.0  # in the metric's own units, not clipped
    assert metrics["numeric"]["mean"] == pytest.approx(sum(r["scores"]["numeric"] for r in rows) / 10)


def test_scorer_primary_picks_the_metric_recorded_as_score(tmp_path: Path, private_cache: None) -> None:
    rows, summary = _job(tmp_path, "j", {"type": "test_several_metrics:refusal_and_length", "primary": "length"})
    assert all(r["score"] == r["scores"]["length"] for r in rows)
    assert summary["metrics"]["score"]["mean"] == pytest.approx(sum(r["score"] for r in rows) / 10)
    assert set(summary["metrics"]) == {"score", "refused"}


def test_the_default_job_keeps_one_metric_named_score(tmp_path: Path, private_cache: None) -> None:
    evalsweep.run_job(BASE, out_dir=tmp_path / "j")
    rows = read_jsonl(tmp_path / "j" / "results.jsonl")
    summary = json.loads((tmp_path / "j" / "summary.json").read_text())
    assert set(summary["metrics"]) == {"score"}
    assert all(r["scores"] == {"numeric": r["score"]} for r in rows)


def test_a_scorer_that_raises_is_recorded_on_its_sample_and_the_job_goes_on(tmp_path: Path,
                                                                           private_cache: None) -> None:
    rows, summary = _job(tmp_path, "j", {"type": "test_several_metrics:breaks_on_some"})
    bad = [r for r in rows if r["sample_id"].endswith(("1", "3"))]
    assert bad and len(bad) < len(rows)
    for r in bad:
        assert r["score"] is None and r["scores"] is None and r["output"] is not None
        assert r["error"]["type"] == "ValueError" and r["sample_id"] in r["error"]["message"]
    assert summary["n_errors"] == len(bad) and summary["errors_by_type"] == {"ValueError": len(bad)}
    assert summary["metrics"]["score"]["n"] == len(rows) - len(bad)


def test_a_primary_metric_no_scorer_produces_stops_before_any_request(tmp_path: Path, private_cache: None) -> None:
    with pytest.raises(ConfigError, match="scorer.primary=refusd: no scorer of this job produces it; its "
                                          "scorers produce refused, length"):
        evalsweep.run_job({**BASE, "scorer": {"type": "test_several_metrics:refusal_and_length",
                                              "primary": "refusd"}}, out_dir=tmp_path / "j")
    assert not (tmp_path / "j" / "results.jsonl").exists()


def test_bad_scorer_settings_are_one_line_and_exit_2(tmp_path: Path, cache_env: dict[str, str]) -> None:
    r = run_cli(["tracker=none", "dataset.max_samples=2", "scorer.also=[numeric,numeric]",
                 f"hydra.run.dir={tmp_path / 'j'}"], env=cache_env)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "scorer.also names a scorer twice" in lines[0] and "Traceback" not in r.stderr


def test_both_metrics_reach_the_wandb_run(tmp_path: Path, private_cache: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from evalsweep.tracking.wandb_offline import find_run_files, read_run

    for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR"):
        monkeypatch.delenv(var, raising=False)  # the tracker's default: an offline run in the job dir
    monkeypatch.setenv("WANDB_SILENT", "true")
    evalsweep.run_job({**BASE, "tracker": "wandb", "scorer": {"type": "test_several_metrics:refusal_and_length"}},
                      out_dir=tmp_path / "j")
    summary = json.loads((tmp_path / "j" / "summary.json").read_text())
    deadline = time.monotonic() + 60
    run = read_run(find_run_files(tmp_path / "j")[0])
    while run.exit_code is None and time.monotonic() < deadline:  # wandb's service may still be writing
        time.sleep(0.2)
        run = read_run(find_run_files(tmp_path / "j")[0])
    assert run.summary["score/mean"] == pytest.approx(summary["metrics"]["score"]["mean"])  # refused
    assert run.summary["length/mean"] == pytest.approx(summary["metrics"]["length"]["mean"])
    assert run.summary["length/ci95_high"] == pytest.approx(summary["metrics"]["length"]["ci95"][1])


def test_both_metrics_reach_the_dataframe_and_the_report(tmp_path: Path, private_cache: None) -> None:
    from evalsweep.report import load_runs, write_report

    for seed in (1, 2):
        evalsweep.run_job({**BASE, "seed": seed, "scorer": {"type": "test_several_metrics:refusal_and_length"}},
                          out_dir=tmp_path / "sweep" / str(seed))
    df = load_runs([tmp_path / "sweep"]).df
    assert {"scores.refused", "scores.length"} <= set(df.columns) and len(df) == 20
    assert (df["score"] == df["scores.refused"]).all()
    result = write_report([tmp_path / "sweep"], tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Metric: length" in text
    assert set(result.comparisons) >= {"length"}


def wrong_shape(output: str, sample: Sample, extra: int) -> float:
    return 0.0


@pytest.mark.parametrize(("scorer", "message"), [
    ({"type": "test_several_metrics:wrong_shape"},
     "scorer test_several_metrics:wrong_shape: a scorer function takes (output, sample) or (item), but it takes "
     "(output, sample, extra); change its parameters"),
    ({"type": "test_several_metrics:refusal_and_length", "also": ["mylab.nowhere:score"]},
     "cannot import module 'mylab.nowhere'"),
])
def test_a_scorer_that_cannot_score_stops_before_any_request(tmp_path: Path, private_cache: None, scorer: dict,
                                                             message: str) -> None:
    from evalsweep.errors import EvalsweepError

    with pytest.raises(EvalsweepError, match=re.escape(message)) as err:
        evalsweep.run_job({**BASE, "scorer": scorer}, out_dir=tmp_path / "j")
    assert err.value.exit_code == 2 and not (tmp_path / "j" / "results.jsonl").exists()


def test_an_also_scorer_that_needs_targets_is_refused_on_data_without_any(tmp_path: Path, private_cache: None) -> None:
    from evalsweep.errors import DatasetError

    with pytest.raises(DatasetError, match="scorer 'numeric' compares each output with the sample's target"):
        evalsweep.run_job({**BASE, "dataset": "refusals", "prompt": "plain",
                           "scorer": {"type": "refusal", "also": ["numeric"]}}, out_dir=tmp_path / "j")


def test_a_judge_and_a_rule_scorer_score_the_same_outputs(tmp_path: Path, private_cache: None) -> None:
    evalsweep.run_job(["scorer=judge", "scorer.judge=sim_strong", "scorer.also=[numeric]", "tracker=none",
                       "run.progress=false", "dataset.max_samples=6", "spec.skip_validation=true"],
                      out_dir=tmp_path / "j")
    rows = read_jsonl(tmp_path / "j" / "results.jsonl")
    summary = json.loads((tmp_path / "j" / "summary.json").read_text())
    for r in rows:
        assert set(r["scores"]) == {"judge", "numeric"} and r["score"] == r["scores"]["judge"] == r["judge"]["score"]
    assert summary["judge"]["graded"] == 6 and set(summary["metrics"]) == {"score", "numeric"}

