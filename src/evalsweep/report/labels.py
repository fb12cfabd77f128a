"""Variants: which config keys differ between jobs, and the labels that name the variants.

A variant is what differs between jobs' configs, seeds excluded: jobs that differ only in seed are
replicates of one variant. A parameter the provider is never sent makes no variant either
(readjob.NOT_SENT_VALUE).
"""

from __future__ import annotations

import fnmatch
import json
import logging
from typing import Any

from evalsweep.report.readjob import JobInfo

# The loader's warnings keep the logger name they have always had in a sweep's log.
log = logging.getLogger("evalsweep.report.load")

# Config keys that never make a new variant: seeds are replicates; the rest change how a job
# runs (paths, cache, tracking, concurrency, retries, a simulator's loopback port), not what
# the model is asked.
IGNORED_KEYS = (
    "seed", "*.seed", "hydra.*", "cache.*", "tracker", "tracker.*", "run.*", "wandb.*",
    "*.max_concurrency", "*.request_timeout_s", "*.retry.*", "*.rpm", "*.tpm",
    "*.api_key_env", "*.base_url", "*output_dir", "*out_dir", "*run_dir", "*job_dir", "*run_id",
    "*run_name", "*timestamp*", "*_utc",
)
# Keys tried first when labelling variants, shown without their ".name".
LABEL_PRIORITY = ("model.name", "prompt.name", "dataset.name", "scorer.type")
_UNSET = "<unset>"


def _hashable(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def show_value(v: Any) -> str:
    """A config value as the report shows it: null, true, 0.7, compact JSON for lists and dicts."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def differing_keys(jobs: list[JobInfo]) -> list[str]:
    """Config keys whose values differ between jobs, ignoring seeds and run mechanics."""
    keys = sorted({k for j in jobs for k in j.facets})
    out = []
    for k in keys:
        if any(fnmatch.fnmatchcase(k, pat) for pat in IGNORED_KEYS):
            continue
        if len({_hashable(j.facets.get(k, _UNSET)) for j in jobs}) > 1:
            out.append(k)
    return out


def label_keys(jobs: list[JobInfo], keys: list[str]) -> list[str]:
    """The fewest keys, in priority order, that tell all variants apart: a key is kept only if
    it splits jobs that the keys before it left together (model.provider adds nothing to
    model.name)."""
    ordered = [k for k in LABEL_PRIORITY if k in keys]
    ordered += sorted(k for k in keys if k.endswith(".name") and k.count(".") == 1 and k not in ordered)
    ordered += [k for k in keys if k not in ordered]
    chosen: list[str] = []
    n_classes = 1
    for k in ordered:
        trial = chosen + [k]
        classes = len({tuple(_hashable(j.facets.get(c, _UNSET)) for c in trial) for j in jobs})
        if classes > n_classes:
            chosen, n_classes = trial, classes
    return chosen


def format_label(keys: list[str], values: dict[str, Any]) -> str:
    """"model=sim-weak,prompt=cot" from label keys and their values (a group's .name shows as
    the group)."""
    parts = []
    for k in keys:
        shown = k[: -len(".name")] if k.endswith(".name") and k.count(".") == 1 else k
        parts.append(f"{shown}={show_value(values.get(k))}")
    return ",".join(parts)


def variant_label(job: JobInfo, keys: list[str]) -> str:
    """The job's values of the label keys, or its model when no key tells variants apart."""
    if not keys:
        return str(job.facets.get("model.name", "unknown"))
    return format_label(keys, job.facets)


def warn_not_sent(jobs: list[JobInfo], warnings: list[str]) -> None:
    """A sweep over a parameter the provider never gets is a no-op: say so once per variant."""
    by_variant: dict[str, dict[str, set[str]]] = {}
    for j in jobs:
        for key, value in j.unsent.items():
            by_variant.setdefault(j.variant, {}).setdefault(key, set()).add(show_value(value))
    for variant, params in sorted(by_variant.items()):
        for key, values in sorted(params.items()):
            if len(values) > 1:
                provider = next(str(j.facets.get("model.provider")) for j in jobs if j.variant == variant)
                msg = (f"variant {variant}: {key} was set to {', '.join(sorted(values))} in its jobs, but the "
                       f"{provider} API is never sent {key.split('.', 1)[1]}: those jobs are one variant, "
                       f"not a sweep over it")
                log.warning(msg)
                warnings.append(msg)
