"""Real Redis and PostgreSQL servers on loopback for the scale-out tests (Debian's packages)."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from tests.browser import free_port, stop


def _wait(ready, what: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if ready():
                return
        except Exception:  # not accepting connections yet
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start within {timeout:.0f} s")


@contextmanager
def redis_server():
    """`redis-server` on a free localhost port, nothing persisted; yields its URL."""
    import redis

    exe = shutil.which("redis-server")
    assert exe, "redis-server is missing: scripts/setup.sh dev installs Debian's redis-server"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="winnow-redis-") as folder:
        proc = subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait(lambda: redis.Redis(port=port).ping(), "redis-server")
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            stop(proc)


@contextmanager
def postgres_server():
    """A throw-away PostgreSQL cluster on a free localhost port; yields an SQLAlchemy URL.

    PostgreSQL refuses to run as root (CI runs as root): there the cluster belongs to the
    `postgres` user that Debian's package creates."""
    import psycopg

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    assert bins, "PostgreSQL is missing: scripts/setup.sh dev installs Debian's postgresql"
    bindir = Path(bins[-1]).parent
    as_owner: list[str] = []
    top = Path(tempfile.mkdtemp(prefix="winnow-pg-"))
    data = top / "data"
    data.mkdir()
    if os.getuid() == 0:
        as_owner = ["runuser", "-u", "postgres", "--"]
        top.chmod(0o755)
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    proc = None
    try:
        subprocess.run(
            [*as_owner, str(bindir / "initdb"), "-D", str(data), "-U", "winnow", "-A", "trust", "--no-sync", "-E", "UTF8"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        proc = subprocess.Popen(
            [*as_owner, str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(data), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        dsn = f"host=127.0.0.1 port={port} user=winnow"
        _wait(lambda: psycopg.connect(dsn + " dbname=postgres").close() is None, "postgres")
        with psycopg.connect(dsn + " dbname=postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE winnow")
        yield f"postgresql+psycopg://winnow@127.0.0.1:{port}/winnow"
    finally:
        if proc is not None:
            stop(proc)
        shutil.rmtree(top, ignore_errors=True)
