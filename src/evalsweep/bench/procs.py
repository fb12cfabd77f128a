"""Child processes of the benchmark: the simulator server, jobs (`run.py`), the baseline loops.

Each runs in its own process so none shares a GIL with another: a job and the server it calls
would otherwise slow each other down and the figure would measure that, not the job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from evalsweep.config import PROJECT_ROOT

PYTHON = sys.executable
START_TIMEOUT_S = 30.0


class BenchError(RuntimeError):
    """A benchmark step did not run as it must (a job failed, the simulator did not start)."""


class ProcResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    returncode: int
    wall_s: float
    # The child's own peak resident set (the kernel's high-water mark, from wait4), in MB.
    peak_rss_mb: float
    stdout: str
    stderr: str


def run_measured(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path = PROJECT_ROOT,
                 log_dir: Path, name: str, timeout_s: float = 1800.0) -> ProcResult:
    """Run cmd to the end; its wall time and its own peak RSS (not its children's, not ours)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
    full_env = {**os.environ, **(env or {})}
    with out_path.open("wb") as out, err_path.open("wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        deadline = t0 + timeout_s
        while True:
            # wait4 gives this one child's rusage; RUSAGE_CHILDREN would mix all children ever waited for.
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    return ProcResult(returncode=proc.returncode, wall_s=wall, peak_rss_mb=usage.ru_maxrss / 1024,
                      stdout=out_path.read_text(encoding="utf-8", errors="replace"),
                      stderr=err_path.read_text(encoding="utf-8", errors="replace"))


def check(result: ProcResult, what: str) -> ProcResult:
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise BenchError(f"{what} exited {result.returncode}:\n{tail}")
    return result


@contextmanager
def simulator(latency_ms: float, log_dir: Path) -> Iterator[str]:
    """`python -m evalsweep.simulator` in its own process on a free loopback port; yields its URL."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = (log_dir / f"simulator-{latency_ms:g}ms.log").open("w", encoding="utf-8")
    proc = subprocess.Popen([PYTHON, "-m", "evalsweep.simulator", "--port", "0", "--latency-ms", str(latency_ms)],
                            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "... listening on http://127.0.0.1:PORT"
        if "listening on " not in line:
            raise BenchError(f"the simulator did not start (exit {proc.poll()}); see {log.name}")
        yield line.rsplit("listening on ", 1)[1].strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def job_command(overrides: list[str], *, multirun: bool = False) -> list[str]:
    return [PYTHON, "run.py", *(["-m"] if multirun else []), *overrides]


def read_summary(job_dir: Path) -> dict[str, Any]:
    path = job_dir / "summary.json"
    if not path.is_file():
        raise BenchError(f"no summary.json in {job_dir}")
    return json.loads(path.read_text(encoding="utf-8"))
