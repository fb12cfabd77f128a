"""`evalsweep COMMAND ...`: one command for everything the project does, usable without
activating the venv (`.venv/bin/evalsweep`). Each subcommand is the existing entry point:

    evalsweep run [-m] [OVERRIDES]   the Hydra app (the same as python run.py)
    evalsweep report DIR ...         the sweep report (python scripts/report.py)
    evalsweep classify DIR ...       grade finished runs with a classifier (python scripts/classify.py)
    evalsweep cache ...              inspect, prune, check or copy the response cache (python -m evalsweep.cache)
    evalsweep sim ...                run the OpenAI/Anthropic simulator on a port (python -m evalsweep.simulator)
    evalsweep batch status|cancel DIR  the batches of a run.mode=batch job (docs/batch.md)
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from evalsweep.app.startup import load_entry

# name -> (module, function taking argv and returning an exit code, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("evalsweep.app.main", "run", "run a job or a sweep (Hydra overrides; -m for a multirun)"),
    "report": ("evalsweep.report.cli", "main", "tables, plots and paired tests for finished runs"),
    "classify": ("evalsweep.classify.cli", "main", "grade finished runs' rows with a classifier model"),
    "cache": ("evalsweep.cache.__main__", "main", "inspect, prune, check, export/import the response cache"),
    "sim": ("evalsweep.simulator.__main__", "main", "serve the local simulator (not a real model)"),
    "batch": ("evalsweep.batch.cli", "main", "status or cancel of a batch job's batches (run.mode=batch)"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: evalsweep COMMAND [ARGS ...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, _, text) in COMMANDS.items()]
    lines += ["", "evalsweep COMMAND --help shows a command's own options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"evalsweep: error: unknown command {name!r}; one of: {', '.join(COMMANDS)} (evalsweep --help)",
              file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[name]
    entry: Callable[[list[str]], int | None] = load_entry(module, func)
    return int(entry(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
