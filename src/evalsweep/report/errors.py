"""The one error type of the report package: a single line saying what, where and how to fix."""

from __future__ import annotations

from pathlib import Path

from evalsweep.errors import EvalsweepError


class ReportError(EvalsweepError):
    """Raised when a report cannot be built from the given dirs (bad paths, unreadable results)."""

    exit_code = 2

    def __init__(self, what: str, where: Path | str | None = None, fix: str | None = None) -> None:
        line = f"{where}: {what}" if where is not None else what
        if fix:
            line += f" -- {fix}"
        # One line, always: the CLI prints str(error) as is.
        super().__init__(line.replace("\n", " "))
        self.what, self.where, self.fix = what, where, fix
