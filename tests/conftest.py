"""Shared fixtures: a fresh home folder per test, cleanup of any worker a test started, and a
suite that never reaches the network (downloads refused, connections off this machine refused)."""
from __future__ import annotations

import ipaddress
import os
import signal
import socket
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))
os.environ["WINNOW_OFFLINE"] = "1"  # no test may fetch data: every download path refuses (and workers inherit it)


def _local(host) -> bool:
    """Whether `host` (a name or an address) is this machine."""
    if host in (None, "", "localhost", socket.gethostname()):
        return True
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host).is_loopback
    except ValueError:
        return False


def _local_only(call, host_of):
    """`call` refused for any host off this machine: the suite's own servers (Streamlit,
    PostgreSQL, Redis) are on loopback, and a download that slipped past WINNOW_OFFLINE (a
    library changing how it fetches) fails here instead of reaching out."""

    def guarded(*args, **kwargs):
        host = host_of(*args)
        if host is not _LOCAL and not _local(host):
            raise ConnectionRefusedError(f"the test suite never reaches the network ({host!r} refused)")
        return call(*args, **kwargs)

    return guarded


_LOCAL = object()  # a socket that is not an internet one (AF_UNIX)
_inet_host = lambda sock, address: address[0] if sock.family in (socket.AF_INET, socket.AF_INET6) else _LOCAL  # noqa: E731
socket.socket.connect = _local_only(socket.socket.connect, _inet_host)
socket.socket.connect_ex = _local_only(socket.socket.connect_ex, _inet_host)
socket.getaddrinfo = _local_only(socket.getaddrinfo, lambda host, *rest: host)  # a name lookup reaches out already

# A test that forgets its own home must not read or write the user's (.winnow, where app.sh puts the demo).
os.environ["WINNOW_HOME"] = tempfile.mkdtemp(prefix="winnow-tests-")
# Every process this suite starts inherits the mark, so the stray-worker check finds its own workers
# and not those of an app or another suite running beside it (both may keep a home under /tmp too).
SUITE_MARK = os.environ.setdefault("WINNOW_TEST_SUITE", f"{os.getpid()}-{time.time_ns()}")


def wait_for(predicate, timeout: float = 120, every: float = 0.3):
    """Poll `predicate` until it returns something truthy (returned), failing after `timeout` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out waiting")


def _test_workers() -> dict[int, str]:
    """Live `python -m core worker` processes that this suite started (they carry its mark): pid ->
    their home and the test that was running when they started."""
    found = {}
    for d in Path("/proc").iterdir():
        try:
            if b"\0core\0worker" not in (d / "cmdline").read_bytes() or (d / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            env = dict(v.split(b"=", 1) for v in (d / "environ").read_bytes().split(b"\0") if b"=" in v)
        except (OSError, ValueError):
            continue
        if env.get(b"WINNOW_TEST_SUITE", b"").decode(errors="replace") == SUITE_MARK:
            home = env.get(b"WINNOW_HOME", b"").decode(errors="replace")
            found[int(d.name)] = f"home {home}, started during {env.get(b'PYTEST_CURRENT_TEST', b'?').decode(errors='replace')}"
    return found


@pytest.fixture(autouse=True)
def main_module_kept():
    """Streamlit's script runner (AppTest's too) installs each script it runs as `__main__` and
    leaves it there; a process spawned later in the suite re-imports `__main__`, so it would run
    that page again, or app.py, which starts a worker in whatever home is set by then."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="module", autouse=True)
def no_stray_workers(request):
    """A module whose tests leave a worker running fails (after the worker is killed): a stray
    worker keeps a core busy long after the suite, and on a user's machine after the tests."""
    if not sys.platform.startswith("linux"):
        yield
        return
    before = set(_test_workers())
    yield
    end = time.monotonic() + 10  # a worker told to stop may take a moment
    while (strays := {p: why for p, why in _test_workers().items() if p not in before}) and time.monotonic() < end:
        time.sleep(0.5)
    if strays:
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        named = "; ".join(f"pid {p}: {why}" for p, why in sorted(strays.items()))
        pytest.fail(f"{request.module.__name__} left workers running, now killed ({named})", pytrace=False)


@contextmanager
def home_at(path: Path):
    """WINNOW_HOME at `path` on the CPU with the default SQLite store, for the duration (a module
    fixture's too); workers started inside it are killed afterwards."""
    from core.jobs.worker import stop_workers
    from core.store import db

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WINNOW_HOME", str(path))
        mp.setenv("WINNOW_DEVICE", "cpu")
        mp.delenv("WINNOW_DB_URL", raising=False)
        db.reset_engines()
        try:
            yield path
        finally:
            stop_workers(path, grace_s=0)
            db.reset_engines()


def page(name: str, **state):
    """Page `name` run once by Streamlit's AppTest, with `state` in its session state."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


@pytest.fixture
def home(tmp_path):
    """An empty WINNOW_HOME; workers started inside it are killed afterwards."""
    with home_at(tmp_path / "home") as path:
        yield path


@pytest.fixture
def digits(home):
    """The digits demo imported, with the experiment "demo": 0 normal, 1–9 anomalous, p = 5 %."""
    from core.services import datasets, experiments

    datasets.import_dataset("builtin:digits", "digits")
    return experiments.create_experiment("digits", ["0"], [str(d) for d in range(1, 10)], 0.05, "demo", 0.3, 0)


@pytest.fixture
def trained(digits):
    """The demo experiment with one finished autoencoder run, trained in this process."""
    from core.services import pipeline, runs

    (run,) = runs.queue_runs(digits.id, ["autoencoder"], "quick", {"autoencoder": {"epochs": 8}}, start_worker=False)
    pipeline.execute_run(run.id)
    return runs.get_run(run.id)



@pytest.fixture(scope="session")
def digits_images():
    """The digits demo as the app imports it: uint8 (1797, 16, 16, 1) images and labels 0–9."""
    from core.data.importers import load_source

    data = load_source("builtin:digits")
    return data.images, data.labels


def idx_bytes(arr) -> bytes:
    """An uncompressed idx file (ubyte) holding `arr`: the format of MNIST's official files."""
    import struct

    import numpy as np

    arr = np.asarray(arr, np.uint8)
    return bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
