"""The nine blocking checks: a failure stops the job before the first API call (unless the spec
skips validation). Each reads the config and the JobContext and returns one CheckResult."""

from __future__ import annotations

from typing import Any

from evalsweep.config.generate import GENERATE_FIELDS, in_use
from evalsweep.config.model import ModelConfig
from evalsweep.config.schema import ExperimentConfig
from evalsweep.job.validation_context import JobContext
from evalsweep.job.validation_helpers import Check, bad, ok, quote, said, show, writable_dir
from evalsweep.job.validation_report import CheckResult

# What decides a cached answer (evalsweep.llm.cache.cache_key); tests keep this list honest.
CACHE_KEY_FIELDS = ("provider", "model", "base_url", "messages", *GENERATE_FIELDS, "extra_headers", "seed", "repeat")


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
        return bad("hyperparameters", f"Hyperparameters documented: no justification for {names}{hint}",
                   f"spec.justifications.{{{','.join(missing)}}} (why each value)")
    return ok("hyperparameters", f"Hyperparameters documented ({len(given)} params in spec)")


def check_output_path(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    why = writable_dir(ctx.output_dir)
    if why:
        return bad("output_path", f"Output path: {show(ctx.output_dir)} cannot be written: {why}",
                   f"make {show(ctx.output_dir)} writable (fix its permissions or owner), or choose another dir "
                   f"with hydra.run.dir=... (hydra.sweep.dir=... for a sweep)")
    note = ""
    results = ctx.output_dir / "results.jsonl"
    if results.is_file():
        with results.open("rb") as f:
            note = f" (resuming: {sum(1 for _ in f)} records already there)"
    return ok("output_path", f"Output path: {show(ctx.output_dir)}/{note}")


def check_hypothesis(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    hyp, fals = said(exp.spec.hypothesis), said(exp.spec.falsification)
    missing = [f"spec.{k}" for k, v in (("hypothesis", hyp), ("falsification", fals)) if v is None]
    if missing:
        return bad("hypothesis", f"Hypothesis: {' and '.join(missing)} not stated",
                   " and ".join(missing) + " (what you expect, and the result that would prove it wrong)")
    assert hyp is not None and fals is not None
    return ok("hypothesis", f"Hypothesis: {quote(hyp, 90)} | Falsification: {quote(fals, 90)}")


def check_metrics(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    scorer, dataset = exp.scorer_type, exp.dataset.name
    if scorer == "choice" and exp.dataset.fields.choices is None:
        return bad("metrics", f"Metrics: scorer 'choice' on {dataset}, which has no choices",
                   "scorer=numeric|exact, or dataset.fields.choices (the option columns)")
    text = said(exp.spec.metrics)
    if text is None:
        return bad("metrics", f"Metrics: not defined ({scorer} scorer on {dataset}, but no spec.metrics)",
                   "spec.metrics (which number answers the hypothesis, and how it is aggregated)")
    return ok("metrics", f"Metrics: {scorer} scorer on {dataset}, per-sample score in [0, 1], "
                         f"mean with 95% CI: {quote(text, 90)}")


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
        return bad("dataset", f"Dataset: {d.name} has no {', '.join(missing)}",
                   ", ".join(f"dataset.{k}" for k in missing) + f" ({where})")
    n, n_all = len(mine), len(every)
    repeats = f" x {exp.repeats} repeats = {n * exp.repeats} requests" if exp.repeats > 1 else ""
    split = f"split {d.split}" if said(d.split) else "split not stated"
    # A Hub dataset without a stated version has none (the provenance check warns about it).
    version = ("version not stated" if d.version is None else d.version if str(d.version).startswith("sha256:")
               else f"v{d.version}")
    return ok("dataset", f"Dataset: {d.name} {version}, {split}, {n} of {n_all} samples{repeats}; "
                         f"source: {quote(str(d.source), 80)}")


def check_graphs(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    graphs = [g for g in (said(g) for g in exp.spec.graphs) if g]
    if not graphs:
        return bad("graphs", "Graphs planned: none", "spec.graphs (the plots that will answer the hypothesis)")
    return ok("graphs", f"Graphs planned: {len(graphs)} ({'; '.join(quote(g, 60) for g in graphs)})")


def check_caching(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    from evalsweep.llm.cache import KEY_SCHEMA_VERSION, default_path
    from evalsweep.llm.service import key_extra

    c = exp.cache
    if not c.enabled:
        return ok("caching", "Caching: off (cache.enabled=false): every request is sent, nothing is stored")
    path = default_path(c)
    if path.is_dir():
        return bad("caching", f"Caching: cache path {path} is a directory",
                   "cache.path or EVALSWEEP_CACHE_PATH (a file path)")
    why = writable_dir(path.parent)
    if why:
        return bad("caching", f"Caching: cannot write the cache file {path}: {why}",
                   "cache.path or EVALSWEEP_CACHE_PATH (a writable location), or cache.enabled=false")
    fields = list(CACHE_KEY_FIELDS) + (["simulator profile"] if key_extra(exp.model) else [])
    expiry = f"entries older than {c.ttl} are asked again" if c.ttl else "entries never expire"
    refresh = "; cache.refresh=true: every request is sent again and overwrites its entry" if c.refresh else ""
    return ok("caching", f"Caching: successful responses in {show(path)}, key sha256(v{KEY_SCHEMA_VERSION}: "
                         f"{', '.join(fields)}); {expiry}{refresh}; errors never cached")


def check_concurrency(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    m = exp.model
    if not m.simulated and m.rpm is None:
        return bad("concurrency", f"Concurrency: {m.max_concurrency} workers against {m.provider} with no rate limit",
                   "model.rpm (your account's requests per minute for this model)")
    limits = ", ".join(f"{k} {v}" for k, v in (("rpm", m.rpm), ("tpm", m.tpm)) if v) or "no rate limit (simulator)"
    return ok("concurrency", f"Concurrency: up to {m.max_concurrency} requests in flight, {limits}, "
                             f"timeout {m.request_timeout_s:g} s per request")


def check_error_handling(exp: ExperimentConfig, ctx: JobContext) -> CheckResult:
    from evalsweep.llm.errors import PERMANENT_STATUS, TRANSIENT_STATUS

    m, r = exp.model, exp.model.retry
    if not m.simulated and r.max_attempts < 2:
        return bad("error_handling", "Error handling: no retries against a real provider (max_attempts=1)",
                   "model.retry.max_attempts >= 2")
    if r.max_wait_s <= m.request_timeout_s:
        return bad("error_handling",
                   f"Error handling: a timed-out request is never retried (retry.max_wait_s {r.max_wait_s:g} s "
                   f"<= request_timeout_s {m.request_timeout_s:g} s)",
                   "model.retry.max_wait_s (larger than model.request_timeout_s)")
    if r.initial_wait_s > r.max_backoff_s:
        return bad("error_handling", f"Error handling: backoff starts at {r.initial_wait_s:g} s, above its cap "
                                     f"of {r.max_backoff_s:g} s", "model.retry.initial_wait_s <= max_backoff_s")
    transient = ", ".join(str(s) for s in sorted(TRANSIENT_STATUS))
    permanent = ", ".join(str(s) for s in sorted(PERMANENT_STATUS))
    on_errors = "non-zero exit" if exp.run.fail_on_sample_errors else "exit 0"
    return ok("error_handling",
              f"Error handling: retry {transient}, timeouts, connection errors: up to {r.max_attempts} attempts "
              f"within {r.max_wait_s:g} s, jittered exponential backoff {r.initial_wait_s:g}-{r.max_backoff_s:g} s, "
              f"retry-after honoured; permanent {permanent}: recorded per sample ({on_errors}); "
              f"401 stops the job")


BLOCKING: tuple[Check, ...] = (check_hyperparameters, check_output_path, check_hypothesis, check_metrics,
                               check_dataset, check_graphs, check_caching, check_concurrency,
                               check_error_handling)
