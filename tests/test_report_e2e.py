"""A real simulator sweep, reported by the on_multirun_end callback and by the report command."""

from __future__ import annotations

import csv
from pathlib import Path

from conftest import run_cli
from evalsweep.report.cli import main as report_main


def test_sweep_report_ranks_strong_above_weak_with_significant_paired_difference(
        tmp_path: Path, cache_env: dict[str, str]) -> None:
    sweep = tmp_path / "sweep"
    proc = run_cli(["-m", "model=sim_weak,sim_strong", "prompt=direct,cot", "seed=42,43,44",
                    "dataset.max_samples=30", "tracker=none", f"hydra.sweep.dir={sweep}"], env=cache_env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Written by the callback at the end of the multirun.
    for name in ("report.md", "report.html", "variants.csv", "pairwise.csv", "prompt_sensitivity.csv",
                 "variants_forest.png", "pairwise_forest.png", "seeds_strip.png"):
        assert (sweep / name).exists(), name
    variants = list(csv.DictReader((sweep / "variants.csv").open()))
    assert len(variants) == 4
    ranked = [v["variant"] for v in sorted(variants, key=lambda v: int(v["rank"]))]
    assert all("sim-strong" in v for v in ranked[:2]) and all("sim-weak" in v for v in ranked[2:])
    pairs = list(csv.DictReader((sweep / "pairwise.csv").open()))
    same_prompt = [p for p in pairs if "sim-strong" in p["a"] and "sim-weak" in p["b"]
                   and p["a"].split("prompt=")[-1] == p["b"].split("prompt=")[-1]]
    assert len(same_prompt) == 2
    for p in same_prompt:
        assert p["status"] == "paired" and int(p["n_shared"]) == 30
        assert float(p["delta"]) > 0.25 and float(p["p_adj"]) < 0.01
    md = (sweep / "report.md").read_text()
    assert "simulator, not a real model" in md
    html = (sweep / "report.html").read_text()
    assert "data:image/png;base64," in html and "<img" in html

    # The same report, by hand, into another dir (in this process: the README test runs the script).
    out = tmp_path / "by_hand"
    assert report_main([str(sweep), "--out", str(out)]) == 0
    assert (out / "report.md").read_text().count("sim-strong") >= 2
