"""The worker as the app sees it: start one if needed, say how it is."""
from __future__ import annotations

from core.jobs import queue, worker


def ensure_worker() -> str:
    """Start a local worker unless one is alive: "alive", "starting" or "started"."""
    return worker.ensure_worker()


def worker_summary() -> str:
    """One line for the sidebar: live workers, their devices, jobs waiting."""
    live = worker.alive_workers()
    waiting = queue.pending()
    if not live:
        return f"no worker yet (starting one) · {waiting} waiting"
    devices = ", ".join(sorted({w.device or "auto" for w in live}))
    return f"{len(live)} worker{'s' if len(live) > 1 else ''} ({devices}) · {waiting} waiting"
