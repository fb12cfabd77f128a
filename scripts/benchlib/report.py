"""The suite's output: a JSON results file and a markdown table (printed, and put into
docs/benchmarks.md between its markers after a full run)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from benchlib.results import Figure, WorkloadResult

BEGIN, END = "<!-- bench:table:begin -->", "<!-- bench:table:end -->"


class BenchRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preset: str
    started_utc: str
    duration_s: float
    git_commit: str | None
    # Uncommitted changes in the tree the jobs ran from (the commit alone does not name the code then).
    git_dirty: bool | None = None
    machine: dict[str, Any]
    workloads: list[WorkloadResult]

    @property
    def figures(self) -> list[Figure]:
        return [f for w in self.workloads for f in w.figures]


def _num(value: float, unit: str) -> str:
    if unit == "samples/s":
        return f"{value:,.0f} {unit}"
    if unit == "MB":
        return f"{value:,.0f} MB"
    return f"{value:.3g} {unit}" if abs(value) < 100 else f"{value:,.0f} {unit}"


def table(run: BenchRun) -> str:
    lines = ["| workload | figure | value | baseline (same run) | baseline value | ratio | target | met |",
             "| --- | --- | ---: | --- | ---: | ---: | --- | :---: |"]
    for f in run.figures:
        met = "" if f.met is None else ("yes" if f.met else "**no**")
        better = "higher is better" if f.better == "higher" else "lower is better"
        lines.append(f"| {f.workload} | {f.name} | {_num(f.value, f.unit)} | {f.baseline} | "
                     f"{_num(f.baseline_value, f.unit if f.unit != 'samples/s' else 'reads/s')} | "
                     f"{f.ratio:.2f}x ({better}) | {f.target or ''} | {met} |")
    return "\n".join(lines)


def machine_line(run: BenchRun) -> str:
    m = run.machine
    return (f"{m['nproc']} cores ({m['cpu_model']}), {m['memory_gb']} GB, Python {m['python']}, {m['platform']}; "
            f"load average {m['load_avg_1m_at_start']} at start; "
            f"{'bytecode ' + m['bytecode'] + '; ' if m.get('bytecode') else ''}preset `{run.preset}`, {run.duration_s:.0f} s, "
            f"commit {(run.git_commit or 'unknown')[:10]}{' + uncommitted changes' if run.git_dirty else ''}, {run.started_utc}")


def write_json(run: BenchRun, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(run.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def update_doc(run: BenchRun, doc: Path) -> bool:
    """Replace the table between the markers; False when the doc has no markers (left as is)."""
    text = doc.read_text(encoding="utf-8") if doc.is_file() else ""
    if BEGIN not in text or END not in text:
        return False
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    body = f"{BEGIN}\nMachine: {machine_line(run)}.\n\n{table(run)}\n{END}"
    doc.write_text(head + body + tail, encoding="utf-8")
    return True
