"""Helpers for the tracking and resume tests: the CLI as a subprocess, with everything private."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
# A fake key that must never reach a file (the simulator ignores it). Made at run time: a
# literal would sit in this source file, which a dirty tree's git.patch rightly records.
FAKE_KEY = f"sk-test-{uuid.uuid4().hex}"


def job_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Private cache and wandb dirs; no real key and no WANDB_MODE, so the default (offline) is tested."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR", "WANDB_SILENT", "ANTHROPIC_API_KEY")}
    env.update({
        "EVALSWEEP_CACHE_PATH": str(tmp_path / "cache" / "responses.sqlite"),
        "WANDB_DATA_DIR": str(tmp_path / "wandb-data"),
        "WANDB_CACHE_DIR": str(tmp_path / "wandb-cache"),
        "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config"),
        "OPENAI_API_KEY": FAKE_KEY,
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "run.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen([PY, "run.py", *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_for_lines(proc: subprocess.Popen[bytes], path: Path, n: int, timeout: float = 60) -> int:
    """Poll until results.jsonl has at least n complete lines; returns the count seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = count_lines(path)
        if seen >= n:
            return seen
        if proc.poll() is not None:
            raise AssertionError(f"job ended (rc={proc.returncode}) before {path} had {n} lines")
        time.sleep(0.005)
    raise AssertionError(f"{path} did not reach {n} lines in {timeout}s")


def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> int:
    proc.send_signal(sig)
    return proc.wait(timeout=30)


def identities(path: Path) -> Counter[tuple[str, int, int]]:
    """Complete lines only: a torn tail is what a resume drops."""
    data = path.read_bytes() if path.exists() else b""
    lines = data.split(b"\n")[:-1]
    return Counter((r["sample_id"], r["seed"], r["repeat"]) for r in map(json.loads, lines) if r)


def settle(server, quiet_s: float = 0.06) -> int:
    """Requests seen by the simulator once nothing is in flight (a killed client's last request
    can reach the server just after the kill)."""
    while True:
        before = server.stats()
        time.sleep(quiet_s)
        after = server.stats()
        if after.in_flight == 0 and after.requests_total == before.requests_total:
            return after.requests_total


def summary(job_dir: Path) -> dict:
    return json.loads((job_dir / "summary.json").read_text())
