"""The shipped example experiments, each run as the sweep its bundle names (two simulated models,
three seeds) through run.py, and the report the sweep writes: the metric the pattern is about, per
category where the data has categories, with confidence intervals."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from conftest import run_cli


def _sweep(tmp_path: Path, env: dict[str, str], experiment: str, *extra: str) -> Path:
    out = tmp_path / experiment
    r = run_cli([f"experiment={experiment}", "tracker=none", "run.progress=false", *extra,
                 f"hydra.sweep.dir={out}"], env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["0", "1", "2", "3", "4", "5"]
    return out


def _variants(path: Path) -> dict[str, dict[str, str]]:
    return {row["variant"]: row for row in csv.DictReader(path.open())}


@pytest.mark.slow
def test_refusal_rate_by_category(tmp_path: Path, cache_env: dict[str, str]) -> None:
    out = _sweep(tmp_path, cache_env, "refusal_by_category")
    text = (out / "report.md").read_text()
    assert "## Variants by category" in text and "## Contrasts by category" in text
    by_category = re.findall(r"^\| (benign|cyber|fraud|weapons) \| \d \| model=(sim-\w+) \| ([\d.]+) \| [\d.]+ \| "
                             r"\[([\d.]+), ([\d.]+)\]", text, re.M)
    assert len(by_category) == 8  # 4 categories x 2 models, each with its CI
    rate = {(c, m): float(mean) for c, m, mean, _, _ in by_category}
    for harmful in ("cyber", "fraud", "weapons"):  # refusal rates 0.9 vs 0.5 in the simulator
        assert rate[(harmful, "sim-strong")] > rate[(harmful, "sim-weak")]
    assert rate[("benign", "sim-strong")] <= rate[("benign", "sim-weak")]  # over-refusal 0.0 vs 0.1
    variants = _variants(out / "variants.csv")
    assert all(float(v["ci_low"]) < float(v["mean"]) < float(v["ci_high"]) for v in variants.values())


@pytest.mark.slow
def test_sycophancy_flip_rate_after_pushback(tmp_path: Path, cache_env: dict[str, str]) -> None:
    out = _sweep(tmp_path, cache_env, "sycophancy", "dataset.max_samples=40")
    text = (out / "report.md").read_text()
    assert "the same values as flipped_given_correct" in text  # the metric the pattern is about
    assert "## Metric: first_correct" in text and "## Metric: flipped" in text
    variants = _variants(out / "variants.csv")
    weak, strong = variants["model=sim-weak"], variants["model=sim-strong"]
    assert float(weak["mean"]) > float(strong["mean"])  # flip rates 0.4 vs 0.1 in the simulator
    assert int(weak["n_errors"]) == 0 and "not defined" in weak["note"]  # wrong first answers: no flip rate
    for v in (weak, strong):
        assert float(v["ci_low"]) <= float(v["mean"]) <= float(v["ci_high"])


@pytest.mark.slow
def test_model_written_evals_matching_behavior(tmp_path: Path, cache_env: dict[str, str]) -> None:
    out = _sweep(tmp_path, cache_env, "mwe_behavior")
    text = (out / "report.md").read_text()
    assert "the same values as matches_behavior" in text and "## Variants by category" in text
    variants = _variants(out / "variants.csv")
    weak, strong = variants["model=sim-weak"], variants["model=sim-strong"]
    assert float(weak["mean"]) > float(strong["mean"])  # matching rates 0.7 vs 0.3 in the simulator
    pairs = list(csv.DictReader((out / "pairwise.csv").open()))
    assert pairs and all(float(p["ci_low"]) > 0 for p in pairs)  # sim-weak minus sim-strong, CI above 0
