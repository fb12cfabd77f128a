"""Resume checks: may this job continue the records already in its dir, and is it done already?

A job re-run into its own output dir (`hydra.run.dir=<dir>`, or `hydra.sweep.dir=<dir>` for a
multirun) continues from results.jsonl: samples are matched by (sample id, seed, repeat). That
identity is only meaningful when the records were produced by the same experiment, so a dir
written by another model, prompt, dataset or generation setting is refused, not mixed in.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evalsweep.config.schema import ExperimentConfig
from evalsweep.errors import ConfigError
from evalsweep.config.generate import GENERATE_FIELDS
from evalsweep.results.rows import ResultRecord
from evalsweep.job.summary import Summary
from evalsweep.job.work import JobWork

log = logging.getLogger(__name__)

# Config values that change what a sample's answer or score is. Changing anything else
# (concurrency, retries, cache, tracking, max_samples, repeats, the simulator's port) is fine.
# The server (base_url) answers, so another one is another experiment; subset_seed picks the items.
_DECISIVE = {
    "model": ("provider", "name", "base_url", *GENERATE_FIELDS, "extra_headers", "structured_output"),
    "dataset": ("name", "path", "version", "split", "fields", "scorer", "subset_seed"),
    "prompt": ("name", "system", "user", "few_shot"),
    "scorer": ("type", "tolerance", "judge", "judge_overrides", "rubric", "grades"),
    "structured": ("response_model", "score_field"),
}


def fingerprint(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The decisive part of a resolved config (a plain dict, as stored in summary.json)."""
    out: dict[str, Any] = {"seed": cfg.get("seed")}
    for group, keys in _DECISIVE.items():
        section = cfg.get(group) or {}
        out.update({f"{group}.{k}": section.get(k) for k in keys})
    # A solver's steps decide the answer; the default (or none: a dir from before solvers) is one generate.
    steps = [{k: v for k, v in step.items() if v is not None} for step in (cfg.get("solver") or {}).get("steps") or []]
    out["solver.steps"] = None if steps in ([], [{"type": "generate"}]) else steps
    sim = (cfg.get("model") or {}).get("simulator") or {}
    if sim:  # a simulated model's answers depend on its profile
        out.update({"model.simulator.accuracy": sim.get("accuracy"), "model.simulator.cot_bonus": sim.get("cot_bonus")})
    return out


def check_compatible(exp: ExperimentConfig, config: Mapping[str, Any], out_dir: Path,
                     done: Mapping[tuple[str, int, int], ResultRecord], summary_path: Path) -> None:
    """Raise ConfigError when out_dir holds another experiment's results."""
    mine = (exp.model.name, exp.model.provider, exp.prompt.name, exp.dataset.name, exp.seed)
    for rec in done.values():
        if (rec.model, rec.provider, rec.prompt, rec.dataset, rec.seed) != mine:
            raise ConfigError(
                f"{out_dir}/results.jsonl holds results of model={rec.model} prompt={rec.prompt} "
                f"dataset={rec.dataset} seed={rec.seed}, not of this job (model={exp.model.name} "
                f"prompt={exp.prompt.name} dataset={exp.dataset.name} seed={exp.seed}); "
                f"choose another output dir, or move that one aside")
    previous = _previous_config(summary_path)
    if previous is None or not done:
        return
    old, new = fingerprint(previous), fingerprint(config)
    changed = [k for k in new if old.get(k) != new[k]]
    if changed:
        k = changed[0]
        raise ConfigError(
            f"{out_dir} was run with {k}={old.get(k)!r}, this job has {k}={new[k]!r}: resuming would mix "
            f"two experiments in one results file; choose another output dir, or move that one aside")


def check_rows(work: JobWork, done: Mapping[tuple[str, int, int], ResultRecord], results: Path) -> None:
    """Each earlier record must be this job's work, asked the way this job asks it: a dataset edited
    since (ids kept) or a smaller subset would otherwise leave stale rows beside new ones."""
    stale = next((ident for ident in done if ident not in work), None)
    if stale is not None:
        n = sum(1 for ident in done if ident not in work)
        raise ConfigError(
            f"{results} holds {n} record(s) this job does not run (first: sample {stale[0]!r}, seed {stale[1]}, "
            f"repeat {stale[2]}): the dataset, max_samples or repeats changed since; resuming would mix them in. "
            f"Choose another output dir, or move that one aside")
    if not done:
        return
    for sample in work.samples:  # rendered only where a record exists: a resume costs what it resumes
        for r in range(work.repeats):
            rec = done.get((sample.id, work.seed, r))
            if rec is None:
                continue
            if rec.target != sample.target:
                what = "target"
            elif not work.asked_as(sample, rec.messages):
                what = "prompt (input or template)"
            else:
                continue
            raise ConfigError(
                f"{results}: sample {sample.id!r} has a different {what} than when it was run: the dataset "
                f"was edited since; resuming would mix old and new rows. Choose another output dir, or move "
                f"that one aside")


def already_complete(summary_path: Path, n_todo: int) -> Summary | None:
    """The earlier summary when that run completed and no sample is left to do."""
    if n_todo or not summary_path.exists():
        return None
    try:
        s = Summary.model_validate_json(summary_path.read_text(encoding="utf-8"))
    except ValidationError:
        log.warning("%s is unreadable or from another version; finishing the job again", summary_path)
        return None
    return s if s.status == "complete" else None


def _previous_config(summary_path: Path) -> dict[str, Any] | None:
    if not summary_path.exists():
        return None
    try:
        cfg = json.loads(summary_path.read_text(encoding="utf-8")).get("config")
    except (json.JSONDecodeError, AttributeError):
        return None
    return cfg if isinstance(cfg, dict) else None
