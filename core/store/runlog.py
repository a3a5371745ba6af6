"""A run's own log and loss history: append-only text files beside its arrays.

`log.txt` holds one line per event (claimed, phase changes, progress, the end and why);
`losses.jsonl` one JSON object per progress report, for the Train page's loss curve. Lines are
appended whole and readers skip a torn last line, so a crash mid-write loses one report at most.
Cancelled and failed runs keep both files.
"""
from __future__ import annotations

import json
from collections import deque
from datetime import datetime, timezone

from core.store import db


def _path(run_id: int, name: str):
    return db.folder("runs", run_id) / name


def write(run_id: int, message: str) -> None:
    """Append one timestamped line to the run's log."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    with open(_path(run_id, "log.txt"), "a", encoding="utf-8") as f:
        f.write(f"{stamp}  {message}\n")


def add_losses(run_id: int, record: dict) -> None:
    """Append one progress report (epoch, step, steps, losses) to the loss history."""
    with open(_path(run_id, "losses.jsonl"), "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def tail(run_id: int, lines: int = 20) -> list[str]:
    """The last `lines` lines of the run's log (none if it has no log yet)."""
    path = _path(run_id, "log.txt")
    if not path.exists():
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.rstrip("\n") for line in deque(f, maxlen=lines)]


def losses(run_id: int) -> list[dict]:
    """Every complete progress report of the run, oldest first."""
    path = _path(run_id, "losses.jsonl")
    if not path.exists():
        return []
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line from a killed worker
    return out
