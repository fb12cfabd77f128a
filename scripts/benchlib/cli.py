"""`make bench` / `python scripts/bench.py [--quick | --smoke] [--only NAME ...]`.

full   the sizes of the issue (2,000 / 10,000 / 12 jobs / 10,000 vs 100,000 / 2,000 under a limit): ~7.5 min; writes
       docs/benchmarks.json and the table in docs/benchmarks.md
quick  the same workloads at a tenth of the size or so: ~1 min; writes outputs/bench/quick.json
smoke  tiny sizes, every code path once (tests/test_bench_smoke.py): < 30 s"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchlib import adaptive, cached, fixed_cost, machine, memory, throughput
from benchlib.procs import BenchError
from benchlib.report import BenchRun, machine_line, table, update_doc, write_json
from evalsweep.config.base import PROJECT_ROOT
from evalsweep.results.provenance import git_info

log = logging.getLogger("evalsweep.bench")

WORKLOADS = ("throughput", "cached", "fixed_cost", "memory", "adaptive")
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "full": {
        "throughput": {"n": 2000, "latency_ms": 100, "concurrency": 100, "rounds": 3},
        "cached": {"n": 10_000, "rounds": 3},
        "fixed_cost": {"jobs": 12, "latency_ms": 100, "n_jobs_parallel": 2, "rounds": 3},
        "memory": {"n_small": 10_000, "n_large": 100_000},
        "adaptive": {"n": 2000, "latency_ms": 100, "concurrency": 100, "limit": 100, "window_s": 1.0},
    },
    "quick": {
        "throughput": {"n": 500, "latency_ms": 100, "concurrency": 100, "rounds": 1},
        "cached": {"n": 2000, "rounds": 1},
        "fixed_cost": {"jobs": 4, "latency_ms": 100, "n_jobs_parallel": 2, "rounds": 1},
        "memory": {"n_small": 1000, "n_large": 10_000},
        "adaptive": {"n": 500, "latency_ms": 100, "concurrency": 100, "limit": 100, "window_s": 1.0},
    },
    "smoke": {
        "throughput": {"n": 20, "latency_ms": 10, "concurrency": 10, "rounds": 1},
        "cached": {"n": 20, "rounds": 1},
        "fixed_cost": {"jobs": 2, "latency_ms": 10, "n_jobs_parallel": 2, "rounds": 1, "variants": ("basic-none",)},
        "memory": {"n_small": 10, "n_large": 40},
        "adaptive": {"n": 40, "latency_ms": 10, "concurrency": 10, "limit": 20, "window_s": 0.5},
    },
}
RUNNERS = {"throughput": throughput.run, "cached": cached.run, "fixed_cost": fixed_cost.run, "memory": memory.run,
           "adaptive": adaptive.run}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/bench.py", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="preset", const="quick", default="full")
    size.add_argument("--smoke", action="store_const", dest="preset", const="smoke")
    p.add_argument("--only", nargs="+", choices=WORKLOADS, default=list(WORKLOADS), metavar="WORKLOAD",
                   help=f"run only these ({', '.join(WORKLOADS)})")
    p.add_argument("--out", type=Path, default=None,
                   help="results JSON (default: docs/benchmarks.json for a full run of every workload, "
                        "else outputs/bench/<preset>.json)")
    p.add_argument("--work-dir", type=Path, default=None, help="keep datasets, jobs and logs here (default: a temp dir)")
    p.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md after a full run")
    return p


def run(preset: str, only: list[str], work: Path) -> BenchRun:
    started, t0 = datetime.now(timezone.utc).isoformat(timespec="seconds"), time.perf_counter()
    desc = machine.describe()
    results = []
    for name in only:
        log.info("workload %s (%s)", name, preset)
        t = time.perf_counter()
        results.append(RUNNERS[name](work / name, **PRESETS[preset][name]))
        log.info("workload %s done in %.0f s", name, time.perf_counter() - t)
    git = git_info()
    return BenchRun(preset=preset, started_utc=started, duration_s=time.perf_counter() - t0,
                    git_commit=git.commit, git_dirty=git.dirty, machine=desc, workloads=results)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s")
    args = _parser().parse_args(argv)
    complete = args.preset == "full" and list(args.only) == list(WORKLOADS)
    out = args.out or (PROJECT_ROOT / "docs/benchmarks.json" if complete
                       else PROJECT_ROOT / "outputs" / "bench" / f"{args.preset}.json")
    try:
        if args.work_dir is not None:
            result = run(args.preset, args.only, args.work_dir.resolve())
        else:
            with tempfile.TemporaryDirectory(prefix="evalsweep-bench-") as tmp:
                result = run(args.preset, args.only, Path(tmp))
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    write_json(result, out)
    print(f"\nMachine: {machine_line(result)}\n\n{table(result)}\n")
    print(f"bench: results in {out}")
    if complete and not args.no_docs and update_doc(result, PROJECT_ROOT / "docs" / "benchmarks.md"):
        print("bench: table updated in docs/benchmarks.md")
    missed = [f.name for f in result.figures if f.met is False]
    if missed:
        print(f"bench: {len(missed)} target(s) missed: {'; '.join(missed)}")
    return 0
