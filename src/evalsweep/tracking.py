"""Experiment trackers. The runner talks to this interface only; `tracker=none` gives NullTracker."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from evalsweep.records import ResultRecord


class Tracker(Protocol):
    def log_record(self, record: ResultRecord, running: dict[str, float]) -> None: ...

    def log_summary(self, summary: dict[str, Any], results_path: Path) -> None: ...

    def log_text(self, name: str, text: str) -> None: ...

    def finish(self, failed: bool) -> None: ...


class NullTracker:
    def log_record(self, record: ResultRecord, running: dict[str, float]) -> None:
        pass

    def log_summary(self, summary: dict[str, Any], results_path: Path) -> None:
        pass

    def log_text(self, name: str, text: str) -> None:
        pass

    def finish(self, failed: bool) -> None:
        pass


def make_tracker(kind: str, *, config: dict[str, Any], out_dir: Path, job: dict[str, Any]) -> Tracker:
    return NullTracker()
