"""Pre-run validation: is the experiment specified well enough to be worth running?

Nine blocking checks and seven warnings, run before the first API call. What the config already
says (output path, cache, concurrency, retries, seeds) is derived from it; what only a person can
say (hypothesis, falsification, metrics, graphs, justifications, baseline) comes from `spec`.

The checks live beside this file: validation_blocking (the nine), validation_warnings (the seven),
validation_helpers (what they share), validation_context (JobContext, Machine) and
validation_report (CheckResult, ValidationReport, ValidationFailed). This module runs them, prints
and saves the report."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from evalsweep.config.schema import ExperimentConfig
from evalsweep.job.validation_blocking import BLOCKING
from evalsweep.job.validation_context import JobContext
from evalsweep.job.validation_report import ValidationReport
from evalsweep.job.validation_warnings import WARNINGS

log = logging.getLogger(__name__)

REPORT_TXT = "validation_report.txt"
REPORT_JSON = "validation_report.json"


def validate(exp: ExperimentConfig, ctx: JobContext) -> ValidationReport:
    """Run every check. A failing check is a line of the report; input that cannot be read at
    all (a dataset file that does not load) raises its own typed error."""
    if exp.spec.skip_validation:
        return ValidationReport(skipped=True)
    return ValidationReport(checks=[check(exp, ctx) for check in (*BLOCKING, *WARNINGS)])


def save(report: ValidationReport, out_dir: Path) -> None:
    """The report beside the job's results; an unwritable dir is already a failed check, not a crash."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / REPORT_TXT).write_text(report.render(), encoding="utf-8")
        (out_dir / REPORT_JSON).write_text(json.dumps(report.to_summary(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        log.warning("could not save the validation report in %s: %s", out_dir, exc)


def validate_job(exp: ExperimentConfig, ctx: JobContext) -> ValidationReport:
    """Validate, print and save the report; raise ValidationFailed when a blocking check failed."""
    report = validate(exp, ctx)
    if report.skipped:
        log.warning("pre-run validation skipped (spec.skip_validation=true); summary.json records that")
    elif ctx.print_report or not report.passed:
        print(report.render(), end="", flush=True)
    save(report, ctx.output_dir)
    if not report.passed:
        raise report.error()
    return report
