"""The wandb tracker: one run per job, living in <job dir>/wandb/, offline unless told otherwise.

`wandb` is imported here only, and this module only when tracker=wandb: the import alone
costs about a second, which `tracker=none` should not pay.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import wandb

from evalsweep.config import PROJECT_ROOT, ExperimentConfig, WandbConfig
from evalsweep.errors import EvalsweepError
from evalsweep.records import ResultRecord
from evalsweep.repro import GitInfo

log = logging.getLogger(__name__)

# wandb imports pandas (~0.7 s) the first time it logs any non-scalar value, only to ask "is
# this a DataFrame?". With this flag off it answers by type name instead, which is as exact
# (and a job never imports pandas, so nothing it logs can be a DataFrame anyway).
if hasattr(wandb.util, "pd_available"):
    wandb.util.pd_available = False

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


def run_name(job: Mapping[str, Any]) -> str:
    """Readable name from the command-line overrides: `model=sim_weak seed=42`."""
    overrides = list(job.get("overrides") or [])
    name = " ".join(overrides) if overrides else "defaults"
    if job.get("job_num") is not None:
        name = f"#{job['job_num']} {name}"
    return name[:128]


def run_group(job: Mapping[str, Any], out_dir: Path) -> str:
    """The sweep dir for a multirun (all its jobs in one group), else the job's own dir."""
    where = Path(job.get("sweep_dir") or out_dir).resolve()
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


def run_config(config: dict[str, Any], exp: ExperimentConfig, git: GitInfo, job: Mapping[str, Any],
               out_dir: Path, n_resumed: int) -> dict[str, Any]:
    """The resolved config, plus what makes a number traceable: commit, seed, job, resume."""
    extra = {
        "git": git.model_dump(),
        "seed": exp.seed,
        "simulated": exp.model.simulated,
        "job": {"dir": str(out_dir), "overrides": list(job.get("overrides") or []),
                "num": job.get("job_num"), "sweep_dir": job.get("sweep_dir"), "n_resumed": n_resumed},
    }
    return _scrub({**{k: v for k, v in config.items() if k != "hydra"}, **extra})


def _settings() -> wandb.Settings:
    # Each setting trims work wandb would do for nothing in an API-bound eval job:
    return wandb.Settings(
        console="off",           # Hydra already logs the console; wrapping stdout fights tqdm
        save_code=False,         # the git commit in the config identifies the code
        disable_git=True,        # ... and repro.git_info() already read it
        x_disable_stats=True,    # no system-metrics sampler thread (CPU/GPU are idle here)
        x_disable_meta=True,     # no host/command-line snapshot
        x_disable_machine_info=True,
        x_save_requirements=False,  # pip freeze costs ~0.1 s; uv.lock at the commit pins versions
        quiet=True,              # no banner per job of a sweep; we log one line ourselves
        reinit="finish_previous",  # a run left open by a crashed earlier job never swallows this one
    )


class WandbTracker:
    def __init__(self, exp: ExperimentConfig, *, config: dict[str, Any], out_dir: Path,
                 job: Mapping[str, Any], git: GitInfo, n_resumed: int = 0) -> None:
        self.settings: WandbConfig = exp.wandb
        tags = list(dict.fromkeys([*self.settings.tags, *(["simulated"] if exp.model.simulated else []),
                                   *(["resumed"] if n_resumed else [])]))
        mode = wandb_mode(os.environ)
        if mode == "offline":
            # Process-wide, and right for every job of this process (the mode comes from the
            # environment): wandb then skips its usage telemetry, ~0.1 s on the first log call.
            wandb.setup(settings=wandb.Settings(mode="offline"))
        try:
            self.run = wandb.init(
                project=self.settings.project, entity=self.settings.entity, dir=str(out_dir),
                mode=mode,  # type: ignore[arg-type]
                config=run_config(config, exp, git, job, out_dir, n_resumed),
                group=run_group(job, out_dir), name=run_name(job), job_type="eval", tags=tags,
                settings=_settings(),
            )
        except wandb.Error as exc:
            raise TrackingError(
                f"wandb could not start a run in {out_dir}/wandb: {exc}; "
                f"unset WANDB_MODE/WANDB_API_KEY to log offline, or run with tracker=none") from None
        self._offline = self.run.settings.mode in ("offline", "dryrun")
        self._since_log = 0
        self._fresh = 0
        self._t0 = time.perf_counter()
        self._last: dict[str, float] = {}
        self._finished = False
        self.run.define_metric("running/*", step_metric="running/done")
        log.info("wandb run %s (%s) in %s", self.run.id, "offline" if self._offline else "online", self.run.dir)

    # -- during the job --------------------------------------------------------------------
    def log_record(self, record: ResultRecord, running: dict[str, float]) -> None:
        self._fresh += 1
        self._since_log += 1
        self._last = running
        if self._since_log >= self.settings.log_every:
            self._log_running()

    def _log_running(self) -> None:
        if not self._last:
            return
        elapsed = time.perf_counter() - self._t0
        row = {f"running/{k}": v for k, v in self._last.items()}
        row["running/samples_per_s"] = self._fresh / elapsed if elapsed > 0 else 0.0
        self.run.log(row)
        self._since_log = 0

    def log_text(self, name: str, text: str) -> None:
        """A text file in the run's Files tab (e.g. the pre-run validation report)."""
        (Path(self.run.dir) / f"{name}.txt").write_text(text, encoding="utf-8")

    # -- at the end ------------------------------------------------------------------------
    def log_summary(self, summary: dict[str, Any], results_path: Path) -> None:
        """The numbers of summary.json (CI included), a bounded sample table, the results file."""
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
        columns = ["sample_id", "repeat", "seed", "input", "output", "target", "score", "error", "cached",
                   "latency_s", "attempts"]
        # Built row by row: passing data= makes wandb import pandas to test for a DataFrame (~1 s).
        table = wandb.Table(columns=columns)
        n = 0
        with results_path.open("r", encoding="utf-8") as f:
            for line in f:
                if n >= self.settings.table_rows:
                    break
                if not line.endswith("\n") or not line.strip():
                    continue  # a torn last line is not a record
                rec = ResultRecord.model_validate_json(line)
                prompt = next((m.content for m in reversed(rec.messages) if m.role == "user"), "")
                table.add_data(rec.sample_id, rec.repeat, rec.seed, str(prompt)[:_TEXT_MAX],
                               (rec.output or "")[:_TEXT_MAX], rec.target[:_TEXT_MAX], rec.score,
                               f"{rec.error.type}: {rec.error.message}"[:_TEXT_MAX] if rec.error else None,
                               rec.cached, rec.latency_s, rec.attempts)
                n += 1
        return table

    def finish(self, failed: bool) -> None:
        """exit_code=1 marks the run failed on the dashboard; finishing frees wandb for the next job."""
        if self._finished:
            return
        self._finished = True
        self.run.finish(exit_code=1 if failed else 0)
