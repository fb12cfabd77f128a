"""Pre-run validation: is the experiment specified well enough to be worth running?

Nine blocking checks and seven warnings, run before the first API call. What the config already
says (output path, cache, concurrency, retries, seeds) is derived from it; what only a person can
say (hypothesis, falsification, metrics, graphs, justifications, baseline) comes from `spec`."""

from __future__ import annotations

import json
import logging
import os
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import psutil
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from evalsweep.config.generate import GENERATE_FIELDS, in_use
from evalsweep.config.base import PROJECT_ROOT
from evalsweep.config.model import ModelConfig
from evalsweep.config.schema import ExperimentConfig
from evalsweep.errors import EvalsweepError

if TYPE_CHECKING:
    from evalsweep.task.data import Samples

log = logging.getLogger(__name__)

REPORT_TXT = "validation_report.txt"
REPORT_JSON = "validation_report.json"
Status = Literal["pass", "fail", "warn"]
ICONS: dict[str, str] = {"pass": "✅ PASS", "fail": "❌ FAIL", "warn": "⚠️  WARN"}
# What decides a cached answer (evalsweep.llm.cache.cache_key); tests keep this list honest.
CACHE_KEY_FIELDS = ("provider", "model", "base_url", "messages", *GENERATE_FIELDS, "seed", "repeat")
# Text that only holds a place for an answer does not count as one.
_PLACEHOLDERS = {"", "todo", "tbd", "?", "n/a", "none", "null", "fixme"}
GB = 1024**3
# Failures that skipping the checks would not cure: the job could not write there either.
UNSKIPPABLE = {"output_path", "caching"}


class ValidationFailed(EvalsweepError):
    """A blocking pre-run check failed: nothing was sent to any provider."""

    exit_code = 5


class Machine(BaseModel):
    """The resources a job can count on, probed with psutil (a test may pass its own)."""

    cores: int
    memory_available: int
    memory_total: int
    process_rss: int

    @classmethod
    def probe(cls) -> Machine:
        vm = psutil.virtual_memory()
        return cls(cores=psutil.cpu_count(logical=True) or 1, memory_available=vm.available,
                   memory_total=vm.total, process_rss=psutil.Process().memory_info().rss)


class JobContext(BaseModel):
    """What validation needs to know beyond the job's own config: where it writes, and its sweep."""

    model_config = ConfigDict(extra="forbid")

    output_dir: Path
    # Distinct seeds across the sweep this job belongs to ([seed] for a single run).
    seeds: list[int]
    n_jobs: int = 1
    parallel_jobs: int = 1
    # False when the sweep's pre-run validation already printed a report: the job only saves its own.
    print_report: bool = True
    # Swept override key -> the values it takes across the sweep (empty for a single run).
    swept: dict[str, list[str]] = Field(default_factory=dict)
    machine: Machine = Field(default_factory=Machine.probe)
    # The dataset as read by this validation (all rows, then the job's), read once for every check.
    _samples: tuple[str, Samples, Samples] | None = PrivateAttr(None)

    def samples(self, exp: ExperimentConfig) -> tuple[Samples, Samples]:
        """(every sample of the file, the job's samples); a file that does not load raises its
        own DatasetError (file and line, exit 2)."""
        from evalsweep.task.data import choose, read_dataset  # the data layer is only needed once validation runs

        key = f"{exp.dataset.model_dump_json()}|{exp.seed}|{exp.scorer_type}"
        if self._samples is None or self._samples[0] != key:
            every = read_dataset(exp.dataset, exp.scorer_type)
            self._samples = (key, every, choose(every, exp.dataset, exp.seed))
        return self._samples[1], self._samples[2]


class CheckResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    blocking: bool
    status: Status
    message: str
    # What to add or change when the check fails (or warns): "spec.metrics (...)", "model.rpm (...)".
    fix: str | None = None


def said(text: str | None) -> str | None:
    """The text, or None when it is empty or only a placeholder such as TODO or '...'."""
    if text is None:
        return None
    stripped = str(text).strip()
    return stripped if stripped.strip(".").strip().lower() not in _PLACEHOLDERS else None


def _quote(text: str, limit: int = 120) -> str:
    one_line = " ".join(text.split())
    return f'"{one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"}"'


def _ok(key: str, message: str, blocking: bool = True) -> CheckResult:
    return CheckResult(key=key, blocking=blocking, status="pass", message=message)


def _bad(key: str, message: str, fix: str, blocking: bool = True) -> CheckResult:
    return CheckResult(key=key, blocking=blocking, status="fail" if blocking else "warn", message=message, fix=fix)


def _writable_dir(path: Path) -> str | None:
    """Why files cannot be written under path (None when they can); path may not exist yet."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return f"no existing parent of {path}"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    return None


def _show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# ---- blocking checks -----------------------------------------------------------------------

def generation_params(m: ModelConfig) -> dict[str, Any]:
    """The generation parameters this job sends with every request (evalsweep.config.generate): those set,
    less what its provider or a reasoning model is never sent (evalsweep.cache.keys.not_sent)."""
    from evalsweep.cache.keys import not_sent

    unsent = not_sent(m.provider, m.simulated, m.reasoning)
    return {k: v for k, v in in_use(m).items() if k not in unsent}


def check_hyperparameters(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    given = {k: v for k, v in exp.spec.justifications.items() if said(v)}
    missing = [p for p in generation_params(exp.model) if p not in given]
    if missing:
        others = sorted(set(exp.spec.justifications) - set(generation_params(exp.model)))
        hint = f"; spec.justifications also has {', '.join(others)}, not generation parameters in use" if others else ""
        names = ", ".join(f"{p}={getattr(exp.model, p)!r}" for p in missing)
        return _bad("hyperparameters", f"Hyperparameters documented: no justification for {names}{hint}",
                    f"spec.justifications.{{{','.join(missing)}}} (why each value)")
    return _ok("hyperparameters", f"Hyperparameters documented ({len(given)} params in spec)")


def check_output_path(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    why = _writable_dir(ctx.output_dir)
    if why:
        return _bad("output_path", f"Output path: {_show(ctx.output_dir)} cannot be written: {why}",
                    f"make {_show(ctx.output_dir)} writable (fix its permissions or owner), or choose another dir "
                    f"with hydra.run.dir=... (hydra.sweep.dir=... for a sweep)")
    note = ""
    results = ctx.output_dir / "results.jsonl"
    if results.is_file():
        with results.open("rb") as f:
            note = f" (resuming: {sum(1 for _ in f)} records already there)"
    return _ok("output_path", f"Output path: {_show(ctx.output_dir)}/{note}")


def check_hypothesis(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    hyp, fals = said(exp.spec.hypothesis), said(exp.spec.falsification)
    missing = [f"spec.{k}" for k, v in (("hypothesis", hyp), ("falsification", fals)) if v is None]
    if missing:
        return _bad("hypothesis", f"Hypothesis: {' and '.join(missing)} not stated",
                    " and ".join(missing) + " (what you expect, and the result that would prove it wrong)")
    assert hyp is not None and fals is not None
    return _ok("hypothesis", f"Hypothesis: {_quote(hyp, 90)} | Falsification: {_quote(fals, 90)}")


def check_metrics(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    scorer, dataset = exp.scorer_type, exp.dataset.name
    if scorer == "choice" and exp.dataset.fields.choices is None:
        return _bad("metrics", f"Metrics: scorer 'choice' on {dataset}, which has no choices",
                    "scorer=numeric|exact, or dataset.fields.choices (the option columns)")
    text = said(exp.spec.metrics)
    if text is None:
        return _bad("metrics", f"Metrics: not defined ({scorer} scorer on {dataset}, but no spec.metrics)",
                    "spec.metrics (which number answers the hypothesis, and how it is aggregated)")
    return _ok("metrics", f"Metrics: {scorer} scorer on {dataset}, per-sample score in [0, 1], "
                          f"mean with 95% CI: {_quote(text, 90)}")


def check_dataset(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    d = exp.dataset
    # The split of a file that is not its option's own is not blocking: the provenance warning
    # asks for it, together with whatever else was derived rather than stated.
    missing = [k for k in ("version", "source", "split") if not said(getattr(d, k)) and k not in d.derived]
    # A file that does not load raises its own DatasetError (file and line, exit 2): bad input,
    # not a gap in the spec, and its one line says more than a report line could.
    every, mine = ctx.samples(exp)
    if missing:
        where = (f"under provenance: in conf/dataset/{d.provenance.name}.yaml" if d.is_own_file and d.provenance
                 else "in the dataset option, or on the command line")
        return _bad("dataset", f"Dataset: {d.name} has no {', '.join(missing)}",
                    ", ".join(f"dataset.{k}" for k in missing) + f" ({where})")
    n, n_all = len(mine), len(every)
    repeats = f" x {exp.repeats} repeats = {n * exp.repeats} requests" if exp.repeats > 1 else ""
    split = f"split {d.split}" if said(d.split) else "split not stated"
    version = d.version if str(d.version).startswith("sha256:") else f"v{d.version}"
    return _ok("dataset", f"Dataset: {d.name} {version}, {split}, {n} of {n_all} samples{repeats}; "
                          f"source: {_quote(str(d.source), 80)}")


def check_graphs(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    graphs = [g for g in (said(g) for g in exp.spec.graphs) if g]
    if not graphs:
        return _bad("graphs", "Graphs planned: none", "spec.graphs (the plots that will answer the hypothesis)")
    return _ok("graphs", f"Graphs planned: {len(graphs)} ({'; '.join(_quote(g, 60) for g in graphs)})")


def check_caching(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    from evalsweep.llm.cache import KEY_SCHEMA_VERSION, default_path
    from evalsweep.llm.service import key_extra

    c = exp.cache
    if not c.enabled:
        return _ok("caching", "Caching: off (cache.enabled=false): every request is sent, nothing is stored")
    path = default_path(c)
    if path.is_dir():
        return _bad("caching", f"Caching: cache path {path} is a directory",
                    "cache.path or EVALSWEEP_CACHE_PATH (a file path)")
    why = _writable_dir(path.parent)
    if why:
        return _bad("caching", f"Caching: cannot write the cache file {path}: {why}",
                    "cache.path or EVALSWEEP_CACHE_PATH (a writable location), or cache.enabled=false")
    fields = list(CACHE_KEY_FIELDS) + (["simulator profile"] if key_extra(exp.model) else [])
    expiry = f"entries older than {c.ttl} are asked again" if c.ttl else "entries never expire"
    refresh = "; cache.refresh=true: every request is sent again and overwrites its entry" if c.refresh else ""
    return _ok("caching", f"Caching: successful responses in {_show(path)}, key sha256(v{KEY_SCHEMA_VERSION}: "
                          f"{', '.join(fields)}); {expiry}{refresh}; errors never cached")


def check_concurrency(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    m = exp.model
    if not m.simulated and m.rpm is None:
        return _bad("concurrency", f"Concurrency: {m.max_concurrency} workers against {m.provider} with no rate limit",
                    "model.rpm (your account's requests per minute for this model)")
    limits = ", ".join(f"{k} {v}" for k, v in (("rpm", m.rpm), ("tpm", m.tpm)) if v) or "no rate limit (simulator)"
    return _ok("concurrency", f"Concurrency: up to {m.max_concurrency} requests in flight, {limits}, "
                              f"timeout {m.request_timeout_s:g} s per request")


def check_error_handling(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    from evalsweep.llm.errors import PERMANENT_STATUS, TRANSIENT_STATUS

    m, r = exp.model, exp.model.retry
    if not m.simulated and r.max_attempts < 2:
        return _bad("error_handling", "Error handling: no retries against a real provider (max_attempts=1)",
                    "model.retry.max_attempts >= 2")
    if r.max_wait_s <= m.request_timeout_s:
        return _bad("error_handling",
                    f"Error handling: a timed-out request is never retried (retry.max_wait_s {r.max_wait_s:g} s "
                    f"<= request_timeout_s {m.request_timeout_s:g} s)",
                    "model.retry.max_wait_s (larger than model.request_timeout_s)")
    if r.initial_wait_s > r.max_backoff_s:
        return _bad("error_handling", f"Error handling: backoff starts at {r.initial_wait_s:g} s, above its cap "
                                      f"of {r.max_backoff_s:g} s", "model.retry.initial_wait_s <= max_backoff_s")
    transient = ", ".join(str(s) for s in sorted(TRANSIENT_STATUS))
    permanent = ", ".join(str(s) for s in sorted(PERMANENT_STATUS))
    on_errors = "non-zero exit" if exp.run.fail_on_sample_errors else "exit 0"
    return _ok("error_handling",
               f"Error handling: retry {transient}, timeouts, connection errors: up to {r.max_attempts} attempts "
               f"within {r.max_wait_s:g} s, jittered exponential backoff {r.initial_wait_s:g}-{r.max_backoff_s:g} s, "
               f"retry-after honoured; permanent {permanent}: recorded per sample ({on_errors}); "
               f"401 stops the job")


# ---- warnings ------------------------------------------------------------------------------

def check_seeds(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    seeds = sorted(set(ctx.seeds) | {exp.seed})
    if len(seeds) < 2:
        greedy = " (temperature 0: only the sample order and subset change with the seed)" \
            if exp.model.temperature == 0 else ""
        return _bad("seeds", f"Random seeds: only one seed ({seeds[0]}){greedy}",
                    f"sweep several, e.g. -m seed={seeds[0]},{seeds[0] + 1},{seeds[0] + 2}", blocking=False)
    return _ok("seeds", f"Random seeds: {len(seeds)} seeds across the sweep ({', '.join(map(str, seeds))})",
               blocking=False)


def _fmt_gb(n: float) -> str:
    return f"{n / GB:.1f} GB"


def estimate_job_memory(exp: ExperimentConfig, ctx: JobContext) -> int:
    """A rough upper bound on one job's memory: this process as it is now, the dataset held
    in memory a few times over, a buffer per request in flight, and wandb's service process."""
    try:
        data = exp.dataset.resolved_path.stat().st_size
    except OSError:
        data = 0
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
        return _bad("resources", f"Resources: {'; '.join(problems)}", "; ".join(fixes), blocking=False)
    rate = f", at most {m.rpm} requests/min" if m.rpm else ""
    return _ok("resources", f"Resources: {mach.cores} cores, {_fmt_gb(mach.memory_available)} free of "
                            f"{_fmt_gb(mach.memory_total)}; needs ~{_fmt_gb(need)} for {ctx.parallel_jobs} job(s) "
                            f"at once, {m.max_concurrency} workers{rate}", blocking=False)


def check_baseline(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    base = said(exp.spec.baseline)
    if base is None:
        return _bad("baseline", "Baseline: no baseline variant named",
                    "spec.baseline (the variant the others are compared against, e.g. model=sim_weak)",
                    blocking=False)
    # A baseline of the form key=value on a swept key must be one of the values swept.
    absent = []
    for token in base.replace(",", " ").split():
        key, sep, value = token.partition("=")
        if sep and key in ctx.swept and value not in ctx.swept[key]:
            absent.append(f"{key}={value} (the sweep has {','.join(ctx.swept[key])})")
    if absent:
        return _bad("baseline", f"Baseline: {_quote(base, 80)} is not in this sweep: {'; '.join(absent)}",
                    "spec.baseline, or add the baseline to the sweep", blocking=False)
    return _ok("baseline", f"Baseline: {_quote(base, 80)}", blocking=False)


def check_provenance(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    d, p = exp.dataset, exp.dataset.provenance
    if p is None:
        return _ok("provenance", f"Dataset provenance: {d.name}, as configured (no provenance block)", blocking=False)
    if d.is_own_file:
        return _ok("provenance", f"Dataset provenance: the option's own file and mapping ({p.path})", blocking=False)
    if not d.derived:
        return _ok("provenance", f"Dataset provenance: {_show(d.resolved_path)} is not {p.name}'s file or mapping; "
                                 f"labelled as given ({d.name} v{d.version}, split {d.split})", blocking=False)
    how = ", ".join(f"{k} {getattr(d, k)!r} ({why})" if getattr(d, k) else f"{k} {why}"
                    for k, why in d.derived.items())
    return _bad("provenance", f"Dataset provenance: {_show(d.resolved_path)} is not the file or mapping of dataset "
                              f"option {p.name} ({p.path}), so nothing of its provenance is used: {how}",
                ", ".join(f"dataset.{k}" for k in d.derived) + " (what your file is)", blocking=False)


def _conf_options(group: str) -> dict[str, dict[str, Any]]:
    """The options of a conf/ group: stem -> its YAML (an unreadable file is left out)."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for f in sorted((PROJECT_ROOT / "conf" / group).glob("*.yaml")):
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
        return _bad("spec_subject", f"Spec subject: {where} name{'s' if len(fields) == 1 else ''} "
                                    f"{'; '.join(named)}: is this spec about this job?",
                    "spec.hypothesis / spec.falsification / spec.metrics about what this job runs "
                    "(an experiment file states its own)", blocking=False)
    return _ok("spec_subject", f"Spec subject: names no model or dataset other than this job's "
                               f"({exp.model.name} on {exp.dataset.name})", blocking=False)


def check_prompt_target(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    from evalsweep.task import prompts

    # Every template is filled for every sample here, so a template that cannot be (a lone brace,
    # an unknown field) stops with its own PromptError before any job of a sweep starts.
    _, mine = ctx.samples(exp)
    for sample in mine:
        prompts.check_templates(exp.prompt, sample)
    fm = exp.dataset.fields
    leaks = prompts.target_placeholders(exp.prompt, fm.target if fm.target in fm.metadata else None)
    if leaks:
        return _bad("prompt_target", f"Prompt shows the answer: {'; '.join(leaks)} puts each sample's target "
                                     f"in what the model reads", "prompt.system / prompt.user without {target} "
                                     "(it is for scorer rubrics, not for the model's prompt)", blocking=False)
    return _ok("prompt_target", f"Prompt: the target is not in prompt '{exp.prompt.name}'", blocking=False)


def check_duplicate_prompts(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    from evalsweep.task import prompts

    _, mine = ctx.samples(exp)
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for sample in mine:
        groups[prompts.filled(exp.prompt, sample)].append(sample.id)
    shared = [ids for ids in groups.values() if len(ids) > 1]
    if not shared:
        return _ok("duplicate_prompts", f"Distinct prompts: each of the {len(mine)} items has a prompt of its own",
                   blocking=False)
    n = sum(len(ids) for ids in shared)
    example = " and ".join(f"'{i}'" for i in shared[0][:2])
    # The cache key is the request (messages, parameters, seed, repeat), never the sample id: the same
    # prompt is one question, asked once per seed and repeat (docs/cache.md).
    effect = (f"at temperature {exp.model.temperature:g} they get one cached answer per seed and repeat, "
              f"not independent draws" if exp.model.temperature > 0 and exp.cache.enabled
              else "the same question is counted as several items")
    return _bad("duplicate_prompts", f"Distinct prompts: {n} items share a prompt with another item "
                                     f"({len(shared)} group{'s' if len(shared) > 1 else ''}, e.g. {example}); {effect}",
                "remove or merge the duplicates, or cache.enabled=false for independent draws (docs/cache.md)",
                blocking=False)


Check = Callable[[ExperimentConfig, JobContext], CheckResult]
BLOCKING: tuple[Check, ...] = (check_hyperparameters, check_output_path, check_hypothesis, check_metrics,
                               check_dataset, check_graphs, check_caching, check_concurrency,
                               check_error_handling)
WARNINGS: tuple[Check, ...] = (check_seeds, check_resources, check_baseline, check_provenance, check_spec_subject,
                               check_prompt_target, check_duplicate_prompts)


# ---- the report ----------------------------------------------------------------------------

class ValidationReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skipped: bool = False
    checks: list[CheckResult] = Field(default_factory=list)

    @property
    def blocking(self) -> list[CheckResult]:
        return [c for c in self.checks if c.blocking]

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.blocking if c.status == "fail"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "warn"]

    @property
    def passed(self) -> bool:
        return not self.failed

    def result_line(self) -> str:
        if self.skipped:
            return "RESULT: skipped (spec.skip_validation=true)"
        n = len(self.blocking)
        w = len(self.warnings)
        return f"RESULT: {n - len(self.failed)}/{n} blocking checks passed, {w} warning{'' if w == 1 else 's'}"

    def render(self) -> str:
        title = "Pre-Run Validation Report"
        lines = [title, "=" * len(title)]
        # A warning carries its remedy on the same line; a failure's goes to the one-line error.
        lines += [f"{ICONS[c.status]}: {c.message}" + (f" — {c.fix}" if c.status == "warn" and c.fix else "")
                  for c in self.checks]
        lines.append(self.result_line())
        return "\n".join(lines) + "\n"

    def to_summary(self) -> dict[str, Any]:
        """What summary.json and the tracker record."""
        return {"skipped": self.skipped, "passed": self.passed, "n_blocking": len(self.blocking),
                "n_blocking_passed": len(self.blocking) - len(self.failed), "n_warnings": len(self.warnings),
                "result": self.result_line(), "checks": [c.model_dump() for c in self.checks]}

    def fix_line(self) -> str:
        """One line: what to add to the spec and what to change in the config."""
        spec = [c.fix.removeprefix("spec.") for c in self.failed if c.fix and c.fix.startswith("spec.")]
        other = [c.fix for c in self.failed if c.fix and not c.fix.startswith("spec.")]
        parts = ([f"add to spec: {'; '.join(spec)}"] if spec else []) + ([f"fix: {'; '.join(other)}"] if other else [])
        if any(c.key in UNSKIPPABLE for c in self.failed):
            return " | ".join(parts)  # skipping the checks would not make the dir or the cache writable
        return " | ".join(parts) + " (or skip the checks with spec.skip_validation=true)"

    def error(self, where: str = "") -> ValidationFailed:
        return ValidationFailed(f"validation failed{where}: {self.fix_line()}")


def validate(exp: ExperimentConfig, ctx: JobContext) -> ValidationReport:
    """Run every check. A failing check is a line of the report; input that cannot be read at
    all (a dataset file that does not load) raises its own typed error."""
    if exp.spec.skip_validation:
        return ValidationReport(skipped=True)
    return ValidationReport(checks=[check(exp, ctx) for check in (*BLOCKING, *WARNINGS)])


def save(report: ValidationReport, out_dir: Path) -> None:
    """The report beside the job's results; an unwritable dir is already a failed check, not a crash."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / REPORT_TXT).write_text(report.render(), encoding="utf-8")
        (out_dir / REPORT_JSON).write_text(json.dumps(report.to_summary(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        log.warning("could not save the validation report in %s: %s", out_dir, exc)


def validate_job(exp: ExperimentConfig, ctx: JobContext) -> ValidationReport:
    """Validate, print and save the report; raise ValidationFailed when a blocking check failed."""
    report = validate(exp, ctx)
    if report.skipped:
        log.warning("pre-run validation skipped (spec.skip_validation=true); summary.json records that")
    elif ctx.print_report or not report.passed:
        print(report.render(), end="", flush=True)
    save(report, ctx.output_dir)
    if not report.passed:
        raise report.error()
    return report
