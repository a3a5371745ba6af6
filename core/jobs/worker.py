"""The worker process: a huey consumer with a heartbeat in the store, and how the app starts one."""
from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from core import config
from core.jobs import queue
from core.store import db, runlog
from core.store.tables import Run, Worker, now

log = logging.getLogger("winnow.worker")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
_current: str = ""


def worker_pids(home: Path) -> set[int]:
    """Pids of the workers of a home folder: registered ones, and the last one started."""
    pids = set()
    stamp = home / "worker.started"
    if stamp.exists():
        pids |= {int(p) for p in stamp.read_text().split() if p.isdigit()}
    if (home / "winnow.db").exists():
        import sqlite3

        with sqlite3.connect(home / "winnow.db") as c:
            try:
                pids |= {pid for (pid,) in c.execute("SELECT pid FROM workers")}
            except sqlite3.OperationalError:
                pass
    return pids


def current_id() -> str:
    """This process's worker id ("" outside a worker)."""
    return _current


def alive_workers() -> list[Worker]:
    """Workers whose heartbeat is fresh."""
    limit = now() - timedelta(seconds=config.HEARTBEAT_TIMEOUT_S)
    with db.session() as s:
        return list(s.scalars(select(Worker).where(Worker.heartbeat > limit, Worker.stopped.is_(False))))


def reap_stale_runs() -> int:
    """Settle every running job whose worker stopped beating; returns how many.

    A job with an epoch checkpoint (`resume.pt`) goes back to the queue and resumes from it;
    one without is marked failed with the reason."""
    limit = now() - timedelta(seconds=config.HEARTBEAT_TIMEOUT_S)
    with db.session() as s:
        live = set(s.scalars(select(Worker.id).where(Worker.heartbeat > limit, Worker.stopped.is_(False))))
        stale = [r for r in s.scalars(select(Run).where(Run.status == "running")) if r.worker not in live]
        notes, requeue = [], []
        for r in stale:
            why = f"the worker {r.worker or '?'} stopped while running this job (no heartbeat for {config.HEARTBEAT_TIMEOUT_S:.0f} s)"
            if db.resume_path(r.id).exists():
                # claim "" fences the old execution off at once, should it be alive after all
                r.status, r.phase, r.worker, r.claim, r.resumes = "queued", "", "", "", (r.resumes or 0) + 1
                notes.append((r.id, f"{why}; re-queued to resume from its last epoch checkpoint"))
                requeue.append(r.id)
            else:
                r.status, r.finished_at, r.error, r.claim = "failed", now(), why, ""
                notes.append((r.id, f"failed: {why}"))
    for run_id in requeue:  # after the commit: a worker must find the run queued
        queue.enqueue("train", run_id)
    for run_id, note in notes:
        runlog.write(run_id, note)
    return len(notes)


def _beat(worker_id: str, stop: threading.Event, home: Path) -> None:
    last_reap = time.monotonic()
    while not stop.wait(config.HEARTBEAT_EVERY_S):
        if not home.exists():  # the home folder was deleted under us: nothing left to work for
            log.warning("home folder %s is gone; worker exits", home)
            os._exit(0)
        try:
            with db.session() as s:
                s.execute(update(Worker).where(Worker.id == worker_id).values(heartbeat=now()))
            # Every worker settles the jobs of dead ones, so a crash on one machine is noticed
            # even when no app is open.
            if time.monotonic() - last_reap > config.HEARTBEAT_TIMEOUT_S / 2:
                last_reap = time.monotonic()
                if reap_stale_runs():
                    log.info("settled the jobs of a stopped worker")
        except Exception:  # a locked store must not kill the heartbeat thread
            log.exception("heartbeat failed")


def run_worker(device: str | None = None) -> None:
    """Run a consumer in this process until interrupted; one job at a time."""
    global _current
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if device:
        os.environ["WINNOW_DEVICE"] = device
    import torch

    torch.set_num_threads(config.threads())
    _current = f"{socket.gethostname()}:{os.getpid()}"
    with db.session() as s:
        s.merge(Worker(id=_current, pid=os.getpid(), host=socket.gethostname(), device=device or "", heartbeat=now()))
    reap_stale_runs()
    stop = threading.Event()
    threading.Thread(target=_beat, args=(_current, stop, config.home()), daemon=True, name="heartbeat").start()
    # Threads, not forked processes: the job runs in this process, so nothing touches CUDA before a fork.
    consumer = queue.huey().create_consumer(workers=1, worker_type="thread", periodic=False, initial_delay=0.1, max_delay=1.0)
    log.info("worker %s on %s consuming %s", _current, device or "auto", queue.where())
    try:
        consumer.run()
    finally:
        stop.set()
        with db.session() as s:
            s.execute(update(Worker).where(Worker.id == _current).values(stopped=True))


def stop_workers(home: Path, grace_s: float = 30.0) -> None:
    """Stop every worker of a home folder: SIGTERM, then SIGKILL for any still running after `grace_s`."""
    pids = worker_pids(home)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    end = time.monotonic() + grace_s
    while any(map(running, pids)) and time.monotonic() < end:
        time.sleep(0.2)
    for pid in pids:
        if running(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def running(pid: int | str) -> bool:
    """Whether process `pid` on this machine exists (and is not a zombie)."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def ensure_worker() -> str:
    """Keep `config.workers()` workers alive, starting local ones for the shortfall; returns the state in words.

    Worker k of those started gets `config.worker_devices()[k % len]`. Workers on other machines
    sharing the store count too: with WINNOW_WORKERS=0 the app starts none itself."""
    reap_stale_runs()
    wanted = config.workers()
    if wanted == 0:
        return "none wanted"
    if len(alive_workers()) >= wanted:
        return "alive"
    home = config.home()
    with open(home / "worker.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        alive = len(alive_workers())
        if alive >= wanted:
            return "alive"
        stamp = home / "worker.started"
        # A worker takes a few seconds to import torch and beat once: don't start more meanwhile
        # (unless the ones just started have already died).
        if stamp.exists() and time.time() - stamp.stat().st_mtime < config.HEARTBEAT_TIMEOUT_S and any(map(running, stamp.read_text().split())):
            return "starting"
        logs = home / "logs"
        logs.mkdir(exist_ok=True)
        env = dict(os.environ, WINNOW_HOME=str(home))
        devices = config.worker_devices()
        pids = []
        for slot in range(alive, wanted):
            device = devices[slot % len(devices)]
            with open(logs / "worker.log", "ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "core", "worker", *(["--device", device] if device else [])],
                    cwd=PROJECT_ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # outlives the app's script run and the browser tab
                )
            pids.append(str(proc.pid))
        # lets tools stop workers that have not beaten yet; ones started earlier and still coming up
        # are kept, or a stop before they first beat would miss them
        earlier = [p for p in stamp.read_text().split() if running(p)] if stamp.exists() else []
        stamp.write_text("\n".join(earlier + pids))
        return "started"
