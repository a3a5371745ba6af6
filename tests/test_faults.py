"""Faults during long work: a full disk, a diverging loss, a GPU out of memory. Each ends in a
message a person can act on, with the store consistent and nothing half-written."""
import errno
import math

import numpy as np
import pytest
import torch

from core.models.autoencoder import Autoencoder
from core.services import datasets, pipeline, runs
from core.store import arrays, db


def _enospc(*_a, **_k):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_during_import_leaves_no_dataset_and_no_partial_files(home, monkeypatch):
    real, calls = np.save, []

    def save(f, a, **kw):  # the images fit, the labels do not
        calls.append(1)
        return real(f, a, **kw) if len(calls) == 1 else _enospc()

    monkeypatch.setattr(arrays.np, "save", save)
    with pytest.raises(arrays.DiskFull, match=r"no space left on the disk holding .* while writing labels\.npy: free some space"):
        datasets.import_dataset("builtin:digits", "digits")
    assert datasets.list_datasets() == []
    assert not [p for p in (home / "datasets").rglob("*")]  # the staging folder is gone with its images.npy
    monkeypatch.setattr(arrays.np, "save", real)
    assert datasets.import_dataset("builtin:digits", "digits").n == 1797  # and the next try works


def test_a_full_disk_while_checkpointing_fails_the_run_cleanly(digits, monkeypatch):
    monkeypatch.setattr(pipeline.torch, "save", _enospc)
    (run,) = runs.queue_runs(digits.id, ["autoencoder"], params={"autoencoder": {"epochs": 2}}, start_worker=False)
    pipeline.execute_run(run.id)
    run = runs.get_run(run.id)
    assert run.status == "failed" and "no space left on the disk" in run.error and "resume.pt" in run.error
    folder = db.folder("runs", run.id)
    assert not list(folder.glob("*.tmp")) and not (folder / "model.pt").exists()


def test_a_diverging_loss_fails_with_the_epoch_and_keeps_the_last_good_checkpoint(digits, monkeypatch):
    real_step, real_end = Autoencoder.train_step, Autoencoder.on_epoch_end
    state = {"epochs": 0}

    def on_epoch_end(self, epoch):
        state["epochs"] = epoch
        return real_end(self, epoch)

    def train_step(self, x, w):
        losses = real_step(self, x, w)
        return {"loss": torch.tensor(math.nan)} if state["epochs"] >= 2 else losses

    monkeypatch.setattr(Autoencoder, "on_epoch_end", on_epoch_end)
    monkeypatch.setattr(Autoencoder, "train_step", train_step)
    (run,) = runs.queue_runs(digits.id, ["autoencoder"], params={"autoencoder": {"epochs": 10}}, start_worker=False)
    pipeline.execute_run(run.id)
    run = runs.get_run(run.id)
    assert run.status == "failed"
    assert "loss loss became nan at epoch 3" in run.error and "the checkpoint after epoch 2, the last good one, is kept" in run.error
    kept = torch.load(db.resume_path(run.id), weights_only=True)
    assert kept["epoch"] == 2 and all(torch.isfinite(v).all() for v in kept["model"].values() if v.is_floating_point())
    assert runs.log_tail(run.id)[-1].split("  ", 1)[1].startswith("failed: Diverged")


def test_gpu_out_of_memory_fails_the_job_with_advice_and_the_worker_goes_on(digits, monkeypatch):
    def oom(self, x, w):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Autoencoder, "train_step", oom)
    first, second = runs.queue_runs(digits.id, ["autoencoder", "knn"], params={"autoencoder": {"epochs": 2}}, start_worker=False)
    pipeline.execute_run(first.id)
    failed = runs.get_run(first.id)
    assert failed.status == "failed"
    assert failed.error.startswith("out of GPU memory at batch size 32: try a smaller batch_size")
    pipeline.execute_run(second.id)  # the same worker process, the next job
    assert runs.get_run(second.id).status == "succeeded"


def test_a_store_locked_by_another_process_is_retried_then_reported_clearly(home, monkeypatch):
    import sqlite3

    monkeypatch.setenv("WINNOW_BUSY_TIMEOUT", "0.5")
    db.reset_engines()
    datasets.import_dataset("builtin:digits", "digits")  # the store exists
    holder = sqlite3.connect(home / "winnow.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holding the store
    try:
        with pytest.raises(db.StoreBusy, match=r"stayed locked by another process for 0\.5 s \(retried meanwhile\); nothing was changed"):
            datasets.import_dataset("builtin:digits", "again")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [d.name for d in datasets.list_datasets()] == ["digits"]  # consistent: the failed import left nothing
    assert not [p for p in (home / "datasets").iterdir() if p.name.startswith(".staging")]
    assert datasets.import_dataset("builtin:digits", "again").n == 1797  # released: it goes through
