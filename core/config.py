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


def device() -> str:
    """Torch device the worker trains on: `WINNOW_DEVICE`, default CUDA when present."""
    wanted = os.environ.get("WINNOW_DEVICE")
    if wanted:
        return wanted
    import torch  # imported here: only the worker decides on a device

    return "cuda" if torch.cuda.is_available() else "cpu"


# A worker whose heartbeat is older than this is taken for dead.
HEARTBEAT_TIMEOUT_S = float(os.environ.get("WINNOW_HEARTBEAT_TIMEOUT", "20"))
HEARTBEAT_EVERY_S = 2.0
