"""Which variant is the baseline: spec.baseline from the jobs' configs, or --baseline.

A baseline is written as the sweep was: Hydra choices and config keys ("model=sim_weak
prompt=direct", "model.temperature=0"), or a variant's label as the report prints it
("model=sim-weak,prompt=direct"). A job matches when every key=value holds for it: in its
overrides (.hydra/overrides.yaml), as a config value (key, or key.name for a group). When several
variants match (the baseline names the model, the sweep also varies the prompt), each other variant
is compared with the matching one that agrees with it on everything the baseline does not name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from evalsweep.report.errors import ReportError
from evalsweep.report.load import LoadedRuns
from evalsweep.report.readjob import JobInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Baseline:
    spec: str  # as written
    source: str  # "spec.baseline" | "--baseline"
    pairs: dict[str, str]  # variant -> the baseline variant it is compared with
    unmatched: list[str]  # variants with no baseline that agrees with them on the other settings


def _tokens(spec: str) -> list[tuple[str, str]]:
    out = []
    for tok in spec.replace(",", " ").split():
        key, sep, value = tok.partition("=")
        if not sep or not key:
            raise ReportError(f"baseline {spec!r}: {tok!r} is not key=value", None,
                              "write it as the sweep does, e.g. model=sim_weak prompt=direct")
        out.append((key.lstrip("+~"), value))
    return out


def _overrides(job: Path) -> set[str]:
    path = job / ".hydra" / "overrides.yaml"
    try:
        items = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        return set()
    return {str(i).lstrip("+~") for i in items} if isinstance(items, list) else set()


def _same(a: Any, b: str) -> bool:
    return str(a) == b or (isinstance(a, bool) and str(a).lower() == b.lower())


def _job_matches(job: JobInfo, tokens: list[tuple[str, str]]) -> bool:
    over = _overrides(job.path)
    for key, value in tokens:
        if f"{key}={value}" in over:
            continue
        facet = job.facets.get(key, job.facets.get(f"{key}.name"))
        if facet is None or not _same(facet, value):
            return False
    return True


def _named_keys(tokens: list[tuple[str, str]], label_keys: list[str]) -> set[str]:
    keys = {k for k, _ in tokens}
    return {lk for lk in label_keys if lk in keys or (lk.endswith(".name") and lk[: -len(".name")] in keys)}


def spec_baseline(loaded: LoadedRuns) -> str | None:
    """The jobs' spec.baseline when they agree on one (None when unset)."""
    said = {str(j.facets["spec.baseline"]).strip() for j in loaded.jobs
            if j.included and j.facets.get("spec.baseline") not in (None, "")}
    if len(said) > 1:
        log.warning("jobs name different baselines (%s): comparing all pairs", "; ".join(sorted(said)))
        return None
    return said.pop() if said else None


def resolve(loaded: LoadedRuns, explicit: str | None) -> Baseline | None:
    """The baseline contrasts, or None for all pairs. An explicit baseline that matches nothing is a
    ReportError; a spec.baseline that matches nothing is a warning (the sweep may have left it out)."""
    spec, source = (explicit, "--baseline") if explicit else (spec_baseline(loaded), "spec.baseline")
    if not spec:
        return None
    jobs = [j for j in loaded.jobs if j.included]
    variants = sorted({j.variant for j in jobs})
    if spec in variants:
        matched = [spec]
        named = set(loaded.label_keys)
    else:
        tokens = _tokens(spec)
        by_variant: dict[str, list[JobInfo]] = {}
        for j in jobs:
            by_variant.setdefault(j.variant, []).append(j)
        matched = [v for v, js in sorted(by_variant.items()) if all(_job_matches(j, tokens) for j in js)]
        named = _named_keys(tokens, loaded.label_keys)
    if not matched:
        msg = f"baseline {spec!r} ({source}) matches no variant (variants: {'; '.join(variants)})"
        if explicit:
            raise ReportError(msg, None, "pass one of the variant labels, or key=value as in the sweep")
        log.warning("%s: comparing all pairs", msg)
        loaded.warnings.append(msg + ": comparing all pairs")
        return None
    facets = {j.variant: j.facets for j in jobs}
    rest = [k for k in loaded.label_keys if k not in named]
    pairs: dict[str, str] = {}
    unmatched: list[str] = []
    for v in variants:
        if v in matched:
            continue
        if len(matched) == 1:
            pairs[v] = matched[0]
            continue
        agree = [b for b in matched if all(str(facets[b].get(k)) == str(facets[v].get(k)) for k in rest)]
        if len(agree) == 1:
            pairs[v] = agree[0]
        else:
            unmatched.append(v)
    return Baseline(spec, source, pairs, unmatched)
