"""The seven warnings: printed in the report with their remedy, never blocking. Seeds, resources
against the machine and the rate limits, the baseline, the dataset's provenance, whether the spec
speaks of what runs, and the prompts (the target shown to the model, items sharing a prompt)."""

from __future__ import annotations

import copy
import functools
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from evalsweep.config.base import PROJECT_ROOT
from evalsweep.config.dataset import DatasetConfig
from evalsweep.config.schema import ExperimentConfig
from evalsweep.job.validation_context import JobContext
from evalsweep.job.validation_helpers import Check, bad, ok, quote, said, show
from evalsweep.job.validation_report import CheckResult

GB = 1024**3


def check_seeds(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    seeds = sorted(set(ctx.seeds) | {exp.seed})
    if len(seeds) < 2:
        greedy = " (temperature 0: only the sample order and subset change with the seed)" \
            if exp.model.temperature == 0 else ""
        return bad("seeds", f"Random seeds: only one seed ({seeds[0]}){greedy}",
                   f"sweep several, e.g. -m seed={seeds[0]},{seeds[0] + 1},{seeds[0] + 2}", blocking=False)
    return ok("seeds", f"Random seeds: {len(seeds)} seeds across the sweep ({', '.join(map(str, seeds))})",
              blocking=False)


def _fmt_gb(n: float) -> str:
    return f"{n / GB:.1f} GB"


def estimate_job_memory(exp: ExperimentConfig, ctx: JobContext) -> int:
    """A rough upper bound on one job's memory: this process as it is now, the dataset held
    in memory a few times over, a buffer per request in flight, and wandb's service process."""
    data = exp.dataset.size_bytes()
    wandb = 400 * 1024**2 if exp.tracker == "wandb" else 0
    return ctx.machine.process_rss + 4 * data + exp.model.max_concurrency * 1024**2 + wandb


def check_resources(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    m, mach = exp.model, ctx.machine
    need = estimate_job_memory(exp, ctx) * ctx.parallel_jobs
    problems: list[str] = []
    fixes: list[str] = []
    if need > mach.memory_available:
        problems.append(f"~{_fmt_gb(need)} needed for {ctx.parallel_jobs} job(s) at once, "
                        f"{_fmt_gb(mach.memory_available)} free")
        fixes.append("fewer parallel jobs (hydra.launcher.n_jobs)")
    if ctx.parallel_jobs > mach.cores:
        problems.append(f"{ctx.parallel_jobs} jobs at once on {mach.cores} cores")
        fixes.append(f"hydra.launcher.n_jobs<={mach.cores}")
    if m.rpm is not None and m.max_concurrency > m.rpm:
        problems.append(f"{m.max_concurrency} workers but rpm {m.rpm}: the first minute's quota goes in one burst")
        fixes.append(f"model.max_concurrency<={m.rpm}")
    if m.tpm is not None and m.max_concurrency * m.max_tokens > m.tpm:
        problems.append(f"{m.max_concurrency} workers x max_tokens {m.max_tokens} exceeds tpm {m.tpm}")
        fixes.append("model.max_concurrency or model.tpm")
    if problems:
        return bad("resources", f"Resources: {'; '.join(problems)}", "; ".join(fixes), blocking=False)
    rate = f", at most {m.rpm} requests/min" if m.rpm else ""
    return ok("resources", f"Resources: {mach.cores} cores, {_fmt_gb(mach.memory_available)} free of "
                           f"{_fmt_gb(mach.memory_total)}; needs ~{_fmt_gb(need)} for {ctx.parallel_jobs} job(s) "
                           f"at once, {m.max_concurrency} workers{rate}", blocking=False)


def check_baseline(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    base = said(exp.spec.baseline)
    if base is None:
        return bad("baseline", "Baseline: no baseline variant named",
                   "spec.baseline (the variant the others are compared against, e.g. model=sim_weak)",
                   blocking=False)
    # A baseline of the form key=value on a swept key must be one of the values swept.
    absent = []
    for token in base.replace(",", " ").split():
        key, sep, value = token.partition("=")
        if sep and key in ctx.swept and value not in ctx.swept[key]:
            absent.append(f"{key}={value} (the sweep has {','.join(ctx.swept[key])})")
    if absent:
        return bad("baseline", f"Baseline: {quote(base, 80)} is not in this sweep: {'; '.join(absent)}",
                   "spec.baseline, or add the baseline to the sweep", blocking=False)
    return ok("baseline", f"Baseline: {quote(base, 80)}", blocking=False)


def _shown(d: DatasetConfig) -> str:
    """The data as the report shows it: its path (relative to here when under it), or the Hub dataset."""
    return show(d.resolved_path) if d.resolved_path is not None else d.where


def check_provenance(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    d, p = exp.dataset, exp.dataset.provenance
    if p is None:
        return ok("provenance", f"Dataset provenance: {d.name}, as configured (no provenance block)", blocking=False)
    if d.is_own_file:
        return ok("provenance", f"Dataset provenance: the option's own file and mapping ({p.where})", blocking=False)
    if not d.derived:
        return ok("provenance", f"Dataset provenance: {_shown(d)} is not {p.name}'s file or mapping; "
                                f"labelled as given ({d.name} v{d.version}, split {d.split})", blocking=False)
    how = ", ".join(f"{k} {getattr(d, k)!r} ({why})" if getattr(d, k) else f"{k} {why}"
                    for k, why in d.derived.items())
    return bad("provenance", f"Dataset provenance: {_shown(d)} is not the file or mapping of dataset "
                             f"option {p.name} ({p.where}), so nothing of its provenance is used: {how}",
               ", ".join(f"dataset.{k}" for k in d.derived) + " (what your file is)", blocking=False)


def _conf_options(group: str) -> dict[str, dict[str, Any]]:
    """The options of a conf/ group: stem -> its YAML (an unreadable file is left out)."""
    files = []
    for f in sorted((PROJECT_ROOT / "conf" / group).glob("*.yaml")):
        try:
            st = f.stat()
        except OSError:
            continue
        files.append((f, st.st_mtime_ns, st.st_size))
    return copy.deepcopy(_parsed_options(tuple(files)))


@functools.lru_cache(maxsize=8)
def _parsed_options(files: tuple[tuple[Path, int, int], ...]) -> dict[str, dict[str, Any]]:
    """Parsed once per state of the files: each job of a sweep checks its spec twice (before the
    sweep and in the job), and YAML parsing is the slow part of that check."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for f, _, _ in files:
        try:
            data = yaml.safe_load(f.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict):
            out[f.stem] = data
    return out


def _related(name: str, others: set[str]) -> bool:
    """One of the names others, or a family member: 'claude' and 'claude-sonnet-4-5', 'gpt-4o' and 'gpt-4o-mini'."""
    n = name.lower()
    return any(n == o or o.startswith((n + "-", n + "_")) or n.startswith((o + "-", o + "_")) for o in others)


def _mentioned(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE) is not None


_SIMULATOR = re.compile(r"\bsimulat(?:or|ed)\b", re.IGNORECASE)


def check_spec_subject(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    """Does the spec speak of what runs? A spec inherited from another experiment (the default job's,
    about the simulator's 0.75 on arithmetic) reads as if it applied to any model or dataset."""
    texts = {k: t for k in ("hypothesis", "falsification", "metrics") if (t := said(getattr(exp.spec, k)))}
    models, datasets = _conf_options("model"), _conf_options("dataset")

    def aliases(options: dict[str, dict[str, Any]], stems: list[str]) -> set[str]:
        return {a.lower() for s in stems for a in (s, str(options.get(s, {}).get("name") or s))}

    run_models = {exp.model.name.lower()} | {s.lower() for s, o in models.items() if o.get("name") == exp.model.name}
    run_models |= aliases(models, ctx.swept.get("model", []) + ([exp.scorer.judge] if exp.scorer.judge else []))
    run_models |= {v.lower() for v in ctx.swept.get("model.name", [])}
    simulated = exp.model.simulated or any(models.get(s, {}).get("simulated") for s in ctx.swept.get("model", []))
    run_data = {exp.dataset.name.lower()} | aliases(datasets, ctx.swept.get("dataset", []))
    run_data |= {v.lower() for v in ctx.swept.get("dataset.name", [])}
    if exp.dataset.is_own_file and exp.dataset.provenance is not None:
        run_data.add(exp.dataset.provenance.name.lower())

    named: list[str] = []
    fields: set[str] = set()  # the spec fields that name them
    for kind, options, run in (("model", models, run_models), ("dataset", datasets, run_data)):
        known = aliases(options, list(options)) | {str((o.get("provenance") or {}).get("name", "")).lower()
                                                    for o in options.values()} - {""}
        hits = {a: [k for k, t in texts.items() if _mentioned(t, a)] for a in known if not _related(a, run)}
        others = sorted(a for a, where in hits.items() if where)
        if others:
            fields.update(k for a in others for k in hits[a])
            runs = exp.model.name if kind == "model" else exp.dataset.name
            named.append(f"{kind} {', '.join(others)} (this job runs {runs})")
    sim_fields = [k for k, t in texts.items() if _SIMULATOR.search(t)]
    if not simulated and sim_fields:
        fields.update(sim_fields)
        named.append(f"the simulator ({exp.model.name} is a real model)")
    if named:
        where = ", ".join(f"spec.{k}" for k in texts if k in fields)
        return bad("spec_subject", f"Spec subject: {where} name{'s' if len(fields) == 1 else ''} "
                                   f"{'; '.join(named)}: is this spec about this job?",
                   "spec.hypothesis / spec.falsification / spec.metrics about what this job runs "
                   "(an experiment file states its own)", blocking=False)
    return ok("spec_subject", f"Spec subject: names no model or dataset other than this job's "
                              f"({exp.model.name} on {exp.dataset.name})", blocking=False)


def check_prompt_target(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    from evalsweep.task import prompts

    # Every template is filled for every sample here, so a template that cannot be (a lone brace,
    # an unknown field) stops with its own PromptError before any job of a sweep starts.
    _, mine = ctx.samples(exp)
    for sample in mine:
        prompts.check_templates(exp.prompt, sample)
    fm = exp.dataset.fields
    if fm.target is None:
        return ok("prompt_target", f"Prompt: dataset {exp.dataset.name} has no targets, so prompt "
                                   f"'{exp.prompt.name}' cannot show one", blocking=False)
    leaks = prompts.target_placeholders(exp.prompt, fm.target if fm.target in fm.metadata else None)
    if leaks:
        return bad("prompt_target", f"Prompt shows the answer: {'; '.join(leaks)} puts each sample's target "
                                    f"in what the model reads", "prompt.system / prompt.user without {target} "
                                    "(it is for scorer rubrics, not for the model's prompt)", blocking=False)
    return ok("prompt_target", f"Prompt: the target is not in prompt '{exp.prompt.name}'", blocking=False)


def check_duplicate_prompts(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    from evalsweep.task import prompts

    _, mine = ctx.samples(exp)
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for sample in mine:
        groups[prompts.filled(exp.prompt, sample)].append(sample.id)
    shared = [ids for ids in groups.values() if len(ids) > 1]
    if not shared:
        return ok("duplicate_prompts", f"Distinct prompts: each of the {len(mine)} items has a prompt of its own",
                  blocking=False)
    n = sum(len(ids) for ids in shared)
    example = " and ".join(f"'{i}'" for i in shared[0][:2])
    # The cache key is the request (messages, parameters, seed, repeat), never the sample id: the same
    # prompt is one question, asked once per seed and repeat (docs/cache.md).
    effect = (f"at temperature {exp.model.temperature:g} they get one cached answer per seed and repeat, "
              f"not independent draws" if exp.model.temperature > 0 and exp.cache.enabled
              else "the same question is counted as several items")
    return bad("duplicate_prompts", f"Distinct prompts: {n} items share a prompt with another item "
                                    f"({len(shared)} group{'s' if len(shared) > 1 else ''}, e.g. {example}); {effect}",
               "remove or merge the duplicates, or cache.enabled=false for independent draws (docs/cache.md)",
               blocking=False)


WARNINGS: tuple[Check, ...] = (check_seeds, check_resources, check_baseline, check_provenance, check_spec_subject,
                               check_prompt_target, check_duplicate_prompts)
