"""Shared test helpers, in one place: a job run in-process (evalsweep.run_job) or as a user runs it
(`python run.py` in a subprocess), each with a private cache and no real keys; what a job wrote;
and a simulator started by the test, so its own request counts can be read."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import evalsweep
from evalsweep.api import JobResult
from evalsweep.config.schema import ExperimentConfig, validate
from evalsweep.errors import EvalsweepError
from evalsweep.simulator import FaultConfig, SimulatorConfig, SimulatorServer

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
QUIET = ["tracker=none", "run.progress=false"]
NO_REPORT = "hydra.callbacks.report.enabled=false"
# A fake key that must never reach a file (the simulator ignores it). Made at run time: a
# literal would sit in this source file, which a dirty tree's git.patch rightly records.
FAKE_KEY = f"sk-test-{uuid.uuid4().hex}"


# --- what a job wrote --------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rows(job_dir: Path) -> list[dict[str, Any]]:
    return read_jsonl(job_dir / "results.jsonl")


def summary(job_dir: Path) -> dict[str, Any]:
    return json.loads((job_dir / "summary.json").read_text())


def job_log(job_dir: Path) -> str:
    """The job's own log lines (run.log: Hydra's job log, or the one run_job writes)."""
    return (job_dir / "run.log").read_text()


def job_dirs(sweep: Path) -> list[Path]:
    """A sweep's job dirs (named by job number), in job order."""
    return sorted((p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))


def overrides_of(job_dir: Path) -> list[str]:
    """The job's own overrides, as Hydra saved them (.hydra/overrides.yaml)."""
    return list(OmegaConf.load(job_dir / ".hydra" / "overrides.yaml"))


def count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def identities(path: Path) -> Counter[tuple[str, int, int]]:
    """Complete lines only: a torn tail is what a resume drops."""
    data = path.read_bytes() if path.exists() else b""
    lines = data.split(b"\n")[:-1]
    return Counter((r["sample_id"], r["seed"], r["repeat"]) for r in map(json.loads, lines) if r)


# --- a job's arguments -------------------------------------------------------------------------------


def job_args(*, samples: int = 8) -> list[str]:
    """Quiet, no tracker, short retry waits, no pre-run checklist: for tests of something else."""
    return ["tracker=none", "run.progress=false", f"dataset.max_samples={samples}",
            # Retry waits short: the tests count retries, they do not need to wait like production.
            "model.retry.initial_wait_s=0.01", "model.retry.max_backoff_s=0.05",
            "++spec.skip_validation=true"]  # the pre-run checklist is not what these tests test


def base_args(run_dir: Path, *, samples: int = 8) -> list[str]:
    """job_args for `python run.py`, into run_dir."""
    return [*job_args(samples=samples), f"hydra.run.dir={run_dir}"]


def write_dataset(path: Path, questions: list[str]) -> list[str]:
    """A tiny JSONL dataset in the arithmetic format; returns the overrides that select it
    (pass samples=len(questions) to job_args)."""
    with path.open("w") as f:
        for i, q in enumerate(questions):
            f.write(json.dumps({"id": f"q{i}", "question": q, "answer": "0", "difficulty": "easy"}) + "\n")
    return [f"dataset.path={path}", "dataset.shuffle=false"]


def cause_counts(sim_faults: dict[str, int]) -> dict[str, int]:
    """The simulator's fault counters in the names summary.json uses for retry causes."""
    names = {"drop": "connection"}
    return {names.get(k, k): v for k, v in sim_faults.items() if v}


def compose_exp(*overrides: str) -> ExperimentConfig:
    """conf/ with these overrides, composed, resolved and validated (no job runs)."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    return validate(container)


# --- the simulator -----------------------------------------------------------------------------------


@contextmanager
def sim_server(latency_ms: float = 0.0, **faults: Any) -> Iterator[SimulatorServer]:
    srv = SimulatorServer(SimulatorConfig(latency_ms=latency_ms, faults=FaultConfig(**faults)))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def settle(server: SimulatorServer, quiet_s: float = 0.06) -> int:
    """Requests seen by the simulator once nothing is in flight (a killed client's last request
    can reach the server just after the kill)."""
    while True:
        before = server.stats()
        time.sleep(quiet_s)
        after = server.stats()
        if after.in_flight == 0 and after.requests_total == before.requests_total:
            return after.requests_total



def slot_start_times(limiter: Any, n: int) -> list[float]:
    """Take n slots of a limiter (sqlite or Redis) one after another; when each began, in seconds
    from the first ask. The limiter is closed afterwards."""
    async def main() -> list[float]:
        t0 = time.perf_counter()
        starts = []
        for _ in range(n):
            async with limiter.slot():
                starts.append(time.perf_counter() - t0)
        return starts

    try:
        return asyncio.run(main())
    finally:
        limiter.close()

# --- the CLI in a subprocess: where the process is the point ------------------------------------------


def cli_env(tmp_path: Path | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A CLI child's whole environment: no real keys, wandb offline and quiet, no shared rate-limit
    file, and (given tmp_path) a response cache of the test's own."""
    # Empty keys (not unset) so a developer's .env cannot supply real ones to a test.
    env = {**os.environ, "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "WANDB_MODE": "offline",
           "WANDB_SILENT": "true"}
    env.pop("EVALSWEEP_LIMITS_PATH", None)
    env.pop("EVALSWEEP_STORE_URL", None)  # the local store unless a test names a Redis one
    if tmp_path is not None:
        env["EVALSWEEP_CACHE_PATH"] = str(tmp_path / "cache" / "responses.sqlite")
    return {**env, **(extra or {})}


def job_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """For the tracking tests: private cache and wandb dirs, a fake OpenAI key, and no WANDB_MODE,
    so the tracker's default (offline) is what runs."""
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


def run_cli(args: list[str], *, env: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None,
            timeout: float = 180, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`python run.py ARGS` in a subprocess. env: variables over cli_env()'s; environ: the child's
    whole environment instead (job_env's)."""
    full = dict(environ) if environ is not None else cli_env(extra=env)
    return subprocess.run([PY, str(ROOT / "run.py"), *args], cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=timeout)


def run_py(args: list[str], *, cache: Path | None, env: Mapping[str, str] | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """run_cli with this cache file (None: the environment's), wandb off."""
    own = {"WANDB_MODE": "disabled", **({"EVALSWEEP_CACHE_PATH": str(cache)} if cache is not None else {})}
    return run_cli(args, env={**own, **(env or {})}, timeout=timeout)


def run_cli_quiet(args: list[str], tmp_path: Path, *, report: bool = False, env: Mapping[str, str] | None = None,
                  timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """run_cli with a private cache under tmp_path, no tracker, no progress bar; a multirun skips
    the sweep report unless asked."""
    # Hydra's flags go before the overrides (argparse stops at the first override).
    flags: list[str] = []
    overrides: list[str] = []
    it = iter(args)
    for token in it:
        if token in ("-cd", "--config-dir"):
            flags += [token, next(it)]
        elif token.startswith("-"):
            flags.append(token)
        else:
            overrides.append(token)
    extra = [] if report or "-m" not in flags else [NO_REPORT]
    return run_cli([*flags, *QUIET, *extra, *overrides], environ=cli_env(tmp_path, env), timeout=timeout)


def spawn(args: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python run.py ARGS` started in the background (to be signalled), its output into log."""
    out = log.open("wb")
    return subprocess.Popen([PY, str(ROOT / "run.py"), *args], cwd=ROOT, env=dict(env), stdout=out,
                            stderr=subprocess.STDOUT)


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


# --- one job in this process: the same job without an interpreter start --------------------------------

InprocJob = Callable[..., "JobResult | EvalsweepError"]


@contextmanager
def _process_state_kept() -> Iterator[None]:
    """What a job in this process may change, put back (the environment: .env loading) or checked
    (signal handlers, log handlers, GC thresholds, threads), so that nothing reaches the next test."""
    environ = dict(os.environ)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    loggers = {name: list(logging.getLogger(name).handlers) for name in ("", "evalsweep")}
    level, gc_threshold, cwd = logging.getLogger("evalsweep").level, gc.get_threshold(), os.getcwd()
    threads = set(threading.enumerate())
    try:
        yield
    finally:
        for key in set(os.environ) - set(environ):
            del os.environ[key]
        os.environ.update(environ)
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers, "the job left a signal handler"
    assert {n: logging.getLogger(n).handlers for n in loggers} == loggers, "the job left a log handler"
    assert logging.getLogger("evalsweep").level == level and gc.get_threshold() == gc_threshold
    assert os.getcwd() == cwd
    left = [t for t in set(threading.enumerate()) - threads if not t.daemon]
    for t in left:
        t.join(timeout=5)  # a server's or writer's thread may still be on its way out
    assert not [t for t in left if t.is_alive()], f"the job left threads running: {left}"


@pytest.fixture
def run_job_inproc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> InprocJob:
    """run(ARGS, out_dir, env=None) -> the JobResult, or the EvalsweepError it raised: evalsweep.run_job
    in this process, isolated as run_cli's child is (a private cache, empty keys, no shared limit
    file), tracker=none and no progress bar unless ARGS say otherwise. env: variables for this call."""
    monkeypatch.setenv("EVALSWEEP_CACHE_PATH", str(tmp_path / "cache" / "responses.sqlite"))
    for name, value in (("OPENAI_API_KEY", ""), ("ANTHROPIC_API_KEY", ""), ("WANDB_MODE", "offline"),
                        ("WANDB_SILENT", "true")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("EVALSWEEP_LIMITS_PATH", raising=False)
    monkeypatch.delenv("EVALSWEEP_STORE_URL", raising=False)

    def run(args: list[str], out_dir: Path, *, env: Mapping[str, str] | None = None) -> JobResult | EvalsweepError:
        given = {a.split("=", 1)[0].lstrip("+") for a in args}
        defaults = [d for d in QUIET if d.split("=", 1)[0] not in given]
        with _process_state_kept(), pytest.MonkeyPatch.context() as mp:
            for name, value in (env or {}).items():
                mp.setenv(name, value)
            try:
                return evalsweep.run_job([*defaults, *args], out_dir=out_dir)
            except EvalsweepError as exc:
                return exc

    return run


@pytest.fixture
def cache_env(tmp_path: Path) -> dict[str, str]:
    """A private response cache, so no test reads another's (or the developer's) answers."""
    return {"EVALSWEEP_CACHE_PATH": str(tmp_path / "cache" / "responses.sqlite")}


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """For in-process checks: a response cache of this test's own."""
    monkeypatch.setenv("EVALSWEEP_CACHE_PATH", str(tmp_path / "cache" / "responses.sqlite"))
