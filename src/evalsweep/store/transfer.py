"""Copying cache entries between stores through a JSONL file (`evalsweep cache export | import`),
so a cache built on a laptop (sqlite) seeds a cluster run (Redis) and back, even where the two
machines cannot reach each other. A line is {"key": <cache key>, "value": <the stored entry>}:
the same key and the same JSON value in either store. An import checks every line before it
writes any, so a damaged file changes nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalsweep.cache.backend import CacheBackend
from evalsweep.errors import CacheError

_KEY = re.compile(r"^[0-9a-f]{64}$")
BATCH = 500


def export_entries(entries: Iterator[tuple[str, str]], out: Path) -> tuple[int, int]:
    """Write the entries to out (JSONL); (written, skipped as not JSON)."""
    written = skipped = 0
    try:
        with out.open("w", encoding="utf-8") as f:
            for key, text in entries:
                try:
                    value = json.loads(text)
                except ValueError:
                    skipped += 1
                    continue
                f.write(json.dumps({"key": key, "value": value}, separators=(",", ":"), ensure_ascii=False) + "\n")
                written += 1
    except OSError as exc:
        raise CacheError(f"cannot write {out}: {exc.strerror or exc}; choose a writable path") from None
    return written, skipped


def _parse(line: str, where: str) -> tuple[str, dict[str, Any]]:
    try:
        item = json.loads(line)
    except ValueError as exc:
        raise CacheError(f"{where}: not JSON ({exc}); is this a file written by `evalsweep cache export`?") from None
    if not isinstance(item, dict) or set(item) != {"key", "value"}:
        raise CacheError(f'{where}: expected {{"key": ..., "value": ...}}, as `evalsweep cache export` writes')
    key, value = item["key"], item["value"]
    if not isinstance(key, str) or not _KEY.match(key):
        raise CacheError(f"{where}: the key is not a cache key (64 hex characters)")
    if not isinstance(value, dict) or not isinstance(value.get("response"), dict):
        raise CacheError(f"{where}: the value is not a cache entry (an object with a 'response')")
    return key, value


def _lines(path: Path) -> Iterator[tuple[str, str]]:
    try:
        with path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    yield f"{path} line {n}", line
    except OSError as exc:
        raise CacheError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise CacheError(f"{path} is not UTF-8 text ({exc.reason}); is it an export file?") from None


def check_file(path: Path) -> int:
    """Every line of an export file checked; how many entries it holds."""
    return sum(1 for where, line in _lines(path) if _parse(line, where))


def import_entries(path: Path, backend: CacheBackend) -> int:
    """Write every entry of an export file into the backend (replacing one of the same key, which
    holds the same answer); returns how many. Nothing is written when a line is bad."""
    check_file(path)
    n = 0
    batch: dict[str, Any] = {}
    for where, line in _lines(path):
        key, value = _parse(line, where)
        batch[key] = value
        if len(batch) >= BATCH:
            backend.write(batch)
            n, batch = n + len(batch), {}
    if batch:
        backend.write(batch)
        n += len(batch)
    return n
