"""What the benchmark ran on: enough to tell two machines' tables apart."""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from pathlib import Path

import psutil


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _bytecode() -> str:
    """Whether the jobs can read compiled modules: without, every process compiles all it imports
    (~0.25 s more for `import wandb` alone), and every per-process figure carries that."""
    if sys.pycache_prefix:
        return f"cached in {sys.pycache_prefix}"
    import pydantic

    cached = Path(importlib.util.cache_from_source(pydantic.__file__)).is_file()
    if sys.dont_write_bytecode:
        return ("read from the venv, never written (PYTHONDONTWRITEBYTECODE)" if cached
                else "none: PYTHONDONTWRITEBYTECODE and no .pyc in the venv, every process compiles its imports")
    return "cached beside the sources"


def describe() -> dict[str, object]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "bytecode": _bytecode(),
        # A loaded machine slows everything alike; the load says how noisy this run's absolute numbers are.
        "load_avg_1m_at_start": round(load[0], 2),
    }
