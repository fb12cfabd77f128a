"""Is a path on a network file system? Read from /proc/mounts (Linux); elsewhere nothing is known.

SQLite's documentation: WAL does not work over a network file system, and POSIX locking over NFS
is unreliable, so jobs on several nodes sharing one sqlite file fail with "database is locked" or
corrupt it. The check stops a job before any request and points to the Redis store instead."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

MOUNTS = Path("/proc/mounts")
# fs types of mounts served over the network or by a cluster file system. Not 9p (WSL's /mnt/c):
# one machine's own disk, where sqlite's locking holds.
NETWORK_FS = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "glusterfs",
    "fuse.glusterfs", "cephfs", "ceph", "fuse.ceph", "fuse.sshfs", "sshfs", "afs", "ocfs2", "gfs2",
    "panfs", "fuse.beegfs", "wekafs", "fuse.juicefs", "fuse.s3fs", "fuse.gcsfuse"})


class Mount(BaseModel):
    point: str
    fs_type: str


def _unescape(field: str) -> str:
    # /proc/mounts writes a space as \040, a tab as \011, a backslash as \134.
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def mount_of(path: Path, mounts_file: Path | None = None) -> Mount | None:
    """The mount holding path (its nearest existing ancestor for a file not yet made); None where
    the platform says nothing (no /proc/mounts)."""
    try:
        lines = (mounts_file or MOUNTS).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    target = path.expanduser().absolute()
    while not target.exists() and target != target.parent:
        target = target.parent
    target = target.resolve()
    best: Mount | None = None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = Path(_unescape(fields[1]))
        if (target == point or point in target.parents) and (best is None or len(str(point)) > len(best.point)):
            best = Mount(point=str(point), fs_type=fields[2])
    return best


def network_mount(path: Path, mounts_file: Path | None = None) -> Mount | None:
    """The network mount holding path, or None (a local disk, or nothing known)."""
    mount = mount_of(path, mounts_file)
    return mount if mount is not None and mount.fs_type.lower() in NETWORK_FS else None
