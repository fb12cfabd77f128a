"""The wandb tracker: one run per job, living in <job dir>/wandb/, offline unless told otherwise.

`wandb` is imported by a tracker when it starts, never by importing this module, and this module
only when tracker=wandb: `tracker=none` never pays for wandb.

What wandb costs a job (docs/tracking.md): `import wandb`, starting the wandb-core service
(wandb polls for it every 0.2 s), wandb.init, and a few ms at the end. An offline run does all of
that in a background thread, beside the job's first requests, and only the first call that needs
the run waits for it. An online run is started before the job sends anything (the constructor
waits): a refused key or an unreachable server then stops the job before it spends money.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from evalsweep.config.base import PROJECT_ROOT
from evalsweep.config.run import WandbConfig
from evalsweep.config.schema import ExperimentConfig
from evalsweep.errors import EvalsweepError
from evalsweep.results.rows import ResultRecord, iter_records
from evalsweep.results.provenance import GitInfo
from evalsweep.results.record import JobInfo

if TYPE_CHECKING:
    import wandb

log = logging.getLogger(__name__)

# Not in the wandb summary: the config (already the run's config), and the bulky, non-numeric
# parts of summary.json (package versions go to the config; the validation report to a file).
_SUMMARY_SKIP = ("config", "packages", "python", "git", "note", "validation")
# Config keys that could only ever hold a secret. The config holds key *names* (api_key_env);
# this is a second line of defence should a secret-valued key ever be added.
_SECRET_KEY = re.compile(r"(^|_)(api_key|apikey|secret|password|token)$", re.IGNORECASE)
_TEXT_MAX = 2000  # characters per table cell: a table is for reading, the artifact holds all


class TrackingError(EvalsweepError):
    exit_code = 2


def wandb_mode(env: Mapping[str, str]) -> str | None:
    """None lets wandb read WANDB_MODE itself; a key means the user wants the cloud."""
    if env.get("WANDB_MODE"):
        return None
    return "online" if env.get("WANDB_API_KEY") else "offline"


def run_name(job: JobInfo) -> str:
    """Readable name from the command-line overrides: `model=sim_weak seed=42`."""
    name = " ".join(job.overrides) if job.overrides else "defaults"
    if job.job_num is not None:
        name = f"#{job.job_num} {name}"
    return name[:128]


def run_group(job: JobInfo, out_dir: Path) -> str:
    """The sweep dir for a multirun (all its jobs in one group), else the job's own dir."""
    where = Path(job.sweep_dir or out_dir).resolve()
    try:
        text = str(where.relative_to(PROJECT_ROOT))
    except ValueError:
        text = str(where)
    return text[-128:]


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("<redacted>" if _SECRET_KEY.search(str(k)) and v is not None else _scrub(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def run_config(config: dict[str, Any], exp: ExperimentConfig, git: GitInfo, job: JobInfo,
               out_dir: Path, n_resumed: int) -> dict[str, Any]:
    """The resolved config, plus what makes a number traceable: commit, seed, job, resume."""
    extra = {
        "git": git.model_dump(),
        "seed": exp.seed,
        "simulated": exp.model.simulated,
        "job": {"dir": str(out_dir), "overrides": list(job.overrides), "num": job.job_num,
                "sweep_dir": job.sweep_dir, "n_resumed": n_resumed},
    }
    return _scrub({**{k: v for k, v in config.items() if k != "hydra"}, **extra})


# Where wandb keeps inputs staged for a wandb Launch job (a singleton of that module).
_LAUNCH_INPUTS = "wandb.sdk.launch.inputs.internal"


def _skip_launch_inputs_unless_staged(wandb_run: ModuleType) -> None:
    """wandb.init ends in Run._detect_and_apply_job_inputs, which imports wandb.sdk.launch (and
    with it wandb's public API client: ~0.3 s, most of init's own time) only to apply the inputs
    that wandb.sdk.launch.manage_config_file / manage_wandb_config staged. They are staged in a
    singleton of _LAUNCH_INPUTS, so none exist unless that module is loaded: only then is wandb's
    own method called. A wandb without that method is left as it is."""
    run_cls = getattr(wandb_run, "Run", None)
    original = getattr(run_cls, "_detect_and_apply_job_inputs", None)
    if original is None or getattr(original, "evalsweep_skips_unstaged", False):
        return

    @functools.wraps(original)
    def detect_and_apply_job_inputs(self: Any) -> None:
        if _LAUNCH_INPUTS in sys.modules:
            original(self)

    detect_and_apply_job_inputs.evalsweep_skips_unstaged = True  # type: ignore[attr-defined]
    run_cls._detect_and_apply_job_inputs = detect_and_apply_job_inputs  # type: ignore[union-attr]


_POLL_S = 0.01


def _poll_sleep(seconds: float) -> None:
    time.sleep(min(seconds, _POLL_S))


def _poll_service_often(port_file: ModuleType) -> None:
    """wandb.setup starts wandb-core, then looks for the port file it writes every 0.2 s; the
    service is up within ~50 ms here, so ~0.17 s of every process's start was that sleep. Looked
    for every 10 ms instead; its timeout (x_service_wait) still holds. Only wandb's own sleep is
    replaced: a wandb whose poll is not that module attribute is left as it is."""
    if getattr(port_file, "_SLEEP", None) is time.sleep:
        port_file._SLEEP = _poll_sleep  # type: ignore[attr-defined]


def load_wandb() -> ModuleType:
    """`import wandb`, with process-wide trims of work it would do for nothing in a job."""
    import wandb
    from wandb.sdk import wandb_run

    try:
        from wandb.sdk.lib.service import service_port_file
    except ImportError:  # another wandb layout: its own polling, unchanged
        pass
    else:
        _poll_service_often(service_port_file)

    # wandb imports pandas (~0.7 s) the first time it logs any non-scalar value, only to ask "is
    # this a DataFrame?". With this flag off it answers by type name instead, which is as exact
    # (and a job never imports pandas, so nothing it logs can be a DataFrame anyway).
    if hasattr(wandb.util, "pd_available"):
        wandb.util.pd_available = False
    _skip_launch_inputs_unless_staged(wandb_run)
    return wandb


def run_settings() -> wandb.Settings:
    wandb = load_wandb()
    # Each setting trims work wandb would do for nothing in an API-bound eval job:
    return wandb.Settings(
        console="off",           # Hydra already logs the console; wrapping stdout fights tqdm
        save_code=False,         # the git commit in the config identifies the code
        disable_git=True,        # ... and the job record already read it (one probe per job)
        x_disable_stats=True,    # no system-metrics sampler thread (CPU/GPU are idle here)
        x_disable_meta=True,     # no host/command-line snapshot
        x_disable_machine_info=True,
        x_save_requirements=False,  # pip freeze costs ~0.1 s; uv.lock at the commit pins versions
        quiet=True,              # no banner per job of a sweep; we log one line ourselves
        reinit="finish_previous",  # a run left open by a crashed earlier job never swallows this one
    )


def starts_in_background(mode: str | None, env: Mapping[str, str]) -> bool:
    """Offline (or disabled) runs start beside the job; an online one before it (module doc)."""
    return (mode or env.get("WANDB_MODE", "")).strip().lower() in ("offline", "dryrun", "disabled")


class WandbTracker:
    def __init__(self, exp: ExperimentConfig, *, config: dict[str, Any], out_dir: Path,
                 job: JobInfo, git: GitInfo, n_resumed: int = 0) -> None:
        self.settings: WandbConfig = exp.wandb
        tags = list(dict.fromkeys([*self.settings.tags, *(["simulated"] if exp.model.simulated else []),
                                   *(["resumed"] if n_resumed else [])]))
        mode = wandb_mode(os.environ)
        init_kwargs: dict[str, Any] = dict(
            project=self.settings.project, entity=self.settings.entity, dir=str(out_dir), mode=mode,
            config=run_config(config, exp, git, job, out_dir, n_resumed),
            group=run_group(job, out_dir), name=run_name(job), job_type="eval", tags=tags)
        self._out_dir = out_dir
        self.run: Any = None  # set by the start thread; read only after _started is set
        self._error: BaseException | None = None
        self._started = threading.Event()
        self._up = False  # the run is up and what was logged before is in it
        self._dead = False  # the start failed and that was raised: every later call does nothing
        self._pending_rows: list[dict[str, float]] = []  # running metrics logged before the run was up
        self._pending_texts: list[tuple[str, str]] = []
        self._since_log = 0
        self._fresh = 0
        self._t0 = time.perf_counter()
        self._last: dict[str, float] = {}
        self._finished = False
        self._thread = threading.Thread(target=self._start, args=(mode, init_kwargs), name="evalsweep-wandb-start",
                                        daemon=True)
        self._thread.start()
        if not starts_in_background(mode, os.environ):
            self._wait()

    def _start(self, mode: str | None, init_kwargs: dict[str, Any]) -> None:
        """The start thread: import, service, init. Whatever it raises, the job's thread raises."""
        try:
            wandb = load_wandb()
            if mode == "offline":
                # Process-wide, and right for every job of this process (the mode comes from the
                # environment): wandb then skips its usage telemetry, ~0.1 s on the first log call.
                wandb.setup(settings=wandb.Settings(mode="offline"))
            try:
                run = wandb.init(**init_kwargs, settings=run_settings())
            except wandb.Error as exc:
                raise TrackingError(
                    f"wandb could not start a run in {self._out_dir}/wandb: {exc}; "
                    f"unset WANDB_MODE/WANDB_API_KEY to log offline, or run with tracker=none") from None
            run.define_metric("running/*", step_metric="running/done")
            offline = run.settings.mode in ("offline", "dryrun")
            log.info("wandb run %s (%s) in %s", run.id, "offline" if offline else "online", run.dir)
            self.run = run
        except BaseException as exc:  # not swallowed: handed over to the job's thread (_wait)
            self._error = exc
        finally:
            self._started.set()

    def _wait(self, *, raise_error: bool = True) -> bool:
        """Wait for the run; True once it is up. Raises (once) what stopped it from starting, or
        with raise_error=False logs it (finish runs in a `finally`: it must not hide the job's own)."""
        if self._up or self._dead:
            return self._up
        self._started.wait()
        self._thread.join()
        if self._error is not None:
            error, self._error, self._dead = self._error, None, True
            if raise_error:
                raise error
            if isinstance(error, TrackingError):
                log.error("%s", error)
            else:  # a bug, not a wandb refusal: with its traceback
                log.error("the wandb run never started", exc_info=error)
            return False
        self._up = True
        # What was logged before the run was up, in the order it was logged.
        for name, text in self._pending_texts:
            self._write_text(name, text)
        for row in self._pending_rows:
            self.run.log(row)
        self._pending_texts, self._pending_rows = [], []
        return True

    def _ready(self) -> bool:
        """True when the run is up, without waiting for it (the job's hot path)."""
        return self._up or (self._started.is_set() and self._wait())

    # -- during the job --------------------------------------------------------------------
    def log_record(self, record: ResultRecord, running: dict[str, float]) -> None:
        self._fresh += 1
        self._since_log += 1
        self._last = running
        if not self._up and not self._dead and self._started.is_set():
            self._wait()  # the run has just come up (it gets what waited), or its start failed (raised here)
        if self._since_log >= self.settings.log_every:
            self._log_running()

    def _log_running(self) -> None:
        if not self._last:
            return
        elapsed = time.perf_counter() - self._t0
        row = {f"running/{k}": v for k, v in self._last.items()}
        row["running/samples_per_s"] = self._fresh / elapsed if elapsed > 0 else 0.0
        self._since_log = 0
        if self._ready():
            self.run.log(row)
        elif not self._dead:
            self._pending_rows.append(row)

    def log_text(self, name: str, text: str) -> None:
        """A text file in the run's Files tab (e.g. the pre-run validation report)."""
        if self._ready():
            self._write_text(name, text)
        elif not self._dead:
            self._pending_texts.append((name, text))

    def _write_text(self, name: str, text: str) -> None:
        (Path(self.run.dir) / f"{name}.txt").write_text(text, encoding="utf-8")

    # -- at the end ------------------------------------------------------------------------
    def log_summary(self, summary: dict[str, Any], results_path: Path) -> None:
        """The numbers of summary.json (CI included), a bounded sample table, the results file."""
        if not self._wait():
            return
        if self._since_log:
            self._log_running()
        flat = {k: v for k, v in summary.items() if k not in _SUMMARY_SKIP}
        if summary.get("validation"):
            flat["validation/passed"] = summary["validation"].get("passed")
            flat["validation/n_warnings"] = summary["validation"].get("n_warnings")
        for name, m in (summary.get("metrics") or {}).items():
            # Flat copies of the headline numbers, so a dashboard can chart them directly.
            ci = m.get("ci95") or (None, None)
            flat.update({f"{name}/mean": m.get("mean"), f"{name}/stderr": m.get("stderr"),
                         f"{name}/ci95_low": ci[0], f"{name}/ci95_high": ci[1], f"{name}/n": m.get("n")})
        self.run.summary.update(flat)
        self.run.config.update({"packages": summary.get("packages"), "python": summary.get("python")},
                               allow_val_change=True)
        if self.settings.table_rows and results_path.exists():
            self.run.log({"samples": self._table(results_path)})
        if self.settings.log_results_artifact and results_path.exists():
            wandb = load_wandb()
            art = wandb.Artifact(f"results-{self.run.id}", type="results",
                                 metadata={"status": summary.get("status"), "n_done": summary.get("n_done")})
            # A complete job's files never change again: wandb may read them in place at sync
            # time. Any other job's results.jsonl grows on resume, so wandb keeps a copy of it.
            policy = "immutable" if summary.get("status") == "complete" else "mutable"
            art.add_file(str(results_path), name=results_path.name, policy=policy)
            summary_path = results_path.with_name("summary.json")
            if summary_path.exists():
                art.add_file(str(summary_path), name=summary_path.name, policy="mutable")
            self.run.log_artifact(art)

    def _table(self, results_path: Path) -> wandb.Table:
        wandb = load_wandb()
        columns = ["sample_id", "repeat", "seed", "input", "output", "target", "score", "error", "cached",
                   "latency_s", "attempts"]
        # Built row by row: passing data= makes wandb import pandas to test for a DataFrame (~1 s).
        table = wandb.Table(columns=columns)
        for rec in iter_records(results_path, limit=self.settings.table_rows):
            prompt = next((m.content for m in reversed(rec.messages) if m.role == "user"), "")
            table.add_data(rec.sample_id, rec.repeat, rec.seed, str(prompt)[:_TEXT_MAX],
                           (rec.output or "")[:_TEXT_MAX], (rec.target or "")[:_TEXT_MAX], rec.score,
                           f"{rec.error.type}: {rec.error.message}"[:_TEXT_MAX] if rec.error else None,
                           rec.cached, rec.latency_s, rec.attempts)
        return table

    def finish(self, failed: bool) -> None:
        """exit_code=1 marks the run failed on the dashboard; finishing frees wandb for the next job."""
        if self._finished:
            return
        self._finished = True
        if self._wait(raise_error=False):
            self.run.finish(exit_code=1 if failed else 0)
