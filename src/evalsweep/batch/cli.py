"""`evalsweep batch status DIR ...` (what each job dir's batches hold and where they are) and
`evalsweep batch cancel DIR ...` (cancel the ones still in flight; their requests are asked again by
the next run of the job). The provider is reached as the job reached it (endpoint.json in the dir's
batches/, the job's model config in summary.json, the key from the environment or .env)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from evalsweep.batch.backends import backend_for
from evalsweep.batch.common import BatchLost
from evalsweep.batch.state import DIR, BatchStore, summary_line
from evalsweep.batch.sweep import open_model
from evalsweep.errors import EvalsweepError
from evalsweep.llm.errors import ProviderError
from evalsweep.llm.service import api_key_for


def _dirs(paths: list[str]) -> list[Path]:
    """Job dirs with batches: each path itself, or the job dirs of a sweep dir."""
    out: list[Path] = []
    for p in map(Path, paths):
        if (p / DIR).is_dir():
            out.append(p)
        else:
            out += sorted(d.parent for d in p.glob(f"*/{DIR}"))
    return out


async def _run(job_dir: Path, cancel: bool) -> list[str]:
    store = BatchStore(job_dir)
    lines = [f"{job_dir}: {summary_line(store)}"]
    found = open_model(job_dir)
    backend = None
    if found is not None and store.open_batches():
        model, base_url = found
        backend = backend_for(model, api_key=api_key_for(model), base_url=base_url)
    try:
        for entry in sorted(store.entries.values(), key=lambda e: e.seq):
            state, counts = entry.state, entry.counts
            if backend is not None and entry.open:
                try:
                    status = await (backend.cancel(entry.id) if cancel else backend.poll(entry.id))
                    state, counts = status.state, status.counts
                    if cancel and state != "ended":
                        entry.state = "canceling"
                        store.save(entry)
                except BatchLost:
                    state = "unknown to the provider"
                except ProviderError as exc:
                    state = f"{state} (could not reach the provider: {exc})"
            what = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no counts yet"
            lines.append(f"  {entry.id} ({entry.provider}, round {entry.round}): {len(entry.custom_ids)} request(s), "
                         f"{state.replace('_', ' ')}; {what}")
    finally:
        if backend is not None:
            await backend.aclose()
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="evalsweep batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["status", "cancel"])
    parser.add_argument("dirs", nargs="+", help="job dirs (or sweep dirs) of run.mode=batch jobs")
    args = parser.parse_args(argv)
    from evalsweep.job.experiment import load_env

    load_env()
    dirs = _dirs(args.dirs)
    if not dirs:
        print(f"evalsweep batch: error: no {DIR}/ in {', '.join(args.dirs)}: not a run.mode=batch job dir",
              file=sys.stderr)
        return 2
    try:
        for job_dir in dirs:
            print("\n".join(asyncio.run(_run(job_dir, args.action == "cancel"))))
    except EvalsweepError as exc:
        print(f"evalsweep batch: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.action == "cancel":
        print("canceled requests are not run; re-run the job into its dir to ask them again")
    return 0
