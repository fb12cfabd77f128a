"""Reports that compare variants of a sweep honestly: clustered error bars, paired differences,
multiple-comparison correction, power. Runnable on its own (Hydra skips on_multirun_end when a job
fails), and callable from a callback via write_report.

Which file owns what:
- loading job dirs into one tidy frame: load (load_runs, LoadedRuns, use_score_column) calls
  jobdirs (finding job dirs), readjob (reading one job dir: JobInfo, config facets, extra columns),
  jobrows (results.jsonl lines -> rows) and labels (which config keys differ; variant labels);
  metrics (Metric: the score and the rows' scores.<name> columns, their scales, metadata.<field>)
- statistics, pure functions on arrays, in stats/: base (alpha, critical values), intervals (one
  variant's mean, SEs, CIs), clustered (SEs clustered by item), paired (the paired test, McNemar),
  signflip (its p), multitest (corrections), equivalence (TOST), power (MDE, items needed)
- the tables: options (ReportOptions: what is asked, and its checks), sections (one Comparison per
  metric), compare (Comparison, compare: one metric's tables) over variants (the variants table),
  contrasts (paired tests, corrected), groups (the tables per metadata value, --group-by) and
  baseline (which variant is the baseline)
- the output: build (write_report, ReportResult), document (what the report says, as blocks), headline
  (the hypothesis, the headline contrasts) and verdict (the falsification criterion held against them),
  render (the blocks, to Markdown and HTML), samples (the rows of the sample browser) and browser (its
  markup; its script and style in assets/), plots (PNGs)
- cli (python scripts/report.py, evalsweep report) and errors (ReportError)

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
    from evalsweep.report.metrics import Metric
    from evalsweep.report.options import ReportOptions
    from evalsweep.report.readjob import JobInfo

_HOME = {"ReportResult": "build", "write_report": "build", "Comparison": "compare", "compare": "compare",
         "ReportError": "errors", "JobInfo": "readjob", "LoadedRuns": "load", "load_runs": "load",
         "Metric": "metrics", "ReportOptions": "options"}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(f"evalsweep.report.{_HOME[name]}"), name)
    raise AttributeError(f"module 'evalsweep.report' has no attribute {name!r}")
