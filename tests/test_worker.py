"""The worker process: it runs queued jobs, and a killed worker never leaves a job "running"."""
import os
import signal
import time

import pytest

from core.jobs import worker
from core.services import runs


def wait_for(predicate, timeout=120, every=0.3):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out waiting")


@pytest.mark.slow
def test_a_worker_killed_mid_job_leaves_the_job_failed_with_the_reason(digits, monkeypatch):
    monkeypatch.setenv("WINNOW_HEARTBEAT_TIMEOUT", "4")
    monkeypatch.setattr("core.config.HEARTBEAT_TIMEOUT_S", 4.0)
    (run,) = runs.queue_runs(digits.id, ["autoencoder"], params={"autoencoder": {"epochs": 1000}})
    wait_for(lambda: runs.get_run(run.id).status == "running" and runs.get_run(run.id).progress)
    (alive,) = worker.alive_workers()
    os.kill(alive.pid, signal.SIGKILL)
    time.sleep(5)  # longer than the heartbeat timeout
    assert worker.reap_stale_runs() == 1
    failed = runs.get_run(run.id)
    assert failed.status == "failed" and "stopped while running" in failed.error
    # the next worker the app starts takes new jobs
    (again,) = runs.queue_runs(digits.id, ["autoencoder"], params={"autoencoder": {"epochs": 2}})
    assert runs.wait(again.id, timeout=180).status == "succeeded"


@pytest.mark.slow
def test_cancel_stops_a_running_job_in_the_worker(digits):
    (run,) = runs.queue_runs(digits.id, ["autoencoder"], params={"autoencoder": {"epochs": 1000}})
    wait_for(lambda: runs.get_run(run.id).status == "running" and runs.get_run(run.id).progress)
    runs.cancel(run.id)
    done = runs.wait(run.id, timeout=60)
    assert done.status == "cancelled" and done.progress["epoch"] < 1000
