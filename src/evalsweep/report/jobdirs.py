"""Finding job dirs: the job dirs a path given to the report stands for.

A path is a job dir (holds results.jsonl, summary.json or .hydra/) or a multirun dir whose
subdirs are job dirs.
"""

from __future__ import annotations

from pathlib import Path

from evalsweep.report.errors import ReportError

RESULTS = "results.jsonl"
SUMMARY = "summary.json"


def _is_job_dir(p: Path) -> bool:
    return (p / RESULTS).is_file() or (p / SUMMARY).is_file() or (p / ".hydra").is_dir()


def _natural(p: Path) -> tuple[int, int | str]:
    return (0, int(p.name)) if p.name.isdigit() else (1, p.name)


def find_job_dirs(path: Path) -> list[Path]:
    """The job dirs a path stands for: itself, or its job subdirs (0/, 1/, ... in order)."""
    fix = "pass a multirun dir (multirun/<date>/<time>) or a job dir holding results.jsonl"
    if not path.exists():
        raise ReportError("no such file or directory", path, fix)
    if path.is_file():
        if path.name == RESULTS:
            return [path.parent]
        raise ReportError("not a directory", path, fix)
    if _is_job_dir(path):
        return [path]
    subdirs = sorted((c for c in path.iterdir() if c.is_dir()), key=_natural)
    jobs = [c for c in subdirs if _is_job_dir(c)]
    if jobs:
        return jobs
    if not subdirs and not any(path.iterdir()):
        raise ReportError("empty directory, no job dirs", path, fix)
    sweeps = [c.name for c in subdirs if any(g.is_dir() and _is_job_dir(g) for g in c.iterdir())]
    if sweeps:
        raise ReportError(
            "no job dirs directly", path, f"pass one sweep dir inside it: {', '.join(sweeps[:5])}"
        )
    raise ReportError("no job dirs (no subdir holds results.jsonl, summary.json or .hydra/)", path, fix)
