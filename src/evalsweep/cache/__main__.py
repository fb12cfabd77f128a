"""`python -m evalsweep.cache stats | clear | prune | check | export | import`: look into, trim, check and copy the shared response cache.

    python -m evalsweep.cache stats                       # entries per model, size, age
    python -m evalsweep.cache check                       # is the file healthy? (sqlite's integrity check)
    python -m evalsweep.cache clear --model sim-weak      # forget one model's answers
    python -m evalsweep.cache prune --older-than 7d       # forget answers older than a week
    python -m evalsweep.cache export cache.jsonl          # every entry to a file ...
    python -m evalsweep.cache import cache.jsonl --store redis://host:6379/0   # ... and into another store

Each command works on the sqlite file (--path, default as below) or on the Redis store (--store
URL, or $EVALSWEEP_STORE_URL when no --path is given).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from evalsweep.cache import admin
from evalsweep.cache.store import ENV_PATH
from evalsweep.config.run import CacheConfig
from evalsweep.errors import CacheError
from evalsweep.store.cache_target import CacheTarget
from evalsweep.store.transfer import export_entries, import_entries
from evalsweep.store.url import ENV_URL


def _where(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--path", type=Path, default=None,
                    help=f"cache file (default: ${ENV_PATH}, else .cache/responses.sqlite in the project)")
    sp.add_argument("--store", default=None, metavar="URL",
                    help=f"the Redis store instead, e.g. redis://host:6379/0 (default: ${ENV_URL} when no --path)")


def _duration(text: str) -> float:
    try:
        seconds = CacheConfig(ttl=text).ttl_seconds
    except ValidationError:
        raise argparse.ArgumentTypeError(f"expected a duration such as 30m, 12h, 7d or 2w, got {text!r}") from None
    assert seconds is not None
    return seconds


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evalsweep.cache", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, *, age_required: bool = False) -> None:
        _where(sp)
        sp.add_argument("--model", default=None, help="only entries of this model name (as in model.name)")
        sp.add_argument("--provider", default=None, help="only this provider (openai, anthropic, gemini, ...)")
        sp.add_argument("--older-than", type=_duration, default=None, required=age_required, metavar="DUR",
                        help="only entries written more than DUR ago (30m, 12h, 7d, 2w)")

    st = sub.add_parser("stats", help="entries per model, size and age")
    common(st)
    st.add_argument("--json", action="store_true", help="print JSON instead of a table")
    cl = sub.add_parser("clear", help="delete every entry (or every entry matching the filters)")
    common(cl)
    cl.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    pr = sub.add_parser("prune", help="delete entries older than --older-than (optionally of one model)")
    common(pr, age_required=True)
    pr.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    ck = sub.add_parser("check", help="run sqlite's integrity check on the file (exit 2 when it is damaged)")
    _where(ck)
    ex = sub.add_parser("export", help="write every entry (or every entry matching the filters) to a JSONL file")
    common(ex)
    ex.add_argument("file", type=Path, help="the JSONL file to write")
    im = sub.add_parser("import", help="write the entries of an exported JSONL file into this store")
    _where(im)
    im.add_argument("file", type=Path, help="a file written by `export`")
    return p


def _print_stats(s: admin.CacheStats) -> None:
    print(f"cache: {s.path} ({s.size_bytes / 1e6:.2f} MB, {s.entries} entries"
          + (f", {s.unreadable} unreadable" if s.unreadable else "") + ")")
    if not s.by_model:
        print("no matching entries")
        return
    width = max([len("provider/model")] + [len(f"{c.provider}/{c.model}") for c in s.by_model])
    print(f"{'provider/model':<{width}}  {'entries':>8}  oldest (UTC)          newest (UTC)")
    for c in s.by_model:
        print(f"{f'{c.provider}/{c.model}':<{width}}  {c.entries:>8}  {c.oldest_utc or '-':<20}  {c.newest_utc or '-'}")
    if s.matching != s.entries:
        print(f"{s.matching} of {s.entries} entries match the filters")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        target = CacheTarget.choose(args.path, args.store)
        if args.command == "check":
            print(target.check())
            return 0
        if args.command == "import":
            backend = target.writer()
            try:
                n = import_entries(args.file, backend)
            finally:
                backend.close()
            print(f"imported {n} entr{'y' if n == 1 else 'ies'} from {args.file} into {target.name}")
            return 0
        filters = admin.Filters(model=args.model, provider=args.provider, older_than_s=args.older_than)
        if args.command == "export":
            n, skipped = export_entries(target.entries(filters), args.file)
            print(f"exported {n} entr{'y' if n == 1 else 'ies'} from {target.name} to {args.file}"
                  + (f" ({skipped} unreadable entries skipped)" if skipped else ""))
            return 0
        if args.command == "stats":
            s = target.stats(filters)
            if args.json:
                print(s.model_dump_json(indent=2))
            else:
                _print_stats(s)
            return 0
        n = target.delete(filters, dry_run=args.dry_run)
    except CacheError as exc:
        print(f"evalsweep.cache: error: {exc}", file=sys.stderr)
        return exc.exit_code
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {n} entr{'y' if n == 1 else 'ies'} from {target.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
