"""One job dir, one writer; and a start that is refused leaves the dir as it found it.

A job holds an exclusive lock on its output dir for its whole life (`.evalsweep.lock`, flock on
a file that names the holder's pid and host). flock is released by the kernel when the holder
dies, so a lock left by a killed job is taken over at once; its stale pid/host are reported. Two
runs started into one dir therefore never append to one results.jsonl side by side.

Before the job's checks pass (config, data, key, resume compatibility), nothing in an existing dir
may change: Hydra itself only creates the dir and opens the job's log file (its `.hydra/` files are
written by the job once it is accepted, see `write_hydra_files`), and `StartSnapshot` restores
every other file the checks wrote (the validation report) when the start is refused.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

from evalsweep.errors import ConfigError, EvalsweepError, ExitCode

log = logging.getLogger(__name__)

LOCK_NAME = ".evalsweep.lock"
# Files up to this size are kept whole for a refused start; larger ones (results.jsonl) only grow.
_KEEP_BYTES = 4 * 1024 * 1024


class JobDirBusy(EvalsweepError):
    exit_code = ExitCode.BAD_INPUT


def _holder(text: str) -> tuple[int | None, str]:
    pid, _, host = text.strip().partition("@")
    return (int(pid) if pid.isdigit() else None), host


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobDirLock:
    """Exclusive for the job's lifetime: `with JobDirLock(dir):` or acquire()/release()."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> JobDirLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(f"cannot create the lock file {self.path}: {exc.strerror}; check that the "
                              f"output dir is writable, or choose another with hydra.run.dir=...") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                os.close(fd)
                raise
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise JobDirBusy(f"{self.path.parent} is in use by a running job (pid@host {holder}); two runs "
                             f"into one dir would mix their records: wait for it to finish, or choose "
                             f"another dir with hydra.run.dir=... / hydra.sweep.dir=...") from None
        old = os.pread(fd, 200, 0).decode("utf-8", "replace")
        pid, host = _holder(old)
        if pid is not None:
            here = socket.gethostname()
            dead = host == here and not _alive(pid)
            log.warning("took over the lock of %s left by pid %d on %s%s", self.path.parent, pid, host or "?",
                        " (that process is gone)" if dead else " (its lock was released)")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}@{socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # a clean exit leaves no holder to report
        except OSError:
            pass  # a full or read-only disk: the kernel still drops the lock on close
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> JobDirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class StartSnapshot:
    """What an output dir held when the job began, to put back if the start is refused."""

    out_dir: Path
    fresh: bool
    small: dict[Path, bytes] = field(default_factory=dict)
    sizes: dict[Path, int] = field(default_factory=dict)

    @classmethod
    def take(cls, out_dir: Path, log_file: Path | None = None) -> StartSnapshot:
        """`log_file`: Hydra's job log, opened (created, empty) just before the job started."""
        entries = [p for p in out_dir.iterdir() if p.name != LOCK_NAME] if out_dir.is_dir() else []
        fresh = all(p == log_file and p.is_file() and p.stat().st_size == 0 for p in entries)
        snap = cls(out_dir, fresh)
        for p in entries:
            if not p.is_file():
                continue
            size = p.stat().st_size
            if size <= _KEEP_BYTES:
                snap.small[p] = p.read_bytes()
            snap.sizes[p] = size
        return snap

    def restore(self, keep: tuple[str, ...] = ()) -> None:
        """Undo what the refused start wrote. A dir the job created is emptied (but for the files
        named in `keep`, e.g. the validation report that says why), so reports never count it."""
        try:
            if self.fresh:
                for p in self.out_dir.iterdir():
                    if p.name != LOCK_NAME and p.name not in keep:
                        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
                return
            for p in self.out_dir.iterdir():
                if p.is_file() and p.name != LOCK_NAME and p not in self.sizes:
                    p.unlink()
            for p, data in self.small.items():
                if not p.exists() or p.read_bytes() != data:
                    p.write_bytes(data)
            for p, size in self.sizes.items():
                if p not in self.small and p.exists() and p.stat().st_size > size:
                    os.truncate(p, size)
        except OSError as exc:  # a read-only dir changed nothing either
            log.debug("could not restore %s: %s", self.out_dir, exc)

    def remove_if_fresh(self) -> None:
        """After the lock is released: a dir this refused start created goes, lock file and all
        (a dir still holding kept files stays, without the lock)."""
        if self.fresh:
            try:
                (self.out_dir / LOCK_NAME).unlink(missing_ok=True)
                if not any(self.out_dir.iterdir()):
                    self.out_dir.rmdir()
            except OSError:
                pass  # someone else put something there meanwhile: theirs to keep
