"""The validation report: one CheckResult per check, the report of them all, its text (one line per
check and a result line), what summary.json records of it, and the one-line error of a failure."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evalsweep.errors import EvalsweepError

Status = Literal["pass", "fail", "warn"]
ICONS: dict[str, str] = {"pass": "✅ PASS", "fail": "❌ FAIL", "warn": "⚠️  WARN"}
# Failures that skipping the checks would not cure: the job could not write there either.
UNSKIPPABLE = {"output_path", "caching"}


class ValidationFailed(EvalsweepError):
    """A blocking pre-run check failed: nothing was sent to any provider."""

    exit_code = 5


class CheckResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    blocking: bool
    status: Status
    message: str
    # What to add or change when the check fails (or warns): "spec.metrics (...)", "model.rpm (...)".
    fix: str | None = None


class ValidationReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skipped: bool = False
    checks: list[CheckResult] = Field(default_factory=list)

    @property
    def blocking(self) -> list[CheckResult]:
        return [c for c in self.checks if c.blocking]

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.blocking if c.status == "fail"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "warn"]

    @property
    def passed(self) -> bool:
        return not self.failed

    def result_line(self) -> str:
        if self.skipped:
            return "RESULT: skipped (spec.skip_validation=true)"
        n = len(self.blocking)
        w = len(self.warnings)
        return f"RESULT: {n - len(self.failed)}/{n} blocking checks passed, {w} warning{'' if w == 1 else 's'}"

    def render(self) -> str:
        title = "Pre-Run Validation Report"
        lines = [title, "=" * len(title)]
        # A warning carries its remedy on the same line; a failure's goes to the one-line error.
        lines += [f"{ICONS[c.status]}: {c.message}" + (f" — {c.fix}" if c.status == "warn" and c.fix else "")
                  for c in self.checks]
        lines.append(self.result_line())
        return "\n".join(lines) + "\n"

    def to_summary(self) -> dict[str, Any]:
        """What summary.json and the tracker record."""
        return {"skipped": self.skipped, "passed": self.passed, "n_blocking": len(self.blocking),
                "n_blocking_passed": len(self.blocking) - len(self.failed), "n_warnings": len(self.warnings),
                "result": self.result_line(), "checks": [c.model_dump() for c in self.checks]}

    def fix_line(self) -> str:
        """One line: what to add to the spec and what to change in the config."""
        spec = [c.fix.removeprefix("spec.") for c in self.failed if c.fix and c.fix.startswith("spec.")]
        other = [c.fix for c in self.failed if c.fix and not c.fix.startswith("spec.")]
        parts = ([f"add to spec: {'; '.join(spec)}"] if spec else []) + ([f"fix: {'; '.join(other)}"] if other else [])
        if any(c.key in UNSKIPPABLE for c in self.failed):
            return " | ".join(parts)  # skipping the checks would not make the dir or the cache writable
        return " | ".join(parts) + " (or skip the checks with spec.skip_validation=true)"

    def error(self, where: str = "") -> ValidationFailed:
        return ValidationFailed(f"validation failed{where}: {self.fix_line()}")
