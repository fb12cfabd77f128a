"""Reports that compare variants of a sweep honestly: clustered error bars, paired differences,
multiple-comparison correction, power. Runnable on its own (Hydra skips on_multirun_end when a job
fails), and callable from a callback via write_report."""

from evalsweep.report.build import ReportResult, write_report
from evalsweep.report.compare import Comparison, compare
from evalsweep.report.errors import ReportError
from evalsweep.report.load import JobInfo, LoadedRuns, load_runs

__all__ = [
    "Comparison", "JobInfo", "LoadedRuns", "ReportError", "ReportResult", "compare", "load_runs",
    "write_report",
]
