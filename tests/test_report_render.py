"""write_report end to end on synthetic job dirs: tables, plots, report.md, report.html, the CLI,
and the bad inputs that must give a clear line or a report that says what it could not do."""

from __future__ import annotations

import base64
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from evalsweep.report import ReportError, ReportResult, write_report
from evalsweep.report.cli import main

# The job-dir writers live in test_report_load.py; load them by path so this works whether or not
# tests/ is a package.
_spec = importlib.util.spec_from_file_location("_report_helpers", Path(__file__).with_name("test_report_load.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)  # type: ignore[union-attr]

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
STRONG_COT, WEAK_DIRECT = "model=sim-strong,prompt=cot", "model=sim-weak,prompt=direct"


@pytest.fixture(scope="module")
def sweep_report(tmp_path_factory) -> ReportResult:
    sweep = H.make_sweep(tmp_path_factory.mktemp("sweep"))
    return write_report([sweep])


def test_strong_model_ranks_first_with_significant_holm_difference(sweep_report: ReportResult) -> None:
    out = sweep_report.out_dir
    variants = pd.read_csv(out / "variants.csv")
    assert variants["variant"].tolist()[:2] == [STRONG_COT, "model=sim-strong,prompt=direct"]
    assert variants["rank"].tolist() == [1, 2, 3, 4]
    assert (variants["n_items"] == 40).all() and (variants["n_seeds"] == 3).all()
    assert (variants["ci_method"] == "wilson, design effect").all()  # inside [0, 1], item-weighted
    pairs = pd.read_csv(out / "pairwise.csv")
    assert len(pairs) == 6 and (pairs["status"] == "paired").all()
    row = pairs[(pairs["a"] == STRONG_COT) & (pairs["b"] == WEAK_DIRECT)].iloc[0]
    assert row["delta"] > 0.3 and row["ci_low"] > 0
    assert row["correction"] == "holm" and row["p_adj"] < 0.05 and bool(row["significant"])
    assert (pairs["p_adj"] >= pairs["p"] - 1e-12).all()
    # the two prompts of the strong model are close: no claim of a difference
    same_model = pairs[(pairs["a"] == STRONG_COT) & (pairs["b"] == "model=sim-strong,prompt=direct")].iloc[0]
    assert not bool(same_model["significant"])
    assert same_model["mde"] > abs(same_model["delta"])


def test_all_files_are_written(sweep_report: ReportResult) -> None:
    out = sweep_report.out_dir
    for name in ("report.md", "report.html", "variants.csv", "pairwise.csv", "prompt_sensitivity.csv",
                 "variants_forest.png", "pairwise_forest.png", "seeds_strip.png"):
        assert (out / name).is_file(), name
    assert len(list(out.glob("disagreements_*_vs_*.csv"))) == 6
    pngs = list(out.glob("*.png"))
    assert len(pngs) == 4 and all(p.read_bytes().startswith(PNG) for p in pngs)
    dis = pd.read_csv(out / "disagreements_model-sim-strong_prompt-cot_vs_model-sim-weak_prompt-direct.csv")
    assert list(dis.columns) == ["item", "sample_id", "target", "score_a", "score_b", "diff", "output_a", "output_b"]
    assert (dis["diff"] != 0).all() and dis["diff"].abs().is_monotonic_decreasing


def test_prompt_sensitivity_table(sweep_report: ReportResult) -> None:
    s = pd.read_csv(sweep_report.out_dir / "prompt_sensitivity.csv").set_index("group")
    assert set(s.index) == {"sim-strong", "sim-weak"}
    row = s.loc["sim-weak"]
    assert row["range_across_prompts"] == pytest.approx(abs(row["mean_cot"] - row["mean_direct"]))
    assert row["n_prompts"] == 2
    # the prompt effect is net of sampling noise, on the 40 items scored under both prompts
    assert (s["items_all_prompts"] == 40).all()
    assert (s["sd_prompt_effect"] <= s["sd_across_prompts"] + 1e-12).all()
    assert ((s["sd_prompt_effect_ci_low"] <= s["sd_prompt_effect"])
            & (s["sd_prompt_effect"] <= s["sd_prompt_effect_ci_high"])).all()
    assert s["p_prompts_differ"].between(0, 1).all()
    assert "prompt effect SD [95% CI]" in sweep_report.markdown.read_text()


def test_markdown_says_what_it_shows(sweep_report: ReportResult) -> None:
    md = sweep_report.markdown.read_text()
    assert "Results from the evalsweep simulator, not a real model" in md
    assert "Jobs found: 12 (12 with results), 4 variant(s), 40 item(s)" in md
    for section in ("## Variants", "## Pairwise differences", "## Prompt sensitivity", "## Top disagreements"):
        assert section in md
    assert md.index(f"| 1 | {STRONG_COT} |") < md.index(f"| 4 | {WEAK_DIRECT} |")
    assert "p adj (holm)" in md
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (sweep_report.out_dir / link).is_file()


def test_html_is_self_contained(sweep_report: ReportResult) -> None:
    page = sweep_report.html.read_text()
    sources = re.findall(r"src='([^']*)'", page)
    assert len(sources) == 4 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert base64.b64decode(sources[0].split(",", 1)[1]).startswith(PNG)
    assert "<table>" in page and "not a real model" in page
    links = re.findall(r"href=['\"]([^'\"]*)", page)  # the contents list: in-page anchors only
    assert links and all(link.startswith("#") for link in links)


def test_summary_for_trackers(sweep_report: ReportResult) -> None:
    summary = sweep_report.summary()
    assert summary["report/n_variants"] == 4
    assert summary[f"report/variant/{STRONG_COT}/n_items"] == 40
    assert summary[f"report/pair/{STRONG_COT} vs {WEAK_DIRECT}/p_adj"] < 0.05


def test_different_datasets_are_not_paired(tmp_path: Path) -> None:
    H.write_job(tmp_path / "sweep" / "0", H.job_records("sim-strong", "cot", 1, 20, dataset="arithmetic"))
    H.write_job(tmp_path / "sweep" / "1", H.job_records("sim-weak", "cot", 1, 20, dataset="arithmetic_mc"))
    result = write_report([tmp_path / "sweep"])
    pairs = pd.read_csv(result.out_dir / "pairwise.csv")
    assert pairs["status"].tolist() == ["not paired: different items (dataset arithmetic vs arithmetic_mc)"]
    assert pairs["p"].isna().all() and pairs["p_adj"].isna().all()
    md = result.markdown.read_text()
    assert "not paired: different items (dataset arithmetic vs arithmetic_mc)" in md
    assert not list(result.out_dir.glob("disagreements_*"))
    assert not (result.out_dir / "pairwise_forest.png").exists()


def test_zero_correct_variant_gets_a_wilson_interval(tmp_path: Path) -> None:
    H.write_job(tmp_path / "sweep" / "0", H.job_records("sim-strong", "direct", 1, 30))
    H.write_job(tmp_path / "sweep" / "1", H.job_records("sim-weak", "direct", 1, 30, accuracy=0.0))
    result = write_report([tmp_path / "sweep"])
    v = result.comparison.variants.set_index("variant")
    zero = v.loc["model=sim-weak"]
    assert zero["mean"] == 0 and zero["ci_method"] == "wilson"
    assert zero["ci_low"] == 0 and zero["ci_high"] == pytest.approx(0.113513, abs=1e-6)
    assert "one seed: no seed spread" in zero["note"]
    assert "[0.000, 0.114]" in result.markdown.read_text()


def test_torn_last_line_still_gives_a_report(tmp_path: Path) -> None:
    H.write_job(tmp_path / "sweep" / "0", H.job_records("sim-weak", "cot", 1, 10), torn=True)
    result = write_report([tmp_path / "sweep"])
    assert len(result.loaded.df) == 10
    assert "dropped torn last line 11" in result.markdown.read_text()


def test_missing_jobs_are_listed(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    H.write_job(sweep / "0", H.job_records("sim-weak", "cot", 1, 10))
    H.write_job(sweep / "1", H.job_records("sim-weak", "cot", 2, 10), status=None)
    H.write_job(sweep / "2", H.job_records("sim-weak", "cot", 3, 10), status="failed")
    md = write_report([sweep]).markdown.read_text()
    assert "Missing or incomplete jobs:" in md
    assert f"{sweep / '1'}: no summary.json (still running or crashed)" in md
    assert f"{sweep / '2'}: status failed" in md


def test_partial_overlap_pairs_on_shared_items(tmp_path: Path) -> None:
    H.write_job(tmp_path / "s" / "0", H.job_records("sim-strong", "cot", 1, 40))
    H.write_job(tmp_path / "s" / "1", H.job_records("sim-weak", "cot", 1, 20))
    row = write_report([tmp_path / "s"]).comparison.pairwise.iloc[0]
    assert row["n_shared"] == 20 and row["n_a_items"] == 40
    assert "compared on the 20 shared items" in row["note"]
    # few items: the CI is t on 19 df and the test exact, so no "read another p" caveat is needed
    assert row["df"] == 19 and row["test"] == "exact sign-flip" and row["ci_method"].startswith("t")


def test_single_variant_says_nothing_to_compare(tmp_path: Path) -> None:
    sweep = H.make_sweep(tmp_path, models=("sim-weak",), prompts=("direct",), seeds=(1, 2))
    result = write_report([sweep], tmp_path / "out")
    md = result.markdown.read_text()
    assert "One variant only: nothing to compare." in md and "One prompt only" in md
    assert result.out_dir == tmp_path / "out" and not (sweep / "report.md").exists()
    assert pd.read_csv(tmp_path / "out" / "pairwise.csv")["note"].tolist() == ["one variant only: nothing to compare"]


def test_errored_rows_are_counted_not_scored(tmp_path: Path) -> None:
    recs = [H.record(f"q{i}", float(i % 2)) for i in range(10)] + [H.record("q10", None)]
    result = write_report([H.write_job(tmp_path / "job", recs)])
    row = result.comparison.variants.iloc[0]
    assert row["n_errors"] == 1 and row["n_items"] == 10 and row["mean"] == 0.5
    assert "1 errored rows left out" in row["note"]


def test_fdr_bh_is_an_option(tmp_path: Path) -> None:
    sweep = H.make_sweep(tmp_path, prompts=("cot",), seeds=(1,), n_items=30)
    result = write_report([sweep], correction="fdr_bh", mde_delta=0.1)
    pairs = pd.read_csv(result.out_dir / "pairwise.csv")
    assert pairs["correction"].tolist() == ["fdr_bh"] and pairs["mde_delta"].tolist() == [0.1]
    assert "p adj (fdr_bh)" in result.markdown.read_text()


@pytest.mark.parametrize("kwargs, match", [({"correction": "holm-sidak"}, "unknown correction"),
                                           ({"mde_delta": 0}, "mde_delta")])
def test_bad_options_are_report_errors(tmp_path: Path, kwargs: dict, match: str) -> None:
    job = H.write_job(tmp_path / "job", H.job_records("sim-weak", "cot", 1, 5))
    with pytest.raises(ReportError, match=match):
        write_report([job], **kwargs)


def test_cli_writes_report_and_exits_zero(tmp_path: Path, capsys) -> None:
    sweep = H.make_sweep(tmp_path, prompts=("cot",), seeds=(1,), n_items=20)
    assert main([str(sweep), "--out", str(tmp_path / "rep"), "--mde-delta", "0.1"]) == 0
    assert (tmp_path / "rep" / "report.html").is_file()
    assert "1. model=sim-strong" in capsys.readouterr().out


def test_cli_empty_dir_is_one_line_and_non_zero(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    code = main([str(tmp_path / "empty")])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.startswith(f"report: error: {tmp_path / 'empty'}: empty directory") and "\n" not in err


def test_script_prints_one_line_without_traceback(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    (sweep / "0" / ".hydra").mkdir(parents=True)
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "report.py"), str(sweep)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"report: error: {sweep}: no results to report")


def test_variant_with_only_errors_is_reported_not_compared(tmp_path: Path) -> None:
    H.write_job(tmp_path / "s" / "0", [H.record(f"q{i}", None, model="sim-weak") for i in range(5)])
    H.write_job(tmp_path / "s" / "1", [H.record(f"q{i}", i / 5, model="sim-strong") for i in range(5)])
    result = write_report([tmp_path / "s"])
    v = result.comparison.variants.set_index("variant")
    assert v.loc["model=sim-weak", "n_errors"] == 5 and v.loc["model=sim-weak", "ci_method"] == "n/a: no scored rows"
    assert result.comparison.pairwise["status"].tolist() == ["not paired: no shared items with a score in both"]
    assert result.summary()["report/variant/model=sim-weak/mean"] is None


def test_a_second_report_into_the_same_dir_waits_for_the_first(tmp_path: Path) -> None:
    """Two reports at once in one dir (the sweep's own and a command's) removed each other's plots as
    stale, and one then failed on a plot it had written. The second now waits, then writes its own."""
    import fcntl
    import threading

    from evalsweep.report.build import REPORT_LOCK

    sweep = H.make_sweep(tmp_path / "sweep")
    stale = sweep / "variants.old_metric.csv"  # what a report removes as soon as it may write
    stale.write_text("variant\n")
    outcome: list[BaseException | ReportResult] = []

    def second() -> None:
        try:
            outcome.append(write_report([sweep], correction="fdr_bh"))
        except BaseException as exc:  # noqa: BLE001 - shown by the assertion below
            outcome.append(exc)

    with (sweep / REPORT_LOCK).open("a") as first:
        fcntl.flock(first, fcntl.LOCK_EX)  # a first report, writing
        writer = threading.Thread(target=second)
        writer.start()
        writer.join(timeout=4)  # far longer than the report takes to reach its writing
        assert writer.is_alive() and stale.exists() and not (sweep / "report.md").exists()
    writer.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], ReportResult), outcome
    assert not stale.exists() and (sweep / "report.md").is_file()
    assert pd.read_csv(sweep / "pairwise.csv")["correction"].eq("fdr_bh").all()


def test_a_dir_the_report_cannot_write_in_is_one_line_naming_it(tmp_path: Path) -> None:
    from evalsweep.report.build import _one_writer

    (tmp_path / "a_file").write_text("")
    gone = tmp_path / "a_file" / "out"  # a dir that cannot be made (or written in)
    with pytest.raises(ReportError) as info:
        with _one_writer(gone):
            pass
    assert str(info.value).startswith(f"{gone}: cannot write in the output dir (")
    assert "pass --out to a writable dir" in str(info.value) and "\n" not in str(info.value)
