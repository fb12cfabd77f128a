"""Reports that compare variants of a sweep honestly: clustered error bars, paired differences,
multiple-comparison correction, power. Runnable on its own (Hydra skips on_multirun_end when a job
fails), and callable from a callback via write_report.

The names below are imported on first use: `import evalsweep.report` stays cheap, and pandas,
statsmodels and matplotlib load only when a report is made."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalsweep.report.build import ReportResult, write_report
    from evalsweep.report.compare import Comparison, compare
    from evalsweep.report.errors import ReportError
    from evalsweep.report.load import LoadedRuns, load_runs
    from evalsweep.report.readjob import JobInfo

_HOME = {"ReportResult": "build", "write_report": "build", "Comparison": "compare", "compare": "compare",
         "ReportError": "errors", "JobInfo": "readjob", "LoadedRuns": "load", "load_runs": "load"}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(f"evalsweep.report.{_HOME[name]}"), name)
    raise AttributeError(f"module 'evalsweep.report' has no attribute {name!r}")
