"""Read offline wandb runs back from disk, without network or an account.

wandb ships no Python reader for its run files any more. A `run-<id>.wandb` file is a
LevelDB-style log (https://github.com/google/leveldb/blob/main/doc/log_format.md) of
`wandb_internal_pb2.Record` messages: a 7-byte header (":W&B", magic 0xBEE1, version), then
32 KiB blocks of chunks `checksum u32 | length u16 | type u8 | data`, a record split over
FIRST/MIDDLE/LAST chunks when it crosses a block. The checksum is CRC-32 seeded with the
type byte. A job killed mid-write leaves a torn tail; it is dropped, like results.jsonl's.

    python -m evalsweep.tracking.wandb_offline <job dir or sweep dir>   # one line per run found
"""

from __future__ import annotations

import json
import re
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evalsweep.errors import EvalsweepError

HEADER = struct.Struct("<4sHB")
HEADER_IDENT, HEADER_MAGIC = b":W&B", 0xBEE1
CHUNK = struct.Struct("<IHB")
BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
_SEED = {t: zlib.crc32(bytes([t])) for t in (FULL, FIRST, MIDDLE, LAST)}


class OfflineRunError(EvalsweepError):
    exit_code = 2


class OfflineRun(BaseModel):
    """What a test or a user wants back from one offline run."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    run_id: str
    project: str
    name: str
    group: str
    job_type: str
    tags: list[str]
    config: dict[str, Any]
    summary: dict[str, Any]
    history: list[dict[str, Any]] = Field(default_factory=list)
    artifacts: list[dict[str, Any]] = Field(default_factory=list)
    exit_code: int | None = None  # None: the process died before finish() (killed)
    torn: bool = False  # the file ends in a partial record (killed mid-write)


def scan(path: Path) -> tuple[list[bytes], bool]:
    """Every complete record's bytes, and whether a torn or corrupt tail was dropped."""
    data = path.read_bytes()
    if len(data) < HEADER.size:
        return [], bool(data)
    ident, magic, _version = HEADER.unpack_from(data, 0)
    if ident != HEADER_IDENT or magic != HEADER_MAGIC:
        raise OfflineRunError(f"{path}: not a wandb run file (bad header {data[:7]!r})")
    pos, parts, out = HEADER.size, [], []
    while True:
        left = BLOCK - pos % BLOCK
        if left < CHUNK.size:  # a block's trailer: zero padding
            pos += left
        if pos + CHUNK.size > len(data):
            return out, pos < len(data) or bool(parts)
        checksum, length, kind = CHUNK.unpack_from(data, pos)
        body = data[pos + CHUNK.size: pos + CHUNK.size + length]
        if len(body) < length or kind not in _SEED or zlib.crc32(body, _SEED[kind]) != checksum:
            return out, True
        pos += CHUNK.size + length
        if kind == FULL:
            out.append(body)
        elif kind == FIRST:
            parts = [body]
        elif kind == MIDDLE:
            parts.append(body)
        else:
            out.append(b"".join(parts + [body]))
            parts = []


def iter_records(payloads: list[bytes]) -> Iterator[Any]:
    from wandb.proto import wandb_internal_pb2 as pb  # imported late: `import wandb` costs ~1 s

    for payload in payloads:
        rec = pb.Record()
        rec.ParseFromString(payload)
        yield rec


def _value(item: Any) -> Any:
    return json.loads(item.value_json) if item.value_json else None


def _key(item: Any) -> str:
    return "/".join(item.nested_key) if item.nested_key else item.key


def read_run(run: str | Path) -> OfflineRun:
    """Replay one run: config and summary updates in order, history rows, exit code. `run` is the
    run file (run-<id>.wandb), its offline-run-* dir, or a job dir holding exactly one run."""
    run_file = _one_run_file(Path(run))
    info: dict[str, Any] = {}
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    artifacts: list[dict[str, Any]] = []
    exit_code: int | None = None
    payloads, torn = scan(run_file)
    for rec in iter_records(payloads):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            r = rec.run
            info = {"run_id": r.run_id, "project": r.project, "name": r.display_name, "group": r.run_group,
                    "job_type": r.job_type, "tags": list(r.tags)}
            config.update({_key(i): _value(i) for i in r.config.update})
        elif kind == "config":
            config.update({_key(i): _value(i) for i in rec.config.update})
        elif kind == "summary":
            summary.update({_key(i): _value(i) for i in rec.summary.update})
            for i in rec.summary.remove:
                summary.pop(_key(i), None)
        elif kind == "history":
            history.append({_key(i): _value(i) for i in rec.history.item})
        elif kind == "artifact":
            a = rec.artifact
            artifacts.append({"name": a.name, "type": a.type,
                              "files": [e.path for e in a.manifest.contents],
                              "local_paths": [e.local_path for e in a.manifest.contents]})
        elif kind == "exit":
            exit_code = rec.exit.exit_code
    if not info:
        # wandb-core buffers records: a job killed early can leave only the file header.
        info = {"run_id": run_file.stem.removeprefix("run-"), "project": "", "name": "", "group": "",
                "job_type": "", "tags": []}
    # wandb's config values are wrapped as {"value": ...}; unwrap, drop its private keys.
    config = {k: v.get("value") if isinstance(v, dict) and "value" in v else v
              for k, v in config.items() if k != "_wandb"}
    return OfflineRun(path=run_file, config=config, summary=summary, history=history, artifacts=artifacts,
                      exit_code=exit_code, torn=torn, **info)


def find_run_files(root: str | Path) -> list[Path]:
    """Run files under a job dir (<job>/wandb/offline-run-*/run-*.wandb) or a whole sweep dir, in
    natural order (job 2 before job 10)."""
    return sorted(Path(root).glob("**/wandb/*run-*/run-*.wandb"), key=_natural)


def _natural(path: Path) -> list[tuple[int, int | str]]:
    return [(0, int(t)) if t.isdigit() else (1, t) for t in re.split(r"(\d+)", str(path)) if t]


def _one_run_file(path: Path) -> Path:
    if path.is_file():
        return path
    found = sorted(path.glob("run-*.wandb")) or find_run_files(path)
    if len(found) != 1:
        what = "no wandb run file" if not found else f"{len(found)} wandb runs"
        raise OfflineRunError(f"{path}: {what} there; give one run file or a dir holding exactly one run "
                              f"(find_run_files lists a sweep's)")
    return found[0]


def _round(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m evalsweep.tracking.wandb_offline <job dir or sweep dir>", file=sys.stderr)
        return 2
    files = find_run_files(Path(argv[0]))
    if not files:
        print(f"no wandb run files under {argv[0]} (was the job run with tracker=none?)", file=sys.stderr)
        return 1
    for f in files:
        run = read_run(f)
        score = _round(run.summary.get("score/mean"))
        ci = (_round(run.summary.get("score/ci95_low")), _round(run.summary.get("score/ci95_high")))
        state = {None: "killed", 0: "finished"}.get(run.exit_code, f"failed (exit {run.exit_code})")
        if run.job_type == "report":  # the sweep's report run: no job numbers of its own
            print(f"{run.run_id}  group={run.group}  report of the sweep  {state}  {f.parent}")
            continue
        print(f"{run.run_id}  group={run.group}  name={run.name}  status={run.summary.get('status')}  "
              f"score={score} ci95={ci}  n_done={run.summary.get('n_done')}  {state}  {f.parent}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
