"""`python scripts/classify.py <run or multirun dir> ... [--classifier sim_strong] [--rubric FILE]`:
grade the rows of finished jobs with a classifier model into results.<name>.jsonl beside each
results.jsonl. Re-running resumes: rows already classified are skipped. One line per problem."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from evalsweep.classify.stage import JobResult, StageSettings, classify_job
from evalsweep.classify.store import ClassifyError, read_results
from evalsweep.classify.tracking import StageTracker, WandbStageTracker
from evalsweep.config.base import PROJECT_ROOT
from evalsweep.config.run import CacheConfig
from evalsweep.errors import EvalsweepError
from evalsweep.judge.grading import check_rubric
from evalsweep.judge.options import load_model_option
from evalsweep.tracking.base import NullTracker

log = logging.getLogger("evalsweep.classify")
DEFAULTS = PROJECT_ROOT / "conf" / "scorer" / "judge.yaml"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="classify.py", description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="+", type=Path, help="job dirs or multirun dirs holding results.jsonl")
    p.add_argument("--classifier", default=None, help="a conf/model option (default: scorer.judge of "
                   "conf/scorer/judge.yaml, sim_strong)")
    p.add_argument("--rubric", type=Path, default=None, help="a text file with the rubric template (default: "
                   "the rubric of conf/scorer/judge.yaml); placeholders {input} {target} {output} {id}")
    p.add_argument("--grades", default=None, metavar="G=S,...",
                   help="grades and their scores, e.g. C=1,I=0 (default: those of conf/scorer/judge.yaml)")
    p.add_argument("--name", default="classify",
                   help="columns go to results.<name>.jsonl as <name>.grade, <name>.score, ... (default classify)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override the classifier's model config, e.g. --set temperature=0 (repeatable)")
    p.add_argument("--tracker", choices=("wandb", "none"), default="wandb",
                   help="track the stage as a wandb run (offline unless configured), or not")
    p.add_argument("--wandb-project", default="evalsweep")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    return p


def _overrides(items: list[str], base: dict[str, Any]) -> dict[str, Any]:
    out = OmegaConf.create(dict(base))
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ClassifyError(f"--set {item!r}: expected KEY=VALUE, e.g. --set temperature=0")
        OmegaConf.update(out, key, yaml.safe_load(value), force_add=True)
    return OmegaConf.to_container(out)  # type: ignore[return-value]


def _grades(text: str) -> dict[str, float]:
    grades: dict[str, float] = {}
    for part in text.split(","):
        g, sep, s = part.partition("=")
        try:
            grades[g.strip()] = float(s)
        except ValueError:
            raise ClassifyError(f"--grades {text!r}: expected GRADE=SCORE pairs, e.g. C=1,I=0") from None
        if not sep or not g.strip():
            raise ClassifyError(f"--grades {text!r}: expected GRADE=SCORE pairs, e.g. C=1,I=0")
    return grades


def settings_from(args: argparse.Namespace) -> StageSettings:
    defaults = OmegaConf.to_container(OmegaConf.load(DEFAULTS))
    assert isinstance(defaults, dict)
    if args.rubric is not None:
        try:
            rubric = args.rubric.read_text(encoding="utf-8")
        except OSError as exc:
            raise ClassifyError(f"--rubric {args.rubric}: cannot read ({exc.strerror})") from None
    else:
        rubric = str(defaults["rubric"])
    grades = _grades(args.grades) if args.grades else {str(k): float(v) for k, v in defaults["grades"].items()}
    if len(grades) < 2 or any(not 0 <= v <= 1 for v in grades.values()):
        raise ClassifyError("--grades: at least two grades, each with a score in [0, 1], e.g. C=1,I=0")
    name = args.classifier or str(defaults["judge"])
    model = load_model_option(name, _overrides(args.overrides, defaults.get("judge_overrides") or {}),
                              where="--classifier")
    try:
        return StageSettings(name=args.name, rubric=rubric, grades=grades, classifier=model)
    except ValueError:
        raise ClassifyError(f"--name {args.name!r}: letters, digits, '_' and '-' only, starting with a letter") from None


def job_dirs(roots: list[Path]) -> list[Path]:
    """Job dirs holding a results.jsonl: each root itself, or its subdirs (0/, 1/, ... in order).
    (Not evalsweep.report's finder: importing the report package costs seconds of scipy/matplotlib.)"""
    out: list[Path] = []
    for root in roots:
        if not root.is_dir():
            what = "no such file or directory" if not root.exists() else "not a directory"
            raise ClassifyError(f"{root}: {what}; pass a multirun dir or a job dir holding results.jsonl")
        if (root / "results.jsonl").is_file():
            found = [root]
        else:
            subdirs = sorted((c for c in root.iterdir() if c.is_dir()),
                             key=lambda c: (0, int(c.name), "") if c.name.isdigit() else (1, 0, c.name))
            found = [c for c in subdirs if (c / "results.jsonl").is_file()]
        out += [j for j in found if j not in out]
    if not out:
        raise ClassifyError(f"no results.jsonl in {', '.join(map(str, roots))} or its subdirs; run the jobs first, "
                            f"or pass the multirun dir (multirun/<date>/<time>)")
    return out


async def _run(jobs: list[Path], settings: StageSettings, cache: CacheConfig, tracker: StageTracker) -> list[JobResult]:
    from evalsweep.judge.scorer import JudgeScorer

    judge = JudgeScorer(model=settings.classifier, rubric=settings.rubric, grades=settings.grades, cache=cache)
    results: list[JobResult] = []
    try:
        for job in jobs:
            result = await classify_job(job, judge, settings, tracker.log_row)
            (job / f"summary.{settings.name}.json").write_text(result.model_dump_json(indent=2) + "\n")
            tracker.log_job(result)
            results.append(result)
            agree = f", agreement with the job's score {result.agreement:.3f}" if result.agreement is not None else ""
            print(f"classify: {job}: {result.rows} rows ({result.already} already, {result.classified} now), "
                  f"{result.errors} errors{agree}", flush=True)
    finally:
        await judge.aclose()
    return results


def totals_of(results: list[JobResult]) -> dict[str, Any]:
    grades: dict[str, int] = {}
    for r in results:
        for g, n in r.grades.items():
            grades[g] = grades.get(g, 0) + n
    return {"jobs": len(results), "rows": sum(r.rows for r in results),
            "classified": sum(r.classified for r in results), "already": sum(r.already for r in results),
            "errors": sum(r.errors for r in results), "cost_usd": round(sum(r.cost_usd for r in results), 8),
            "grades": grades}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "httpcore", "openai", "anthropic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from evalsweep.job.experiment import load_env
    from evalsweep.llm.service import api_key_for

    tracker: StageTracker = NullTracker()
    totals: dict[str, Any] = {}
    failed = True
    try:
        load_env()
        settings = settings_from(args)
        jobs = job_dirs(args.dirs)
        metadata = {k for j in jobs for rec in read_results(j / "results.jsonl") for k in rec.metadata}
        check_rubric(settings.rubric, metadata, "--rubric")
        api_key_for(settings.classifier)  # a missing key stops here, before any call
        if args.tracker == "wandb":
            root = args.dirs[0].resolve()
            tracker = WandbStageTracker(
                project=args.wandb_project, run_dir=root if root.is_dir() else root.parent,
                config={"classifier": settings.classifier.model_dump(mode="json"), "rubric": settings.rubric,
                        "grades": settings.grades, "name": settings.name, "dirs": [str(d) for d in args.dirs],
                        "stamp": settings.stamp()},
                name=f"{settings.name} by {settings.classifier.name}", group=str(root),
                tags=["classify", *(["simulated"] if settings.classifier.simulated else [])])
        cache = CacheConfig(enabled=not args.no_cache)
        results = asyncio.run(_run(jobs, settings, cache, tracker))
        totals = totals_of(results)
        failed = False
    except EvalsweepError as exc:
        print(f"classify: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("classify: interrupted; classified rows are saved, run it again to resume", file=sys.stderr)
        return 130
    finally:
        tracker.finish(totals, failed)
    print(f"classify: {totals['rows']} rows in {totals['jobs']} job(s), {totals['classified']} classified now, "
          f"{totals['errors']} errors, grades {json.dumps(totals['grades'])}, cost ${totals['cost_usd']:.6f}")
    return 0
