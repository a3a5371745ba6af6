"""Many machines: the queue on Redis, the store on PostgreSQL, arrays on a shared folder.

Real servers on loopback (tests/servers.py), two worker processes as the app starts them, four
jobs; one worker is killed mid-job and the other finishes the queue, the killed job resumed from
its epoch checkpoint. Every job runs to the end exactly once.
"""
import os
import signal

import pytest

from core.store import db
from core.jobs.worker import stop_workers
from tests.conftest import wait_for
from tests.servers import postgres_server, redis_server

pytestmark = pytest.mark.slow


@pytest.fixture
def scaled_out(tmp_path, monkeypatch):
    with redis_server() as redis_url, postgres_server() as db_url:
        home = tmp_path / "shared"
        for k, v in {
            "WINNOW_HOME": str(home),
            "WINNOW_DB_URL": db_url,
            "WINNOW_REDIS_URL": redis_url,
            "WINNOW_WORKERS": "2",
            "WINNOW_DEVICES": "cpu",
            "WINNOW_THREADS": "1",
            "WINNOW_HEARTBEAT_TIMEOUT": "4",
        }.items():
            monkeypatch.setenv(k, v)
        monkeypatch.setattr("core.config.HEARTBEAT_TIMEOUT_S", 4.0)
        db.reset_engines()
        try:
            yield home, db_url, redis_url
        finally:
            stop_workers(home, grace_s=0)
            db.reset_engines()


def test_two_workers_on_redis_and_postgres_finish_four_jobs_when_one_is_killed(scaled_out):
    from core.jobs import queue, worker
    from core.services import datasets, experiments, runs

    home, db_url, _ = scaled_out
    assert db.engine().dialect.name == "postgresql" and queue.where().startswith("redis://")
    datasets.import_dataset("builtin:digits", "digits")
    exp = experiments.create_experiment("digits", ["0"], [str(d) for d in range(1, 10)], 0.05, "scale")
    queued = runs.queue_runs(exp.id, ["autoencoder"] * 4, params={"autoencoder": {"epochs": 60}})
    ids = [r.id for r in queued]
    wait_for(lambda: len(worker.alive_workers()) == 2)

    def two_running():
        now = [runs.get_run(i) for i in ids]
        busy = [r for r in now if r.status == "running" and (r.progress or {}).get("epoch", 0) >= 2]
        return busy if len({r.worker for r in busy}) == 2 else None

    victim_run = wait_for(two_running)[0]
    victim = next(w for w in worker.alive_workers() if w.id == victim_run.worker)
    survivor = next(w for w in worker.alive_workers() if w.id != victim.id)
    os.kill(victim.pid, signal.SIGKILL)

    # polled, not runs.wait: that would have the app start a replacement worker
    settled = lambda: all(runs.get_run(i).status in ("succeeded", "failed", "cancelled") for i in ids)  # noqa: E731
    wait_for(settled, timeout=600)
    done = [runs.get_run(i) for i in ids]
    assert [r.status for r in done] == ["succeeded"] * 4, [(r.id, r.status, r.error) for r in done]
    assert all("test_auroc" in r.metrics for r in done)
    assert [w.id for w in worker.alive_workers()] == [survivor.id]  # the other one finished the queue
    for r in done:
        log = runs.log_tail(r.id, 100_000)
        claims = [line for line in log if "claimed by worker" in line]
        finished = [line for line in log if "succeeded: test_auroc" in line]
        assert len(finished) == 1, (r.id, log[-5:])  # ran to the end exactly once
        if r.id == victim_run.id:
            assert len(claims) == 2 and victim.id in claims[0] and survivor.id in claims[1]
            assert any("re-queued to resume from its last epoch checkpoint" in line for line in log)
            assert any("resuming from the checkpoint after epoch" in line for line in log)
            assert r.resumes == 1
        else:
            assert len(claims) == 1 and r.resumes == 0
    # results landed where every machine reads them: the shared folder and the shared store
    for r in done:
        assert (home / "runs" / str(r.id) / "score_score.npy").exists() and len(runs.results(r.id)) == r.metrics["n_train"] + r.metrics["n_test"]
    assert queue.pending() == 0
