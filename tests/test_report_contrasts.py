"""The report's weighting, baseline contrasts and power, on job dirs written as the runner writes
them (helpers from tests/test_report_load.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalsweep.report import ReportError, write_report
from evalsweep.report.stats import power

_spec = importlib.util.spec_from_file_location("_report_helpers", Path(__file__).with_name("test_report_load.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)  # type: ignore[union-attr]

N_ITEMS = 40
EASY = set(range(N_ITEMS // 2))  # the first half of the items


def _incomplete_seeds_sweep(root: Path) -> Path:
    """The issue's example: A has 3 seeds on every item; B is worse on every kind of item but has six
    extra seeds on the easy items only, so averaging observations favours B."""
    rng = np.random.default_rng(11)
    p = {"sim-strong": (0.85, 0.35), "sim-weak": (0.8, 0.25)}  # (easy, hard) chance of a right answer
    extra = {"sim-strong": 0, "sim-weak": 6}
    num = 0
    for model, (easy, hard) in p.items():
        for seed in range(42, 45 + extra[model]):
            ids = range(N_ITEMS) if seed < 45 else sorted(EASY)
            recs = [H.record(f"q{i:03d}", float(rng.uniform() < (easy if i in EASY else hard)), model=model,
                             seed=seed) for i in ids]
            H.write_job(root / "s" / str(num), recs)
            num += 1
    return root / "s"


def test_incomplete_seeds_rank_in_the_order_of_the_paired_delta(tmp_path: Path) -> None:
    result = write_report([_incomplete_seeds_sweep(tmp_path)])
    v = result.comparison.variants.set_index("variant")
    a, b = "model=sim-strong", "model=sim-weak"
    # the trap is real: the mean over observations puts B first
    assert v.loc[b, "mean_obs"] > v.loc[a, "mean_obs"]
    # the table (item-weighted) ranks A first, and the paired delta agrees in sign
    assert v.loc[a, "rank"] < v.loc[b, "rank"]
    row = result.comparison.pairwise.iloc[0]
    assert (row["a"], row["b"]) == (a, b) and row["delta"] > 0
    assert row["delta"] == pytest.approx(v.loc[a, "mean"] - v.loc[b, "mean"], abs=1e-12)  # same items, same weights
    assert "each item weighs the same" in v.loc[b, "note"]


def test_errored_samples_get_a_counted_as_wrong_sensitivity(tmp_path: Path) -> None:
    recs = [H.record(f"q{i:03d}", None if i < 5 else 1.0) for i in range(20)]
    H.write_job(tmp_path / "s" / "0", recs)
    v = write_report([tmp_path / "s"]).comparison.variants.iloc[0]
    assert v["mean"] == 1.0 and v["n_errors"] == 5
    assert v["mean_errors_as_wrong"] == pytest.approx(15 / 20)
    assert 0 <= v["ci_low_errors_as_wrong"] < v["ci_high_errors_as_wrong"] <= 1


def _baseline_sweep(root: Path, baseline: str | None) -> Path:
    sweep = H.make_sweep(root)
    if baseline is not None:
        for job in sweep.iterdir():
            cfg_path = job / ".hydra" / "config.yaml"
            if cfg_path.is_file():
                cfg = json.loads(cfg_path.read_text())
                cfg["spec"] = {"baseline": baseline}
                cfg_path.write_text(json.dumps(cfg))
                summary = json.loads((job / "summary.json").read_text())
                summary["config"] = cfg
                (job / "summary.json").write_text(json.dumps(summary))
    return sweep


def test_spec_baseline_gives_k_minus_1_contrasts_that_lead_the_report(tmp_path: Path) -> None:
    sweep = _baseline_sweep(tmp_path, "model=sim-weak prompt=direct")
    result = write_report([sweep])
    p = result.comparison.pairwise
    base = "model=sim-weak,prompt=direct"
    assert len(p) == 3 and (p["b"] == base).all() and (p["contrast"] == "baseline").all()
    # the correction and the power are for 3 contrasts, not 6 pairs
    assert (p["n_contrasts"] == 3).all() and p["alpha_corrected"].iloc[0] == pytest.approx(0.05 / 3)
    r = p.iloc[0]
    assert r["mde"] == pytest.approx(power.mde_t(r["omega2"], int(r["n_shared"]), 0.05 / 3))
    assert r["n_needed"] == power.items_needed(r["omega2"], 0.05, 0.05 / 3)
    md = result.markdown.read_text()
    contrasts = md.index("## Contrasts with the baseline (model=sim-weak prompt=direct, from spec.baseline)")
    assert contrasts < md.index("## Variants")
    assert "α=0.0167" in md
    # --all-pairs keeps every pair
    every = write_report([sweep], tmp_path / "all", all_pairs=True).comparison.pairwise
    assert len(every) == 6 and (every["contrast"] == "all pairs").all()


def test_baseline_naming_only_the_model_pairs_within_each_prompt(tmp_path: Path) -> None:
    result = write_report([_baseline_sweep(tmp_path, None)], baseline="model=sim-weak")
    p = result.comparison.pairwise
    got = sorted(zip(p["a"], p["b"]))
    assert got == [("model=sim-strong,prompt=cot", "model=sim-weak,prompt=cot"),
                   ("model=sim-strong,prompt=direct", "model=sim-weak,prompt=direct")]


def test_unknown_explicit_baseline_is_a_report_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="matches no variant"):
        write_report([_baseline_sweep(tmp_path, None)], baseline="model=gpt-9")


def test_constant_gap_is_significant_and_its_mde_says_why_not(tmp_path: Path) -> None:
    H.write_job(tmp_path / "s" / "0", [H.record(f"q{i:03d}", 1.0, model="sim-strong") for i in range(30)])
    H.write_job(tmp_path / "s" / "1", [H.record(f"q{i:03d}", 0.0, model="sim-weak") for i in range(30)])
    result = write_report([tmp_path / "s"])
    r = result.comparison.pairwise.iloc[0]
    assert r["p"] == pytest.approx(2 / 2**30) and bool(r["significant"])
    assert np.isnan(r["mde"]) and "no variance" in r["mde_note"] and np.isnan(r["n_needed"])
    assert 0.7 < r["ci_low"] < 1 and r["ci_high"] == 1.0
    md = result.markdown.read_text()
    assert "the item differences have no variance" in md


def test_equivalence_margin_gives_a_tost_verdict(tmp_path: Path) -> None:
    sweep = H.make_sweep(tmp_path, prompts=("direct",), n_items=40)
    p = write_report([sweep], equivalence_margin=0.9).comparison.pairwise
    assert p["p_tost"].notna().all() and bool(p["equivalent"].iloc[0])
    p = write_report([sweep], tmp_path / "o", equivalence_margin=0.01).comparison.pairwise
    assert not bool(p["equivalent"].iloc[0])
    csv = pd.read_csv(tmp_path / "o" / "pairwise.csv")
    assert {"p_tost", "equivalent", "equivalence_margin", "p_signflip", "p_z", "p_mcnemar"} <= set(csv.columns)
