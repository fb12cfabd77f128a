"""The report for several metrics and for groups: scores.<name> and metadata.<field> columns in the
tidy frame, one report section per metric with its statistics in its own units, --group-by tables per
metadata value, and the one-line errors for a metric or field the jobs lack. Job dirs are written as
the runner writes them (helpers from tests/test_report_load.py), rows carrying `scores` and `metadata`."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalsweep.report import ReportError, load_runs, write_report
from evalsweep.report.cli import main
from evalsweep.report.stats import power

_spec = importlib.util.spec_from_file_location("_report_helpers", Path(__file__).with_name("test_report_load.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)  # type: ignore[union-attr]

ROOT = Path(__file__).resolve().parents[1]
STRONG, WEAK = "model=sim-strong", "model=sim-weak"
N_ITEMS = 30
# (refusal rate, mean length) per model: the strong model refuses more and writes longer answers
MODELS = {"sim-weak": (0.2, 150.0), "sim-strong": (0.6, 220.0)}


def _rows(model: str, seed: int) -> list[dict]:
    """Rows as a job with a dict scorer writes them: score is the primary metric (refused), scores
    holds every metric, metadata the dataset's fields (category a/b alternating, no field on q029)."""
    rate, mean_length = MODELS[model]
    rng = np.random.default_rng(zlib.crc32(f"{model}/{seed}".encode()))
    out = []
    for i in range(N_ITEMS):
        refused = float(rng.uniform() < rate)
        length = float(round(mean_length + 40 * rng.normal()))
        meta = {} if i == N_ITEMS - 1 else {"category": "ab"[i % 2], "level": i % 3}
        out.append(H.record(f"q{i:03d}", refused, model=model, seed=seed, scores={"refused": refused, "length": length},
                            metadata=meta))
    return out


def _sweep(root: Path, seeds: tuple[int, ...] = (1, 2)) -> Path:
    sweep = root / "s"
    num = 0
    for model in MODELS:
        for seed in seeds:
            H.write_job(sweep / str(num), _rows(model, seed))
            num += 1
    return sweep


def _report(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "report.py"), *args],
                          capture_output=True, text=True, timeout=120)


# --- the frame -----------------------------------------------------------------------------------


def test_metrics_and_metadata_are_columns_of_the_frame(tmp_path: Path) -> None:
    job = H.write_job(tmp_path / "job", [
        H.record("q0", 1.0, scores={"refused": 1.0, "length": 212}, metadata={"category": "a", "tags": [1, 2]}),
        H.record("q1", 0.0, scores={"refused": 0.0, "length": 35, "polite": True}, metadata={"category": "b"}),
        H.record("q2", None, scores=None),  # errored: not scored
        H.record("q3", 1.0),  # a row from before scores
    ])
    runs = load_runs([job])
    df = runs.df.set_index("sample_id")
    assert runs.metrics == ["score", "refused", "length", "polite"]
    assert runs.metadata_fields == ["category", "tags"]
    assert df.loc["q0", "scores.length"] == 212 and df.loc["q1", "scores.polite"] == 1.0
    assert df[["scores.refused", "scores.length"]].loc[["q2", "q3"]].isna().all().all()
    assert math.isnan(df.loc["q0", "scores.polite"])
    assert df.loc["q0", "metadata.category"] == "a" and df.loc["q0", "metadata.tags"] == "[1,2]"
    assert df["score"].tolist()[:2] == [1.0, 0.0]  # score stays the column it was


def test_old_rows_have_only_the_score(tmp_path: Path) -> None:
    sweep = H.make_sweep(tmp_path, prompts=("cot",), seeds=(1,), n_items=20)
    result = write_report([sweep])
    assert result.loaded.metrics == ["score"] and list(result.comparisons) == ["score"]
    md = result.markdown.read_text()
    assert "Metric:" not in md and "Metrics:" not in md and "## Variants" in md
    assert not [c for c in result.loaded.df.columns if c.startswith(("scores.", "metadata."))]


def test_a_score_that_is_not_a_number_names_the_line(tmp_path: Path) -> None:
    job = H.write_job(tmp_path / "job", [H.record("q0", 1.0, scores={"length": 3}),
                                         H.record("q1", 1.0, scores={"length": "long"})])
    with pytest.raises(ReportError, match=r"line 2: scores.length 'long' is not a number or null"):
        load_runs([job])


# --- one section per metric ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def metrics_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics")
    return write_report([_sweep(root)], root / "out", mde_delta_by_metric={"length": 20})


def test_each_metric_gets_a_section_with_intervals_in_its_units(metrics_report) -> None:
    result = metrics_report
    # refused is the score's twin (the primary metric): by default it has no section of its own
    assert list(result.comparisons) == ["score", "length"]
    score, length = result.comparisons["score"], result.comparisons["length"]
    assert score.metric.same_as == ("refused",) and not length.metric.bounded
    sv = score.variants.set_index("variant")
    assert (sv["ci_method"] == "wilson, design effect").all()
    assert ((sv["ci_low"] >= 0) & (sv["ci_high"] <= 1)).all()
    lv = length.variants.set_index("variant")
    assert (lv["ci_method"] == "t").all()
    for v in (STRONG, WEAK):  # mean +- t(items-1) SE, in characters, nothing clipped
        half = lv.loc[v, "ci_high"] - lv.loc[v, "mean"]
        assert lv.loc[v, "ci_low"] > 100 and half > 1
        assert half == pytest.approx(lv.loc[v, "mean"] - lv.loc[v, "ci_low"])
    assert lv.loc[STRONG, "mean"] == pytest.approx(
        result.loaded.df[result.loaded.df["variant"] == STRONG].groupby("item")["scores.length"].mean().mean())
    # the paired delta in characters, unclipped, sized for the 20 characters asked for
    p = length.pairwise.iloc[0]
    assert (p["a"], p["b"]) == (STRONG, WEAK) and p["delta"] > 30 and p["ci_method"] == "t" and p["ci_high"] > 1
    assert p["n_needed"] == power.items_needed(p["omega2"], 20, p["alpha_corrected"])
    assert score.pairwise.iloc[0]["mde_delta"] == 0.05 and length.pairwise.iloc[0]["mde_delta"] == 20


def test_report_files_and_text_per_metric(metrics_report) -> None:
    out = metrics_report.out_dir
    for name in ("variants.csv", "pairwise.csv", "variants.length.csv", "pairwise.length.csv",
                 "variants_forest.png", "variants_forest.length.png"):
        assert (out / name).is_file(), name
    assert pd.read_csv(out / "variants.length.csv")["ci_method"].tolist() == ["t", "t"]
    md = metrics_report.markdown.read_text()
    assert md.index("## Metric: score") < md.index("## Metric: length") < md.index("## Tables (CSV)")
    assert md.count("### Variants\n") == 2 and md.count("### Pairwise differences") == 2
    assert "Metrics: score (0/1; the same values as refused), length (from " in md
    length = md[md.index("## Metric: length"):]
    assert "not in [0, 1]" in length and "items for Δ=20" in length and "| length a | length b |" in length
    lo, hi = metrics_report.comparisons["length"].variants.iloc[0][["ci_low", "ci_high"]]
    assert f"[{lo:.3f}, {hi:.3f}]" in length
    summary = metrics_report.summary()
    assert summary[f"report/variant/{STRONG}/mean"] == pytest.approx(0.65, abs=0.2)
    assert summary[f"report/metric/length/variant/{STRONG}/mean"] > 150


def test_named_metrics_in_the_order_asked(tmp_path: Path) -> None:
    result = write_report([_sweep(tmp_path)], tmp_path / "out", metrics=["length", "refused"])
    assert list(result.comparisons) == ["length", "refused"] and result.comparison.metric.name == "length"
    refused = result.comparisons["refused"]
    assert refused.metric.bounded and refused.metric.binary
    strong = result.loaded.df[result.loaded.df["variant"] == STRONG]
    assert refused.variants.set_index("variant").loc[STRONG, "mean"] == pytest.approx(
        strong.groupby("item")["scores.refused"].mean().mean())
    assert (result.out_dir / "variants.refused.csv").is_file() and not (result.out_dir / "variants.csv").exists()


def test_a_metric_off_the_unit_scale_needs_its_own_differences(tmp_path: Path, capsys) -> None:
    sweep = _sweep(tmp_path)
    out = tmp_path / "out"
    assert main([str(sweep), "--out", str(out), "--metric", "length", "--equivalence-margin", "0.05"]) == 0
    p = pd.read_csv(out / "pairwise.length.csv").iloc[0]
    assert math.isnan(p["n_needed"]) and p["mde"] > 1 and math.isnan(p["p_tost"])
    md = (out / "report.md").read_text()
    assert "pass --mde-delta length=D" in md and "No TOST for length" in md
    assert "report: metric length" in capsys.readouterr().out
    assert main([str(sweep), "--out", str(out), "--metric", "length", "--mde-delta", "length=20",
                 "--equivalence-margin", "length=200"]) == 0
    p = pd.read_csv(out / "pairwise.length.csv").iloc[0]
    assert p["n_needed"] >= 2 and p["equivalence_margin"] == 200 and p["p_tost"] < 0.05


def test_rows_without_a_value_are_not_counted_as_wrong(tmp_path: Path) -> None:
    recs = [H.record(f"q{i}", 1.0, scores={"length": None if i < 4 else 100.0 + i}) for i in range(12)]
    result = write_report([H.write_job(tmp_path / "job", recs)], metrics=["length"])
    row = result.comparison.variants.iloc[0]
    assert row["n_errors"] == 4 and row["n_items"] == 8
    assert "4 rows without a value left out" in row["note"] and math.isnan(row["mean_errors_as_wrong"])


# --- groups --------------------------------------------------------------------------------------


def test_group_by_gives_a_row_per_variant_and_group_with_clustered_ses(tmp_path: Path) -> None:
    result = write_report([_sweep(tmp_path, seeds=(1, 2, 3))], tmp_path / "out", group_by="category")
    df = result.loaded.df
    for comp in result.comparisons.values():
        g = comp.groups
        assert g is not None and sorted(zip(g["group"], g["variant"])) == [
            ("<unset>", STRONG), ("<unset>", WEAK), ("a", STRONG), ("a", WEAK), ("b", STRONG), ("b", WEAK)]
        row = g[(g["group"] == "a") & (g["variant"] == STRONG)].iloc[0]
        rows = df[(df["variant"] == STRONG) & (df["metadata.category"] == "a")]
        item_means = rows.groupby("item")[comp.metric.column].mean()
        assert row["n_items"] == 15 and row["n_obs"] == 45
        assert row["se"] == pytest.approx(item_means.std(ddof=1) / math.sqrt(15))  # clustered by item
        assert row["mean"] == pytest.approx(item_means.mean())
        p = comp.group_pairwise
        assert p is not None and p["group"].tolist() == ["<unset>", "a", "b"]
        assert (p["a"] == STRONG).all() and (p["b"] == WEAK).all()
        assert p.set_index("group").loc["a", "n_shared"] == 15
        assert p.set_index("group").loc["<unset>", "n_shared"] == 1  # one item: no t interval
        # one family of contrasts across the groups (the one-item group has a p too)
        assert (p["n_contrasts"] == 3).all() and (p["p_adj"] >= p["p"] - 1e-12).all()
    md = result.markdown.read_text()
    assert md.count("### Variants by category") == 2 and md.count("### Contrasts by category") == 2
    assert "Grouped by the metadata field category: 3 value(s)" in md
    by = pd.read_csv(result.out_dir / "variants_by_category.length.csv")
    assert list(by.columns[:4]) == ["group_by", "group", "rank", "variant"] and len(by) == 6


def test_group_by_a_numeric_field_and_its_long_name(tmp_path: Path) -> None:
    result = write_report([_sweep(tmp_path)], tmp_path / "out", group_by="metadata.level", metrics=["length"])
    assert result.comparison.group_by == "level"
    assert sorted(result.comparison.groups["group"].unique()) == ["0", "1", "2", "<unset>"]


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("args, what, fix", [
    (["--metric", "lenght"], "no metric 'lenght' in the results", "choose one of: score, refused, length"),
    (["--group-by", "topic"], "no metadata field 'topic' in the results", "group by one of: category, level"),
    (["--mde-delta", "words=5"], "mde_delta for 'words': no such metric", "name one of: score, refused, length"),
    (["--mde-delta", "refused=5"], "mde_delta for refused 5.0 is not in (0, 1]", "refused=0.05"),
])
def test_bad_metric_or_field_is_one_line_exit_2_and_nothing_written(tmp_path: Path, args: list[str], what: str,
                                                                     fix: str, capsys: pytest.CaptureFixture[str]) -> None:
    # In this process: the script's own exit code and stderr are checked by the test below.
    sweep = _sweep(tmp_path)
    out = tmp_path / "out"
    code = main([str(sweep), "--out", str(out), *args])
    stderr = capsys.readouterr().err
    lines = stderr.strip().splitlines()
    assert code == 2 and "Traceback" not in stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"report: error: {sweep}: {what}") and fix in lines[0]
    assert not out.exists() and not list(sweep.glob("*.csv")) and not (sweep / "report.md").exists()


def test_group_by_without_metadata_says_so(tmp_path: Path) -> None:
    sweep = H.make_sweep(tmp_path, prompts=("cot",), seeds=(1,), n_items=10)
    proc = _report([str(sweep), "--group-by", "category"])
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"report: error: {sweep}: cannot group by 'category': the rows carry no metadata "
                                   f"-- --group-by needs a dataset whose samples have metadata fields (each row's "
                                   f"metadata)")
    assert not (sweep / "report.md").exists()


def test_import_stays_cheap() -> None:
    code = "import sys, evalsweep.report; print('pandas' in sys.modules, 'scipy' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["False", "False"], proc.stderr
