"""The worker's path from a queued run to saved scores, latents, reconstructions and maps."""
import numpy as np
import pytest

from core.models import registry
from core.models.base import Progress
from core.services import experiments, pipeline, runs
from core.store import db


def test_run_saves_every_result_and_metrics(trained):
    run = trained
    assert run.status == "succeeded", run.error
    assert run.embedding == "umap" and run.phase == ""
    m = run.metrics
    assert m["test_auroc"] > 0.9 and m["n_train"] > 0 and m["train_anomalies"] > 0
    df = runs.results(run.id)
    assert len(df) == m["n_train"] + m["n_test"]
    assert {"x", "y", "score", "truth", "percentile", "status", "label", "class"} <= set(df.columns)
    assert df.loc[df.part == "train", "percentile"].between(0, 100).all()
    recon = runs.reconstructions(run.id, df["row"].to_numpy()[:5])
    assert recon.shape == (5, 16, 16, 1) and recon.dtype == np.uint8
    model = pipeline.load_checkpoint(run.id)
    from core.services import datasets

    exp = experiments.get_experiment(runs.round_of(run).experiment_id)
    again = model.infer(datasets.images(exp.dataset_id, df["sample"].to_numpy()[:20])).scores["score"]
    assert np.allclose(again, df["score"].to_numpy()[:20], rtol=1e-4, atol=1e-6)


def test_a_run_is_executed_once_only(trained):
    before = (db.folder("runs", trained.id) / "score_score.npy").stat().st_mtime_ns
    pipeline.execute_run(trained.id)  # a duplicate delivery: must not run again
    assert (db.folder("runs", trained.id) / "score_score.npy").stat().st_mtime_ns == before


def test_cancel_during_training_ends_cancelled(digits, monkeypatch):
    (run,) = runs.queue_runs(digits.id, ["autoencoder"], params={"autoencoder": {"epochs": 500}}, start_worker=False)
    seen = []

    def progress(self, p: Progress):
        seen.append(p.epoch)
        if len(seen) == 2:
            runs.cancel(run.id)

    monkeypatch.setattr(pipeline._Execution, "progress", progress)
    monkeypatch.setattr(pipeline._Execution, "should_stop", lambda self: runs.get_run(self.run_id).cancel_requested)
    pipeline.execute_run(run.id)
    done = runs.get_run(run.id)
    assert done.status == "cancelled" and max(seen) < 500


def test_a_crash_in_training_marks_the_run_failed_with_the_reason(digits, monkeypatch):
    (run,) = runs.queue_runs(digits.id, ["autoencoder"], start_worker=False)

    def boom(*a, **k):
        raise RuntimeError("out of cheese")

    from core.models.autoencoder import Autoencoder

    monkeypatch.setattr(Autoencoder, "fit", boom)
    pipeline.execute_run(run.id)
    done = runs.get_run(run.id)
    assert done.status == "failed" and "out of cheese" in done.error


@pytest.mark.parametrize("name", list(registry.NAMES))
def test_every_detector_runs_through_the_worker_path(digits, name):
    (run,) = runs.queue_runs(digits.id, [name], "quick", runs.with_epochs([name], 2), start_worker=False)
    pipeline.execute_run(run.id)
    run = runs.get_run(run.id)
    assert run.status == "succeeded", run.error
    df = runs.results(run.id)
    assert len(df) == run.metrics["n_train"] + run.metrics["n_test"] and df.score.notna().all()
    assert "test_auroc" in run.metrics and {"x", "y"} <= set(df.columns)
    cls = registry.get(name)
    recon = runs.reconstructions(run.id, df["row"].to_numpy()[:3])
    assert (recon is not None) == cls.has_reconstruction
    if name == "aae_itsr":
        assert (df.loc[df.part == "train", "suggested"] > 0).any()
        assert (df.loc[df.part == "test", "suggested"] == 0).all()


def test_a_run_keeps_its_log_and_loss_history(digits):
    (run,) = runs.queue_runs(digits.id, ["autoencoder"], "quick", {"autoencoder": {"epochs": 2}}, start_worker=False)
    pipeline.execute_run(run.id)
    log = runs.log_tail(run.id, 100)
    assert "claimed by worker" in log[0] and any("epoch 2/2" in line for line in log)
    assert any(line.split("  ", 1)[1].startswith("succeeded: test_auroc") for line in log)
    curve = runs.loss_curve(run.id)
    assert list(curve.columns) == ["epoch", "loss"] and curve.epoch.is_monotonic_increasing
    assert curve.epoch.iloc[-1] == 2.0 and curve.loss.notna().all()
    assert runs.log_tail(run.id, 3) == log[-3:]


def test_a_cancelled_run_keeps_its_partial_log(digits, monkeypatch):
    from core.store import runlog

    (run,) = runs.queue_runs(digits.id, ["autoencoder"], "quick", {"autoencoder": {"epochs": 50}}, start_worker=False)
    runlog.add_losses(run.id, {"epoch": 1, "step": 1, "steps": 2, "losses": {"loss": 1.0}})
    with open(runlog._path(run.id, "losses.jsonl"), "a") as f:
        f.write('{"epoch": 1, "st')  # torn by a killed worker
    runs.cancel(run.id)  # queued: cancelled at once
    assert len(runs.loss_curve(run.id)) == 1
    (run,) = runs.queue_runs(digits.id, ["autoencoder"], "quick", {"autoencoder": {"epochs": 50}}, start_worker=False)
    seen = []

    def stop_after_some_progress():
        seen.append(1)
        return len(seen) > 30

    monkeypatch.setattr(pipeline._Execution, "should_stop", lambda self: stop_after_some_progress())
    pipeline.execute_run(run.id)
    assert runs.get_run(run.id).status == "cancelled"
    log = runs.log_tail(run.id, 100)
    assert log[-1].endswith("cancelled by the user") and any("epoch 1/50" in line for line in log)
    assert len(runs.loss_curve(run.id)) >= 1


@pytest.mark.parametrize("when", ["training", "scoring", "requeued"])
def test_an_execution_superseded_by_a_requeue_writes_nothing_more(digits, monkeypatch, when):
    # A worker whose heartbeat starved is presumed dead: the reaper re-queues its job and another
    # worker claims it. The first execution, still alive, must not overwrite the new one's work.
    from sqlalchemy import update

    from core.store.tables import Run

    (run,) = runs.queue_runs(digits.id, ["autoencoder"], "quick", {"autoencoder": {"epochs": 3}}, start_worker=False)

    def taken_over():
        # "requeued": the reaper's doing, no new execution has claimed the job yet
        now_owned = dict(claim="", worker="", status="queued") if when == "requeued" else dict(claim="other", worker="host:other", status="running")
        with db.session() as s:
            s.execute(update(Run).where(Run.id == run.id).values(**now_owned))

    if when in ("training", "requeued"):
        progress = pipeline._Execution.progress
        calls = []

        def progress_then_taken_over(self, p):
            calls.append(p)
            if len(calls) == 2:
                taken_over()
            progress(self, p)

        monkeypatch.setattr(pipeline._Execution, "progress", progress_then_taken_over)
    else:
        from core.models.autoencoder import Autoencoder

        infer = Autoencoder.infer
        monkeypatch.setattr(Autoencoder, "infer", lambda self, *a, **k: (taken_over(), infer(self, *a, **k))[1])
    pipeline.execute_run(run.id)
    after = runs.get_run(run.id)
    expected = ("queued", "", "") if when == "requeued" else ("running", "host:other", "other")
    assert (after.status, after.worker, after.claim) == expected
    folder = db.folder("runs", run.id)
    assert not list(folder.glob("score_*.npy")) and not (folder / "latent.npy").exists()
    assert (folder / "model.pt").exists() == (when == "scoring")  # the weights came before the takeover, or not at all
    assert "another execution owns it now" in runs.log_tail(run.id, 5)[-1]
