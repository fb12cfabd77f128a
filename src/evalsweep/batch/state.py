"""The batches a job submitted, kept in its dir (`<job dir>/batches/`): one JSON file per batch with
its id, the custom ids it holds and its state, written atomically (temp file, fsync, rename, fsync of
the dir) the moment the provider has created it, before any answer is handed out. A re-run reads them
back and re-attaches to the batches instead of submitting their requests again.

`endpoint.json` beside them says where the batches live (provider, model, base URL, key variable:
never a key), so `evalsweep batch status|cancel <dir>` can reach them without the job's config."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DIR = "batches"
ENDPOINT = "endpoint.json"
# submitting: an OpenAI upload whose batches.create had not answered yet (an intent; see Rounds.adopt).
State = Literal["submitting", "in_progress", "canceling", "ended", "lost"]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class BatchEntry(BaseModel):
    """One submitted batch. `retry`: custom ids that did not get an answer there (errored, expired,
    canceled): a later run submits them again; every other id of an ended batch is answered by it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    provider: str
    custom_ids: list[str]
    state: State = "in_progress"
    round: int = 1
    seq: int = 0  # order of submission within the job dir (a later batch wins for an id in two)
    submitted_at: str = Field(default_factory=now)
    ended_at: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)  # succeeded / errored / expired / canceled
    retry: list[str] = Field(default_factory=list)
    input_file_id: str | None = None  # OpenAI: the uploaded requests

    @property
    def open(self) -> bool:
        return self.state in ("in_progress", "canceling")


class Endpoint(BaseModel):
    """Where a job's batches are: enough to poll or cancel them later (no key: only its variable)."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    model: str
    base_url: str | None
    api_key_env: str | None
    simulated: bool


def write_atomic(path: Path, text: str) -> None:
    """The whole file or the old one, after a crash at any point; on disk once this returns."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BatchStore:
    """The batch files of one job dir, read once and kept in step with what this run writes."""

    def __init__(self, job_dir: Path) -> None:
        self.dir = Path(job_dir) / DIR
        self.entries: dict[str, BatchEntry] = {}
        self._by_cid: dict[str, str] = {}  # custom id -> the newest batch holding it
        self.endpoint_of_run: Endpoint | None = None  # written with this run's first batch
        if self.dir.is_dir():
            found = [BatchEntry.model_validate_json(p.read_text(encoding="utf-8")) for p in self.dir.glob("*.json")
                     if p.name != ENDPOINT]
            for entry in sorted(found, key=lambda e: e.seq):
                self._index(entry)

    def _index(self, entry: BatchEntry) -> None:
        self.entries[entry.id] = entry
        for cid in entry.custom_ids:
            self._by_cid[cid] = entry.id

    def save(self, entry: BatchEntry) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.endpoint_of_run is not None:
            self.save_endpoint(self.endpoint_of_run)
            self.endpoint_of_run = None
        if not entry.seq:
            entry.seq = max((e.seq for e in self.entries.values()), default=0) + 1
        write_atomic(self.dir / f"{entry.id}.json", entry.model_dump_json(indent=1))
        self._index(entry)

    def save_endpoint(self, endpoint: Endpoint) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self.dir / ENDPOINT, endpoint.model_dump_json(indent=1))

    def endpoint(self) -> Endpoint | None:
        path = self.dir / ENDPOINT
        return Endpoint.model_validate_json(path.read_text(encoding="utf-8")) if path.exists() else None

    def holder(self, cid: str) -> BatchEntry | None:
        """The batch that answers this custom id (in flight, or ended with its answer), or None:
        never submitted, or submitted and not answered (errored, expired, canceled, lost)."""
        batch_id = self._by_cid.get(cid)
        if batch_id is None:
            return None
        entry = self.entries[batch_id]
        if entry.state in ("lost", "submitting") or cid in entry.retry:
            return None
        return entry

    def intents(self) -> list[BatchEntry]:
        return [e for e in self.entries.values() if e.state == "submitting"]

    def drop(self, entry_id: str) -> None:
        """Remove an intent once its batch is found or known never to have been made."""
        (self.dir / f"{entry_id}.json").unlink(missing_ok=True)
        del self.entries[entry_id]
        self._by_cid = {}
        for entry in sorted(self.entries.values(), key=lambda e: e.seq):
            for cid in entry.custom_ids:
                self._by_cid[cid] = entry.id

    def open_batches(self) -> list[BatchEntry]:
        return [e for e in self.entries.values() if e.open]

    def next_round(self) -> int:
        return max((e.round for e in self.entries.values()), default=0) + 1


def summary_line(store: BatchStore) -> str:
    """'3 batch(es): 1 in progress, 2 ended; 40 request(s)' for logs and `batch status`."""
    entries = [e for e in store.entries.values() if e.state != "submitting"]
    made = {e.input_file_id for e in entries}
    uploads = [e for e in store.intents() if e.input_file_id not in made]  # no batch known for them yet
    by_state: dict[str, int] = {}
    for e in entries:
        by_state[e.state] = by_state.get(e.state, 0) + 1
    states = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(by_state.items()))
    line = f"{len(entries)} batch(es): {states or 'none'}; {sum(len(e.custom_ids) for e in entries)} request(s)"
    if uploads:
        line += f" (and {len(uploads)} upload(s) whose batch was being created: the next run looks for it)"
    return line


def dump(entries: list[BatchEntry]) -> str:
    return json.dumps([e.model_dump() for e in entries], indent=1)
