"""results.<name>.jsonl: one line per classified row, keyed by (sample_id, seed, repeat), appended
and flushed as rows finish, so a crash loses at most the row being written; a resumed run drops a
torn last line and skips every row already there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evalsweep.errors import EvalsweepError
from evalsweep.results.rows import ResultRecord, complete_lines, iter_records

Identity = tuple[str, int, int]


class ClassifyError(EvalsweepError):
    exit_code = 2


def read_results(path: Path) -> list[ResultRecord]:
    """The finished rows of a results.jsonl (read only: a torn last line is skipped, not cut off)."""
    return list(iter_records(path))


def read_done(path: Path, prefix: str, stamp: dict[str, Any]) -> tuple[dict[Identity, dict[str, Any]], bool]:
    """Rows already classified, by identity, and whether a torn last line was cut off. Rows written
    by another classifier or rubric stop the stage: mixing two classifiers in one file is a bug."""
    if not path.exists():
        return {}, False
    done, torn = read_rows(path, cut_torn_tail=True)
    for ident, row in done.items():
        for key, want in stamp.items():
            got = row.get(prefix + key)
            if got != want:
                raise ClassifyError(
                    f"{path} was written with {key} {got!r}, this run uses {want!r}; pass --name <other> to "
                    f"write another file beside it, or delete it to classify afresh")
    return done, torn


def read_rows(path: Path, *, cut_torn_tail: bool = False) -> tuple[dict[Identity, dict[str, Any]], bool]:
    """The classification rows of a file, by identity, and whether its last line was torn."""
    done: dict[Identity, dict[str, Any]] = {}
    lines, torn = complete_lines(path, cut_torn_tail=cut_torn_tail)
    for lineno, line in lines:
        try:
            row = json.loads(line)
            ident = (str(row["sample_id"]), int(row["seed"]), int(row["repeat"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ClassifyError(f"{path}:{lineno}: not a classification row ({exc}); move the file aside to "
                                f"classify afresh") from None
        done[ident] = row
    return done, torn


