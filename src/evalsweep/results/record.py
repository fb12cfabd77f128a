"""The reproducibility record in every job's output dir (repro/): enough to run the job again.

    repro/record.json       command line and overrides, the command that reruns this one job,
                            git commit and state, Python and platform, seed, start/end time (UTC)
    repro/config.yaml       the resolved config the job ran with
    repro/requirements.txt  every installed distribution, pinned (name==version)
    repro/git.patch         uncommitted changes to tracked files, plus untracked source files (see
                            git_state), when the tree is not clean; other untracked files are listed
    repro/earlier/<n>/      the files of earlier attempts at this dir (a resumed or repeated job)

Rerun: cd <record.command.cwd> && <record.command.rerun> (add hydra.run.dir=... to choose the dir).

No key is ever written: every file here goes through evalsweep.results.redact (the values of the key
variables, and anything shaped like a key, become <redacted>)."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from omegaconf import OmegaConf
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from evalsweep.config.base import PROJECT_ROOT
from evalsweep.config.key_shapes import looks_like_key
from evalsweep.results.redact import redact_text, secret_values
from evalsweep.results.provenance import PACKAGES, GitInfo, python_info

log = logging.getLogger(__name__)

REPRO_DIR = "repro"
RECORD = "record.json"
CONFIG = "config.yaml"
REQUIREMENTS = "requirements.txt"
PATCH = "git.patch"
EARLIER = "earlier"
# Untracked files larger than this are listed, not copied into the patch (data dumps, binaries).
MAX_UNTRACKED_BYTES = 1_000_000
# Environment variables that change where or how a job runs; never keys or other secrets.
RECORDED_ENV = ("EVALSWEEP_CACHE_PATH", "WANDB_MODE", "HYDRA_FULL_ERROR")
# An untracked file is copied into the patch only when it is source: at the top of the tree or
# under one of these dirs, with one of these suffixes. Everything else (notes, data, outputs,
# .env files) is only listed in the record (git.untracked_not_in_patch).
SOURCE_DIRS = ("src", "conf", "scripts", "tests", "sweeps")
SOURCE_SUFFIXES = (".py", ".pyi", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".json", ".jsonl", ".csv",
                   ".j2", ".jinja")
# Untracked files that may hold credentials are never copied into the patch, whatever they contain.
_SECRET_NAMES = (".env", ".netrc", ".pypirc", ".pem", ".key", ".p12", "id_rsa", "id_ed25519", "secret",
                 "credential", "token", "password", "apikey", "api_key")


class JobInfo(BaseModel):
    """Where a job runs and how it was asked for (recorded in the summary, the record and wandb).
    The Hydra app fills it from Hydra's runtime config; evalsweep.run_job from its arguments."""

    model_config = ConfigDict(extra="forbid")

    output_dir: str
    overrides: list[str] = Field(default_factory=list)
    job_num: int | None = None
    sweep_dir: str | None = None
    multirun: bool = False
    name: str = "run"
    hydra_overrides: list[str] = Field(default_factory=list)
    # Hydra's config-choosing flags (--config-dir ...): a rerun needs them as much as the overrides.
    config_flags: list[str] = Field(default_factory=list)

    def as_record(self) -> dict[str, Any]:
        return self.model_dump(exclude={"hydra_overrides", "config_flags"})


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")

    argv: list[str]
    cwd: str
    python: str
    task_overrides: list[str]
    hydra_overrides: list[str]
    # This one job on its own (a single run, never -m), from cwd; hydra.* overrides are left out.
    rerun: list[str]
    rerun_shell: str


class GitState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    commit: str | None
    branch: str | None
    dirty: bool | None
    untracked: list[str] = Field(default_factory=list)
    untracked_not_in_patch: list[str] = Field(default_factory=list)
    # True when a secret (a key variable's value, or a key-shaped string) was replaced in the patch.
    redacted: bool = False
    patch: str | None = None


class ReproRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    status: Literal["running", "complete", "incomplete", "failed", "interrupted"] = "running"
    started_utc: str
    ended_utc: str | None = None
    seed: int
    job: dict[str, Any]
    command: Command
    git: GitState
    python: dict[str, str]
    env: dict[str, str]
    lockfile_sha256: str | None
    packages: dict[str, str]
    files: dict[str, str]
    # Earlier attempts at this output dir (resumed jobs), kept under repro/earlier/<n>/.
    earlier_attempts: int = 0
    # The key values to redact on every write (never saved).
    _secrets: list[str] = PrivateAttr(default_factory=list)

    def provenance(self) -> Provenance:
        """What the summary and the tracker say of the code: read from this record's one probe of
        git and the installed packages, so a job asks git once."""
        installed = {_norm(n): v for n, v in self.packages.items()}
        return Provenance(git=GitInfo(commit=self.git.commit, dirty=self.git.dirty, branch=self.git.branch),
                          packages={n: installed[_norm(n)] for n in PACKAGES if _norm(n) in installed})


class Provenance(BaseModel):
    """The commit and the main packages' versions a job ran with (summary.json "git"/"packages", wandb)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    git: GitInfo
    packages: dict[str, str]


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")



def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None


def is_source(rel: str) -> bool:
    """An untracked file the patch may carry: source by its place and suffix, not named like a
    file of credentials."""
    path = Path(rel)
    name = path.name.lower()
    if any(part in name for part in _SECRET_NAMES) or path.suffix.lower() not in SOURCE_SUFFIXES:
        return False
    return len(path.parts) == 1 or path.parts[0] in SOURCE_DIRS


def _may_hold_secret(text: str, secrets: list[str]) -> bool:
    return any(s in text for s in secrets) or looks_like_key(text)


def git_state(root: Path = PROJECT_ROOT, secrets: list[str] | None = None) -> tuple[GitState, str]:
    """The commit, and a patch that turns it into the working tree: `git diff HEAD` for tracked
    files plus each small untracked (not ignored) source file (`is_source`) that holds nothing
    like a key, as a new file. Other untracked files are listed, never copied. Secrets left in the
    patch (a key pasted into a tracked file) are redacted. Nothing is staged or written."""
    head = _git(root, "rev-parse", "HEAD")
    if head is None or head.returncode != 0:
        return GitState(commit=None, branch=None, dirty=None), ""
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    diff = _git(root, "diff", "HEAD", "--binary")
    others = _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    patch = diff.stdout if diff is not None and diff.returncode == 0 else ""
    untracked = [p for p in (others.stdout.split("\0") if others and others.returncode == 0 else []) if p]
    skipped: list[str] = []
    secrets = secret_values() if secrets is None else secrets
    for rel in untracked:
        path = root / rel
        if not is_source(rel) or not path.is_file() or path.stat().st_size > MAX_UNTRACKED_BYTES:
            skipped.append(rel)
            continue
        # --no-index exits 1 when the files differ, which is always the case against /dev/null.
        new = _git(root, "diff", "--no-index", "--binary", "--", os.devnull, rel)
        if new is None or new.returncode not in (0, 1) or _may_hold_secret(new.stdout, secrets):
            skipped.append(rel)
            continue
        patch += new.stdout
    # A key pasted into a tracked file: the patch no longer applies there, which is right.
    patch, redacted = redact_text(patch, secrets)
    state = GitState(commit=head.stdout.strip(), branch=branch.stdout.strip() if branch else None,
                     dirty=bool(diff.stdout.strip()) if diff is not None else None,
                     untracked=untracked, untracked_not_in_patch=skipped, redacted=redacted)
    return state, patch


def installed_packages() -> dict[str, str]:
    """Every distribution importable by this interpreter, name -> exact version."""
    return dict(_packages_on(_path_state()))


def _path_state() -> tuple[tuple[str, int, int], ...]:
    """sys.path's dirs with their mtimes and link counts: an install or removal adds or removes a
    .dist-info dir there (the link count tells even within one tick of the clock)."""
    state = []
    for entry in sys.path:
        try:
            st = os.stat(entry or ".")
        except OSError:
            continue
        state.append((entry, st.st_mtime_ns, st.st_nlink))
    return tuple(state)


@functools.lru_cache(maxsize=4)
def _packages_on(path_state: tuple[tuple[str, int, int], ...]) -> tuple[tuple[str, str], ...]:
    """Read once per state of sys.path: reading every distribution's metadata costs ~0.1 s, and the
    jobs of a sweep share one interpreter."""
    found: dict[str, str] = {}
    seen: set[str] = set()
    for dist in metadata.distributions():  # the first one on sys.path wins, as for an import
        name, version = _name_and_version(dist)
        if name and name.lower() not in seen:
            seen.add(name.lower())
            found[name] = version
    return tuple(sorted(found.items(), key=lambda kv: kv[0].lower()))


def _name_and_version(dist: metadata.Distribution) -> tuple[str | None, str]:
    """Name and Version from the header block of METADATA: dist.metadata runs the email parser over
    the whole file, long description included, which is most of the listing's time."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the headers end at the first blank line
        key, sep, value = line.partition(":")
        if sep and key in ("Name", "Version") and key not in fields:
            fields[key] = value.strip()
    if "Name" in fields and "Version" in fields:
        return fields["Name"], fields["Version"]
    return dist.metadata["Name"], dist.version  # an unusual file: the full parser


def _lock_hash(root: Path = PROJECT_ROOT) -> str | None:
    lock = root / "uv.lock"
    return hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else None


def rerun_command(task_overrides: list[str], flags: list[str] | None = None) -> list[str]:
    return ["python", "run.py", *(flags or []), *task_overrides]


def _keep_earlier(repro: Path) -> int:
    """Move an earlier attempt's files to repro/earlier/<n>/: a resumed job's results were
    partly made by that attempt, so its record must survive. Returns how many attempts exist."""
    earlier = repro / EARLIER
    n = len([d for d in earlier.iterdir() if d.is_dir()]) if earlier.is_dir() else 0
    if not (repro / RECORD).is_file():
        return n
    dest = earlier / str(n + 1)
    dest.mkdir(parents=True)
    for f in repro.iterdir():
        if f.name != EARLIER:
            f.replace(dest / f.name)
    return n + 1


def build(*, seed: int, cfg_container: dict[str, Any], job: JobInfo, out_dir: Path,
          root: Path = PROJECT_ROOT) -> ReproRecord:
    """Collect the record and write repro/ (all but the end time, which finish() adds)."""
    repro = out_dir / REPRO_DIR
    repro.mkdir(parents=True, exist_ok=True)
    earlier = _keep_earlier(repro)
    secrets = secret_values(cfg_container)
    git, patch = git_state(root, secrets)
    files = {"config": f"{REPRO_DIR}/{CONFIG}", "packages": f"{REPRO_DIR}/{REQUIREMENTS}"}
    if patch:
        (repro / PATCH).write_text(patch, encoding="utf-8")
        git.patch = files["patch"] = f"{REPRO_DIR}/{PATCH}"
    config_text = OmegaConf.to_yaml(OmegaConf.create(cfg_container))
    (repro / CONFIG).write_text(redact_text(config_text, secrets)[0], encoding="utf-8")
    packages = installed_packages()
    (repro / REQUIREMENTS).write_text("".join(f"{n}=={v}\n" for n, v in packages.items()), encoding="utf-8")
    task = list(job.overrides)
    rerun = rerun_command(task, job.config_flags)
    record = ReproRecord(
        started_utc=utc_now(), seed=seed,
        job=job.model_dump(include={"name", "multirun", "job_num", "sweep_dir", "output_dir"}),
        command=Command(argv=list(sys.argv), cwd=str(root), python=sys.executable, task_overrides=task,
                        hydra_overrides=job.hydra_overrides, rerun=rerun, rerun_shell=shlex.join(rerun)),
        git=git, python={**python_info(), "executable": sys.executable},
        env={k: os.environ[k] for k in RECORDED_ENV if k in os.environ},
        lockfile_sha256=_lock_hash(root), packages=packages, files=files, earlier_attempts=earlier,
    )
    record._secrets = secrets
    write(record, out_dir)
    return record


def redact_json(data: Any, secrets: list[str]) -> Any:
    """Every string in a JSON-like value with secrets and key-shaped strings redacted."""
    if isinstance(data, str):
        return redact_text(data, secrets)[0]
    if isinstance(data, dict):
        return {k: redact_json(v, secrets) for k, v in data.items()}
    if isinstance(data, list):
        return [redact_json(v, secrets) for v in data]
    return data


def write(record: ReproRecord, out_dir: Path) -> None:
    """Atomically: a crash never leaves half a record. Keys are redacted (the rerun command of a
    job given a key on its command line then no longer reruns it, which is right)."""
    path = out_dir / REPRO_DIR / RECORD
    tmp = path.with_suffix(".json.tmp")
    data = redact_json(record.model_dump(mode="json"), record._secrets or secret_values())
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def load(out_dir: Path) -> ReproRecord:
    return ReproRecord.model_validate_json((out_dir / REPRO_DIR / RECORD).read_text(encoding="utf-8"))


@contextmanager
def recording(*, seed: int, cfg_container: dict[str, Any], job: JobInfo, out_dir: Path) -> Iterator[ReproRecord]:
    """Write the record before the job runs and stamp its end time and status however it ends.
    The caller sets record.status from the job's own summary when it returns."""
    record = build(seed=seed, cfg_container=cfg_container, job=job, out_dir=out_dir)
    try:
        yield record
    except KeyboardInterrupt:
        record.status = "interrupted"
        raise
    except BaseException:
        record.status = "failed"
        raise
    finally:
        if record.status == "running":
            record.status = "complete"
        record.ended_utc = utc_now()
        write(record, out_dir)
