"""What every check shares: the Check signature, a pass or a failure as a CheckResult, what counts as
stated in the spec, how a quote or a path is shown, and whether a dir can be written."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from evalsweep.config.schema import ExperimentConfig
from evalsweep.job.validation_context import JobContext
from evalsweep.job.validation_report import CheckResult

# Text that only holds a place for an answer does not count as one.
_PLACEHOLDERS = {"", "todo", "tbd", "?", "n/a", "none", "null", "fixme"}
Check = Callable[[ExperimentConfig, JobContext], CheckResult]


def said(text: str | None) -> str | None:
    """The text, or None when it is empty or only a placeholder such as TODO or '...'."""
    if text is None:
        return None
    stripped = str(text).strip()
    return stripped if stripped.strip(".").strip().lower() not in _PLACEHOLDERS else None


def quote(text: str, limit: int = 120) -> str:
    one_line = " ".join(text.split())
    return f'"{one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"}"'


def ok(key: str, message: str, blocking: bool = True) -> CheckResult:
    return CheckResult(key=key, blocking=blocking, status="pass", message=message)


def bad(key: str, message: str, fix: str, blocking: bool = True) -> CheckResult:
    return CheckResult(key=key, blocking=blocking, status="fail" if blocking else "warn", message=message, fix=fix)


def writable_dir(path: Path) -> str | None:
    """Why files cannot be written under path (None when they can); path may not exist yet."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return f"no existing parent of {path}"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    return None


def show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
