"""The report's headline block: the hypothesis, the headline contrasts and the verdict against the
spec's falsification criterion (evalsweep.report.verdict), in report.md before every table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from evalsweep.report import write_report
from evalsweep.report.verdict import refuting_side, verdict

_spec = importlib.util.spec_from_file_location("_report_helpers", Path(__file__).with_name("test_report_load.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)  # type: ignore[union-attr]

STRONG, WEAK = "model=sim-strong,prompt=cot", "model=sim-weak,prompt=cot"
CRITERION = "The paired difference sim-strong minus sim-weak has a 95% CI that includes 0 or lies below it."


def _pairs(*rows: tuple[str, str, float, float]) -> pd.DataFrame:
    return pd.DataFrame([{"a": a, "b": b, "status": "paired", "ci_low": lo, "ci_high": hi, "p_adj": 0.001,
                          "significant": True} for a, b, lo, hi in rows])


def test_verdict_reads_the_side_and_the_names_of_the_criterion() -> None:
    assert refuting_side(CRITERION) == -1
    assert refuting_side("... a CI that includes 0 or lies above it") == 1
    assert refuting_side("the models differ") is None
    assert verdict(_pairs((STRONG, WEAK, 0.2, 0.4)), CRITERION, 0.05).startswith(
        f"supported: the CI of {STRONG} minus {WEAK} lies above 0 [0.200, 0.400]")
    assert verdict(_pairs((STRONG, WEAK, -0.1, 0.4)), CRITERION, 0.05).startswith("not supported: ")
    # named the other way round: judged with its sign flipped
    assert verdict(_pairs((WEAK, STRONG, -0.4, -0.2)), CRITERION, 0.05).startswith(
        f"supported: the CI of {STRONG} minus {WEAK} lies above 0 [0.200, 0.400]")
    # a contrast the criterion does not name is not judged
    other = ("model=sim-weak,prompt=direct", WEAK, -0.3, 0.1)
    assert verdict(_pairs((STRONG, WEAK, 0.2, 0.4), other), CRITERION, 0.05).startswith("supported")
    # the named contrast is judged even when the headline shows others (no baseline: the top variant's)
    every, shown = _pairs((STRONG, WEAK, 0.2, 0.4), other), _pairs(other)
    assert verdict(every, CRITERION, 0.05, shown).startswith(f"supported: the CI of {STRONG} minus {WEAK}")
    assert verdict(every, "a CI below 0 refutes it", 0.05, shown).startswith("not supported: the CI of "
                                                                            "model=sim-weak,prompt=direct")
    assert verdict(_pairs((STRONG, WEAK, 0.2, 0.4)), None, 0.05).startswith("no verdict: ")
    assert verdict(_pairs((STRONG, WEAK, 0.2, 0.4)), "sim-strong minus sim-weak differs", 0.05).startswith(
        "no verdict: the criterion does not say which side")
    weak = _pairs((STRONG, WEAK, 0.01, 0.4)).assign(significant=False, p_adj=0.2)
    assert "corrected p 0.200, not below 0.05" in verdict(weak, CRITERION, 0.05)


def test_headline_leads_report_md_with_hypothesis_contrasts_and_verdict(tmp_path: Path) -> None:
    spec = {"hypothesis": "sim-strong beats sim-weak.", "falsification": CRITERION, "baseline": "model=sim-weak"}
    for num, model in enumerate(("sim-weak", "sim-strong")):
        cfg = {"model": {"name": model, "provider": "openai"}, "dataset": {"name": "arithmetic"},
               "prompt": {"name": "direct"}, "seed": 1, "spec": spec}
        H.write_job(tmp_path / "s" / str(num), H.job_records(model, "direct", 1, 40), config=cfg)
    md = write_report([tmp_path / "s"]).markdown.read_text()
    lines = md.splitlines()
    assert lines[0] == "# evalsweep report" and lines[2].startswith("**Results from the evalsweep simulator")
    first_table = md.index("| a | b |")
    for said in ("## Headline", "Hypothesis: sim-strong beats sim-weak.",
                 "- model=sim-strong minus model=sim-weak (the baseline): delta ",
                 f"Falsification criterion: {CRITERION}",
                 "**Verdict: supported: the CI of model=sim-strong minus model=sim-weak lies above 0",
                 "Verdict rule: ", "Contents:\n\n- Runs\n- Contrasts with the baseline"):
        assert md.index(said) < first_table, said
    assert "The sample browser is in report.html: All 80 sample(s) of 2 variant(s)" in md
