"""Where Winnow keeps its files, and the settings read from the environment."""
from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The home folder: `WINNOW_HOME`, default `./.winnow`; created on first use."""
    path = Path(os.environ.get("WINNOW_HOME", ".winnow")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def db_url() -> str:
    """SQLAlchemy URL of the metadata store: `WINNOW_DB_URL`, default SQLite in the home folder."""
    return os.environ.get("WINNOW_DB_URL") or f"sqlite:///{home() / 'winnow.db'}"


def offline() -> bool:
    """`WINNOW_OFFLINE=1`: never fetch data, even when a user asks (air-gapped servers; the test suite)."""
    return os.environ.get("WINNOW_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def redis_url() -> str:
    """Redis URL of the task queue shared by many machines: `WINNOW_REDIS_URL`; "" keeps the
    queue in SQLite in the home folder (one machine)."""
    return os.environ.get("WINNOW_REDIS_URL", "").strip()


def device() -> str:
    """Torch device the worker trains on: `WINNOW_DEVICE`, default CUDA when present."""
    wanted = os.environ.get("WINNOW_DEVICE")
    if wanted:
        return wanted
    import torch  # imported here: only the worker decides on a device

    return "cuda" if torch.cuda.is_available() else "cpu"


def busy_timeout_s() -> float:
    """How long a write waits (retrying) for a store another process holds locked: `WINNOW_BUSY_TIMEOUT`, default 10 s."""
    raw = os.environ.get("WINNOW_BUSY_TIMEOUT", "").strip()
    try:
        value = float(raw) if raw else 10.0
    except ValueError:
        raise ValueError(f"WINNOW_BUSY_TIMEOUT must be a number of seconds, got {raw!r}") from None
    if not 0 <= value <= 3600:
        raise ValueError(f"WINNOW_BUSY_TIMEOUT must be between 0 and 3600 s, got {value}")
    return value


# A worker whose heartbeat is older than this is taken for dead.
HEARTBEAT_TIMEOUT_S = float(os.environ.get("WINNOW_HEARTBEAT_TIMEOUT", "20"))
HEARTBEAT_EVERY_S = 2.0


def _int_setting(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def workers() -> int:
    """Worker processes the app keeps alive on this machine: `WINNOW_WORKERS`, default 1 (0: start none)."""
    return _int_setting("WINNOW_WORKERS", 1, 0, 64)


def worker_devices() -> list[str]:
    """Devices handed to the workers in turn: `WINNOW_DEVICES` ("cuda:0,cuda:1"), else `WINNOW_DEVICE`;
    "" lets each worker choose (CUDA when present)."""
    listed = [d.strip() for d in os.environ.get("WINNOW_DEVICES", "").split(",") if d.strip()]
    return listed or [os.environ.get("WINNOW_DEVICE", "")]


def threads() -> int:
    """Torch CPU threads per worker: `WINNOW_THREADS`, else `OMP_NUM_THREADS`, else the cores shared
    among the workers.

    Torch's own default (every core) oversubscribes a machine that also serves the app: on 2 cores
    a worker trained 13× slower than with one thread while the app and tests were busy."""
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    default = int(omp) if omp.isdigit() and int(omp) > 0 else max(1, (os.cpu_count() or 1) // max(1, workers()))
    return _int_setting("WINNOW_THREADS", default, 1, 1024)
