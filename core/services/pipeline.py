"""The one path from "job queued" to "scores saved": what a worker does with a training run."""
from __future__ import annotations

import contextlib
import logging
import time
import traceback
import uuid

import numpy as np
import torch
from sqlalchemy import update

from core import config
from core.jobs import queue, worker
from core.models import registry
from core.models.base import Cancelled, Diverged, Progress
from core.services import datasets, embedding, experiments, metrics
from core.store import arrays, db, runlog
from core.store.tables import Round, Run, now

log = logging.getLogger("winnow.pipeline")


def _set(run_id: int, **values) -> None:
    with db.session() as s:
        s.execute(update(Run).where(Run.id == run_id).values(**values))


class LostClaim(Exception):
    """The run was handed to another execution (its worker was presumed dead): this one must write nothing more."""


class _Execution:
    """One claim on one run. Every write this execution makes to the run goes through here, and
    stops with LostClaim once the claim is revoked.

    A worker presumed dead (its heartbeat starved, say) may still be running the job when the
    reaper re-queues it, revoking the claim: only the newest execution writes progress, files or a status."""

    def __init__(self, run_id: int, claim: str):
        self.run_id, self.claim = run_id, claim
        self.last_epoch: int | None = None  # of the newest epoch checkpoint, written or resumed from
        self._checked, self._stop = 0.0, False

    @classmethod
    def start(cls, run_id: int, device: str) -> _Execution | None:
        """Move a queued run to running under a fresh claim; None if someone else has it or it was cancelled."""
        claim = uuid.uuid4().hex
        with db.session() as s:
            res = s.execute(
                update(Run)
                .where(Run.id == run_id, Run.status == "queued")
                .values(status="running", phase="training", worker=worker.current_id(), claim=claim, device=device, started_at=now(), heartbeat=now())
            )
        return cls(run_id, claim) if res.rowcount == 1 else None

    def set(self, **values) -> None:
        """Update the run (and its heartbeat) while the claim holds; LostClaim otherwise. Called
        before every file written to the run's folder too, as the ownership check."""
        with db.session() as s:
            stmt = update(Run).where(Run.id == self.run_id, Run.claim == self.claim).values(heartbeat=now(), **values)
            if s.execute(stmt).rowcount != 1:
                raise LostClaim(f"run {self.run_id} was re-queued and claimed elsewhere")

    def progress(self, p: Progress) -> None:
        self.set(progress=p.as_dict())
        runlog.add_losses(self.run_id, {"epoch": p.epoch, "step": p.step, "steps": p.steps, "losses": p.losses})
        losses = "  ".join(f"{k} {v:.4g}" for k, v in p.losses.items())
        runlog.write(self.run_id, f"epoch {p.epoch}/{p.epochs} step {p.step}/{p.steps}  {losses}  {p.images_per_s:.0f} img/s")

    def should_stop(self) -> bool:
        """The user's cancel flag, read at most twice a second (and the claim checked with it)."""
        t = time.monotonic()
        if t - self._checked > 0.5:
            self._checked = t
            self.set()
            with db.session() as s:
                self._stop = bool(s.get(Run, self.run_id).cancel_requested)
        return self._stop

    def checkpoint(self, state: dict) -> None:
        """The epoch checkpoint a resumed run starts from."""
        self.set()
        _save_atomic(db.resume_path(self.run_id), state)
        self.last_epoch = state["epoch"]


def _save_atomic(path, obj) -> None:
    """torch.save through the store's atomic writer (load with weights_only=True)."""

    def write(f) -> None:
        try:
            torch.save(obj, f)
        except RuntimeError as e:  # torch reports a failed write as a RuntimeError around the OSError
            cause = e.__cause__ or e.__context__
            raise cause if isinstance(cause, OSError) else e

    arrays.write_atomic(path, write)


def save_checkpoint(run_id: int, model) -> None:
    """Weights and what rebuilds the model, written atomically (load with weights_only=True)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    _save_atomic(
        db.folder("runs", run_id) / "model.pt",
        {"detector": model.name, "channels": model.channels, "size": model.size, "params": model.params, "state_dict": state},
    )


def load_checkpoint(run_id: int):
    """Rebuild a trained detector from its checkpoint, on the CPU."""
    ck = torch.load(db.folder("runs", run_id) / "model.pt", map_location="cpu", weights_only=True)
    model = registry.get(ck["detector"])(ck["channels"], ck["size"], ck["params"])
    model.load_state_dict(ck["state_dict"])
    return model


def _training_set(dataset_id: int, rnd: Round, train_idx: np.ndarray, model) -> tuple[np.ndarray, np.ndarray | None]:
    """The round's training images, plus its negative examples for a detector that takes weights."""
    neg = experiments.round_negative_idx(rnd.id) if rnd.negative_weight is not None else np.zeros(0, np.int64)
    if not len(neg) or not model.supports_weights:
        return datasets.images(dataset_id, train_idx), None  # None, not ones: runs repeat exactly as before
    images = datasets.images(dataset_id, np.concatenate([train_idx, neg]))
    weights = np.r_[np.ones(len(train_idx), np.float32), np.full(len(neg), rnd.negative_weight, np.float32)]
    return images, weights


def _explain(e: Exception, params: dict, last_epoch: int | None) -> str:
    """A failed run's error as its user should read it: what happened, and what to do."""
    text = f"{type(e).__name__}: {e}"
    if isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in str(e).lower():
        batch = params.get("batch_size")
        text = f"out of GPU memory{f' at batch size {batch}' if batch else ''}: try a smaller batch_size (or smaller images, or a narrower nf). ({text})"
    if isinstance(e, Diverged) and last_epoch is not None:
        text += f"; the checkpoint after epoch {last_epoch}, the last good one, is kept"
    return text


@queue.task("train")
def execute_run(run_id: int) -> None:
    """Train, score and map one run; every outcome ends in a final status in the store."""
    device = config.device()
    ex = _Execution.start(run_id, device)
    if ex is None:
        return
    params: dict = {}
    try:
        with db.session() as s:
            run = s.get(Run, run_id)
            rnd = s.get(Round, run.round_id)
        params = run.params or {}
        runlog.write(run_id, f"{run.detector} ({run.preset}) claimed by worker {worker.current_id()} on {device}; params {run.params}")
        exp = experiments.get_experiment(rnd.experiment_id)
        ds = experiments.dataset_of(exp)
        train_idx = experiments.round_train_idx(rnd.id)
        test_idx = experiments.test_idx(exp)
        torch.manual_seed(exp.seed)  # weight init too, so CPU runs repeat exactly
        model = registry.get(run.detector)(ds.channels, ds.size, run.params).to(device)
        images, weights = _training_set(ds.id, rnd, train_idx, model)
        extra = {}
        if model.resumable:
            extra["checkpoint"] = ex.checkpoint
            if db.resume_path(run_id).exists():
                extra["resume"] = torch.load(db.resume_path(run_id), map_location=device, weights_only=True)
                ex.last_epoch = extra["resume"]["epoch"]
                runlog.write(run_id, f"resuming from the checkpoint after epoch {ex.last_epoch}")
        model.fit(images, weights=weights, progress=ex.progress, should_stop=ex.should_stop, seed=exp.seed, **extra)
        ex.set()
        save_checkpoint(run_id, model)
        ex.set()  # the resume checkpoint may be the new execution's by now
        db.resume_path(run_id).unlink(missing_ok=True)
        for name, values in model.artifacts().items():
            arrays.save(db.folder("runs", run_id) / f"fit_{name}.npy", values)
        ex.set(phase="scoring")
        runlog.write(run_id, "trained; checkpoint saved; scoring")
        idx = np.concatenate([train_idx, test_idx])
        result = model.infer(datasets.images(ds.id, idx))
        ex.set()
        folder = db.folder("runs", run_id)
        arrays.save(folder / "idx.npy", idx)
        arrays.save(folder / "part.npy", np.r_[np.zeros(len(train_idx), np.int8), np.ones(len(test_idx), np.int8)])
        for name, values in result.scores.items():
            arrays.save(folder / f"score_{name}.npy", values)
        arrays.save(folder / "latent.npy", result.latent)
        if result.recon is not None:
            arrays.save(folder / "recon.npy", result.recon)
        truth = experiments.truth(exp)
        score = result.scores["score"]
        m = {"n_train": int(len(train_idx)), "n_test": int(len(test_idx)), "score_names": list(result.scores)}
        m["train_anomalies"] = int((truth[train_idx] == 1).sum())
        for part, sl in (("train", slice(0, len(train_idx))), ("test", slice(len(train_idx), None))):
            m.update({f"{part}_{k}": v for k, v in metrics.auroc_ap(truth[idx[sl]], score[sl]).items()})
        ex.set(status="succeeded", phase="embedding", metrics=m, finished_at=now())
        runlog.write(run_id, "succeeded: " + ", ".join(f"{k} {m[k]:.3f}" for k in ("test_auroc", "test_ap") if m.get(k) is not None) + "; mapping the latents")
    except LostClaim as e:
        log.warning("%s; this execution stops and leaves it to the new one", e)
        runlog.write(run_id, f"an execution on worker {worker.current_id() or 'in-process'} stopped: the job had been re-queued after its heartbeat went stale, and another execution owns it now")
        return
    except Cancelled:
        with contextlib.suppress(LostClaim):
            ex.set(status="cancelled", phase="", finished_at=now(), error="cancelled by the user")
            db.resume_path(run_id).unlink(missing_ok=True)
            runlog.write(run_id, "cancelled by the user")
        return
    except Exception as e:
        log.error("run %s failed:\n%s", run_id, traceback.format_exc())
        error = _explain(e, params, ex.last_epoch)
        with contextlib.suppress(LostClaim):  # a superseded execution's failure is not the run's
            ex.set(status="failed", phase="", finished_at=now(), error=error)
            runlog.write(run_id, f"failed: {error}")
        return
    _embed(run_id, result.latent)


def _embed(run_id: int, latent: np.ndarray) -> None:
    """PCA right away, then UMAP; a failed UMAP leaves the PCA map in place."""
    folder = db.folder("runs", run_id)
    try:
        arrays.save(folder / "map_pca.npy", embedding.pca_2d(latent))
        _set(run_id, embedding="pca")
        arrays.save(folder / "map_umap.npy", embedding.umap_2d(latent))
        _set(run_id, embedding="umap", phase="")
        runlog.write(run_id, "latent map ready (UMAP)")
    except Exception as e:
        log.error("embedding of run %s failed: %s", run_id, e)
        runlog.write(run_id, f"latent map failed: {type(e).__name__}: {e}; the PCA map stays")
        _set(run_id, phase="", error=f"latent map: {type(e).__name__}: {e}")
