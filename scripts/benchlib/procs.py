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

from evalsweep.config.base import PROJECT_ROOT

PYTHON = sys.executable
START_TIMEOUT_S = 30.0


class BenchError(RuntimeError):
    """A benchmark step did not run as it must (a job failed, the simulator did not start)."""


class ProcResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    returncode: int
    wall_s: float
    # CPU time (user + sys) of the child and of the children it waited for (e.g. wandb-core).
    cpu_s: float
    # The child's own peak resident set in MB (see run_measured), and how it was read:
    # "wait4" (exact) or "sampled" (VmHWM of /proc/<pid>/status, every POLL_S while it ran).
    peak_rss_mb: float
    peak_rss_how: str
    # wait4's ru_maxrss, and our own VmHWM just after the child started: the floor under it.
    wait4_maxrss_mb: float
    parent_hwm_mb: float | None
    stdout: str
    stderr: str


POLL_S = 0.005


def vm_hwm_mb(pid: int | str = "self") -> float | None:
    """VmHWM of /proc/<pid>/status: the peak RSS of that process's own address space, in MB.
    None where there is no /proc, or once the process has exited (a zombie has no memory)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def run_measured(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path = PROJECT_ROOT,
                 log_dir: Path, name: str, timeout_s: float = 1800.0) -> ProcResult:
    """Run cmd to the end; its wall time, CPU time and its own peak RSS (never ours).

    wait4's ru_maxrss alone is not the child's peak: Linux keeps the high-water mark of the
    address space that exec replaced, for a child of ours our own (a `python -c pass` child
    reports 333 MB under a 300 MB parent). So ru_maxrss is taken only when it is above our own
    peak at the child's start: then it is the child's (or that of a grandchild it waited for,
    such as wandb-core). Otherwise the child's peak is its VmHWM, sampled every POLL_S while it
    runs (exec gives it a fresh one); a high-water mark, so only growth in its last POLL_S is lost."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
    full_env = {**os.environ, **(env or {})}
    sampled: float | None = None
    with out_path.open("wb") as out, err_path.open("wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        # Popen returns once the child has exec'd: what it inherited is at most our peak now.
        floor = vm_hwm_mb()
        deadline = t0 + timeout_s
        while True:
            hwm = vm_hwm_mb(proc.pid)  # before wait4: once reaped, the pid may be someone else's
            if hwm is not None:
                sampled = hwm if sampled is None else max(sampled, hwm)
            # wait4 gives this one child's rusage; RUSAGE_CHILDREN would mix all children ever waited for.
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(POLL_S)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    maxrss = usage.ru_maxrss / 1024
    if floor is None or sampled is None or maxrss > floor:
        peak, how = maxrss, "wait4"  # above the floor (or no /proc to read): not ours
    else:
        peak, how = sampled, "sampled"
    return ProcResult(returncode=proc.returncode, wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime,
                      peak_rss_mb=peak, peak_rss_how=how, wait4_maxrss_mb=maxrss, parent_hwm_mb=floor,
                      stdout=out_path.read_text(encoding="utf-8", errors="replace"),
                      stderr=err_path.read_text(encoding="utf-8", errors="replace"))


def check(result: ProcResult, what: str) -> ProcResult:
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise BenchError(f"{what} exited {result.returncode}:\n{tail}")
    return result


@contextmanager
def simulator(latency_ms: float, log_dir: Path, extra_args: list[str] | None = None) -> Iterator[str]:
    """`python -m evalsweep.simulator` in its own process on a free loopback port; yields its URL.
    extra_args: more of its options (e.g. a server-side rate limit)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = (log_dir / f"simulator-{latency_ms:g}ms.log").open("w", encoding="utf-8")
    proc = subprocess.Popen([PYTHON, "-m", "evalsweep.simulator", "--port", "0", "--latency-ms", str(latency_ms),
                             *(extra_args or [])],
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
