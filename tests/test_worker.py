"""The worker process: it runs queued jobs, and a killed worker never leaves a job "running"."""
import os
import signal
import subprocess
import sys
import time

import pytest

from core import config
from core.jobs import worker
from core.services import runs
from core.store import db
from tests.conftest import wait_for


@pytest.mark.slow
def test_a_worker_killed_mid_job_leaves_the_job_failed_with_the_reason(digits, monkeypatch):
    monkeypatch.setenv("WINNOW_HEARTBEAT_TIMEOUT", "4")
    monkeypatch.setattr("core.config.HEARTBEAT_TIMEOUT_S", 4.0)
    # aae_itsr trains in phases and keeps no epoch checkpoint: its job cannot resume
    (run,) = runs.queue_runs(digits.id, ["aae_itsr"], params={"aae_itsr": {"pretrain_epochs": 1000}})
    wait_for(lambda: runs.get_run(run.id).status == "running" and runs.get_run(run.id).progress)
    (alive,) = worker.alive_workers()
    os.kill(alive.pid, signal.SIGKILL)
    time.sleep(5)  # longer than the heartbeat timeout
    assert worker.reap_stale_runs() == 1
    failed = runs.get_run(run.id)
    assert failed.status == "failed" and "stopped while running" in failed.error and failed.claim == ""
    # the next worker the app starts takes new jobs
    (again,) = runs.queue_runs(digits.id, ["autoencoder"], params={"autoencoder": {"epochs": 2}})
    assert runs.wait(again.id, timeout=180).status == "succeeded"


@pytest.mark.slow
def test_a_job_killed_after_an_epoch_resumes_from_its_checkpoint(digits, monkeypatch):
    monkeypatch.setenv("WINNOW_HEARTBEAT_TIMEOUT", "4")
    monkeypatch.setattr("core.config.HEARTBEAT_TIMEOUT_S", 4.0)
    (run,) = runs.queue_runs(digits.id, ["autoencoder"], params={"autoencoder": {"epochs": 400}})
    # progress names the epoch in training, so "epoch 4" means the checkpoint after epoch 3 is on disk
    wait_for(lambda: (runs.get_run(run.id).progress or {}).get("epoch", 0) >= 4)
    (alive,) = worker.alive_workers()
    os.kill(alive.pid, signal.SIGKILL)
    time.sleep(5)  # longer than the heartbeat timeout
    assert worker.reap_stale_runs() == 1
    requeued = runs.get_run(run.id)
    assert requeued.status == "queued" and requeued.resumes == 1 and not requeued.error
    assert requeued.claim == ""  # fenced at once: the old execution, were it alive, may write nothing more
    worker.ensure_worker()  # as the app does: a new worker picks it up
    wait_for(lambda: runs.get_run(run.id).status == "running" and runs.get_run(run.id).worker != alive.id)

    def trained_since_resuming():
        log = runs.log_tail(run.id, 100_000)
        start = next((i for i, line in enumerate(log) if "resuming from" in line), None)
        return start is not None and any(" step " in line for line in log[start:])

    wait_for(trained_since_resuming)
    runs.cancel(run.id)  # no need to wait out 400 epochs: what matters is where it started
    assert runs.wait(run.id, timeout=120).status == "cancelled"
    log = runs.log_tail(run.id, 100_000)
    assert any("re-queued to resume from its last epoch checkpoint" in line for line in log)
    resumed_at = next(int(line.rsplit(" ", 1)[1]) for line in log if "resuming from the checkpoint after epoch" in line)
    assert resumed_at >= 3
    claims = [line for line in log if "claimed by worker" in line]
    assert len(claims) == 2 and alive.id in claims[0] and alive.id not in claims[1]
    after = [line for line in log[log.index(next(l for l in log if "resuming from" in l)) :] if " step " in line]
    assert after and int(after[0].split("epoch ")[1].split("/")[0]) == resumed_at + 1  # not from epoch 1
    assert not db.resume_path(run.id).exists()  # a cancelled job leaves no checkpoint behind


@pytest.mark.slow
def test_cancel_stops_a_running_job_in_the_worker(digits):
    # aae_itsr trains in phases and keeps no epoch checkpoint: its job cannot resume
    (run,) = runs.queue_runs(digits.id, ["aae_itsr"], params={"aae_itsr": {"pretrain_epochs": 1000}})
    wait_for(lambda: runs.get_run(run.id).status == "running" and runs.get_run(run.id).progress)
    runs.cancel(run.id)
    done = runs.wait(run.id, timeout=60)
    assert done.status == "cancelled" and done.progress["epoch"] < 1000


@pytest.mark.slow
def test_two_workers_share_a_queue_and_run_each_job_once(digits, monkeypatch):
    from core.store import runlog

    monkeypatch.setenv("WINNOW_WORKERS", "2")
    monkeypatch.setenv("WINNOW_DEVICES", "cpu")
    monkeypatch.setenv("WINNOW_THREADS", "1")
    queued = runs.queue_runs(digits.id, ["autoencoder"] * 4, params={"autoencoder": {"epochs": 6}})
    assert len(worker.worker_pids(config.home())) >= 2
    wait_for(lambda: len(worker.alive_workers()) == 2)
    done = [runs.wait(r.id, timeout=300) for r in queued]
    assert [r.status for r in done] == ["succeeded"] * 4
    assert len({r.worker for r in done}) == 2  # both workers took jobs
    for r in done:  # exactly once: one claim per run, never a second
        assert sum("claimed by worker" in line for line in runlog.tail(r.id, 10_000)) == 1
    assert {w.device for w in worker.alive_workers()} == {"cpu"}
    assert worker.ensure_worker() == "alive"  # two alive: none more started


def test_worker_settings_are_checked(monkeypatch):
    from core import config

    monkeypatch.setenv("WINNOW_WORKERS", "many")
    with pytest.raises(ValueError, match="WINNOW_WORKERS must be a whole number, got 'many'"):
        config.workers()
    monkeypatch.setenv("WINNOW_WORKERS", "2")
    monkeypatch.setenv("WINNOW_DEVICES", "cuda:0, cuda:1")
    assert config.workers() == 2 and config.worker_devices() == ["cuda:0", "cuda:1"]
    monkeypatch.delenv("WINNOW_DEVICES")
    monkeypatch.setenv("WINNOW_DEVICE", "cpu")
    assert config.worker_devices() == ["cpu"]
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("WINNOW_THREADS", raising=False)
    assert config.threads() == max(1, (os.cpu_count() or 1) // 2)
    monkeypatch.setenv("WINNOW_THREADS", "0")
    with pytest.raises(ValueError, match="WINNOW_THREADS must be between 1 and 1024, got 0"):
        config.threads()


@pytest.mark.slow
def test_jobs_queued_while_no_worker_runs_wait_for_the_next_one(digits, monkeypatch):
    worker.ensure_worker()
    wait_for(worker.alive_workers)
    (first,) = worker.alive_workers()
    os.kill(first.pid, signal.SIGTERM)  # a worker stopped (a reboot, an upgrade)
    wait_for(lambda: not worker.alive_workers())
    monkeypatch.setenv("WINNOW_WORKERS", "0")  # queue with nobody to run the jobs
    queued = runs.queue_runs(digits.id, ["autoencoder", "knn"], params={"autoencoder": {"epochs": 2}})
    time.sleep(3)
    assert [runs.get_run(r.id).status for r in queued] == ["queued", "queued"]
    monkeypatch.setenv("WINNOW_WORKERS", "1")
    assert worker.ensure_worker() == "started"  # though the stopped one was started moments ago
    assert [runs.wait(r.id, timeout=180).status for r in queued] == ["succeeded", "succeeded"]


def test_with_workers_set_to_zero_the_app_starts_none_and_says_so(home, monkeypatch):
    from core.services import system

    monkeypatch.setenv("WINNOW_WORKERS", "0")
    assert system.ensure_worker() == "none wanted" and worker.alive_workers() == []
    assert not (home / "worker.started").exists()
    assert system.worker_summary().startswith("no worker alive: start one with `python -m core worker`")


def test_workers_still_coming_up_are_all_stopped(home, monkeypatch):
    """A worker slower to start than the heartbeat timeout is not forgotten when another is started
    beside it, and `stop_workers` ends even one that ignores SIGTERM."""
    import subprocess
    import sys

    # stand-ins for workers that never beat: one ignores SIGTERM, as a worker stuck in C code would
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    started, real = [], subprocess.Popen

    def popen(args, **kw):
        started.append(real([sys.executable, "-c", stubborn], stdin=subprocess.DEVNULL))
        return started[-1]

    monkeypatch.setattr(worker.subprocess, "Popen", popen)
    monkeypatch.setenv("WINNOW_WORKERS", "1")
    try:
        assert worker.ensure_worker() == "started"
        stamp = home / "worker.started"
        os.utime(stamp, (time.time() - 3600,) * 2)  # past the heartbeat timeout: another is started
        assert worker.ensure_worker() == "started"
        assert worker.worker_pids(home) == {p.pid for p in started} and len(started) == 2
        time.sleep(0.5)  # both have set their SIGTERM handler
        t = time.monotonic()
        worker.stop_workers(home, grace_s=1)
        assert all(p.wait(timeout=10) == -signal.SIGKILL for p in started)  # SIGTERM ignored: killed
        assert time.monotonic() - t < 10
    finally:
        for p in started:
            p.kill()


def test_the_stray_worker_check_counts_only_this_suites_workers(tmp_path):
    """A worker of an app (or of another test run) beside the suite, home under /tmp too, is not
    this suite's stray; one started from the suite is, whatever its home."""
    from tests.conftest import _test_workers

    # Stand-ins: the check reads only a process's command line (`… core worker`) and environment.
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)", "core", "worker"]
    foreign_env = {k: v for k, v in os.environ.items() if k != "WINNOW_TEST_SUITE"}
    ours = subprocess.Popen(sleeper, env=dict(os.environ, WINNOW_HOME=str(tmp_path / "ours")))
    foreign = subprocess.Popen(sleeper, env=dict(foreign_env, WINNOW_HOME=str(tmp_path / "app")))
    try:
        found = wait_for(lambda: (live := _test_workers()).get(ours.pid) and live, timeout=10)  # one /proc scan a poll
        assert str(tmp_path / "ours") in found[ours.pid]
        assert foreign.pid not in found and foreign.poll() is None
    finally:
        for p in (ours, foreign):
            p.kill()
            p.wait()
