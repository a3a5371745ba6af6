"""The worker as the app sees it: start one if needed, say how it is."""
from __future__ import annotations

import time

from core import config
from core.jobs import queue, worker


def ensure_worker() -> str:
    """Keep the configured local workers alive: "alive", "starting", "started" or "none wanted"."""
    return worker.ensure_worker()


def worker_summary() -> str:
    """One line for the sidebar: live workers, their devices, jobs waiting."""
    live = worker.alive_workers()
    waiting = queue.pending()
    if not live:
        if config.workers() == 0:  # the app starts none: they run elsewhere (see Scaling out)
            return f"no worker alive: start one with `python -m core worker` · {waiting} waiting"
        return f"no worker yet (starting one) · {waiting} waiting"
    devices = ", ".join(sorted({w.device or "auto" for w in live}))
    return f"{len(live)} worker{'s' if len(live) > 1 else ''} ({devices}) · {waiting} waiting"


@queue.task("ping")
def ping(token: str, sent: float) -> None:
    """A job that only notes when and where it ran: measures the queue itself (benchmarks/queue_overhead.py)."""
    with open(config.home() / "pings.log", "a", encoding="utf-8") as f:
        f.write(f"{token} {sent!r} {time.time()!r} {worker.current_id()}\n")


def send_ping(token: str) -> None:
    """Queue a `ping` stamped with the time it was sent."""
    queue.enqueue("ping", token, time.time())


def pings() -> list[tuple[str, float, float, str]]:
    """Every ping a worker ran: (token, sent, ran, worker), in the order they ran."""
    path = config.home() / "pings.log"
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        token, sent, ran, who = line.split(" ", 3)
        out.append((token, float(sent), float(ran), who))
    return out
