"""A real redis-server on a free loopback port, for the tests of the Redis store (evalsweep.store).

The fixture skips, with the reason shown, where the binary is absent; .ci/run installs it, so
nothing skips in CI. Nothing is saved to disk (--save '' --appendonly no) and the server's files
stay in the test's tmp dir."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

BINARY = "redis-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A server and its URL, once it answers PING."""
    exe = shutil.which(BINARY)
    if exe is None:
        pytest.skip(f"{BINARY} is not installed (apt-get install -y redis-server): the Redis store is not tested")
    workdir.mkdir(parents=True, exist_ok=True)
    for _ in range(5):  # a port taken between choosing it and binding it: try another
        port = _free_port()
        proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                 "--dir", str(workdir), "--logfile", str(workdir / "redis.log")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                client.ping()
                client.close()
                return proc, url
            except redis.ConnectionError:
                time.sleep(0.02)
        proc.kill()
        proc.wait()
    raise RuntimeError(f"redis-server did not start; see {workdir / 'redis.log'}")


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    proc, url = start_redis(tmp_path / "redis")
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
