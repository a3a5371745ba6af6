"""Training runs: queue, cancel, follow, and read their results back."""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from core.jobs import queue, worker
from core.models import registry
from core.services import datasets, experiments, metrics, review
from core.store import arrays, db, runlog
from core.store.tables import Round, Run, now

FINAL = ("succeeded", "failed", "cancelled")


def queue_runs(
    experiment: int | str,
    detectors: list[str],
    preset: str = "quick",
    params: dict[str, dict[str, Any]] | None = None,
    round_id: int | None = None,
    start_worker: bool = True,
) -> list[Run]:
    """Queue one run per detector on the experiment's latest round (or `round_id`)."""
    exp = experiments.get_experiment(experiment)
    if not detectors:
        raise ValueError("choose at least one detector")
    rnd_id = round_id or experiments.latest_round(exp.id).id
    resolved = {d: registry.get(d).resolve_params((params or {}).get(d, {}), preset) for d in detectors}
    with db.session() as s:
        runs = [Run(round_id=rnd_id, detector=d, preset=preset, params=resolved[d]) for d in detectors]
        s.add_all(runs)
    for r in runs:
        queue.enqueue("train", r.id)
    if start_worker:
        worker.ensure_worker()
    return runs


def with_epochs(detectors: list[str], epochs: int | None, params: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Per-detector `params` with `epochs` set for each detector that trains in epochs (the pixel
    baselines fit in one go and have none)."""
    out = {d: dict((params or {}).get(d, {})) for d in detectors}
    if epochs:
        for d in detectors:
            if any(p.name == "epochs" for p in registry.get(d).PARAMS):
                out[d]["epochs"] = int(epochs)
    return out


def heartbeat_age(run: Run) -> float:
    """Seconds since the run's worker last reported on it."""
    return (now() - run.heartbeat).total_seconds() if run.heartbeat else float("inf")


def log_tail(run_id: int, lines: int = 20) -> list[str]:
    """The last lines of a run's own log: claimed, progress, phases, and how it ended."""
    return runlog.tail(run_id, lines)


def loss_curve(run_id: int) -> pd.DataFrame:
    """One row per progress report: `epoch` as a fraction (2.5 = half-way through epoch 3), then each loss."""
    rows = [{"epoch": r["epoch"] - 1 + r["step"] / max(1, r["steps"]), **r.get("losses", {})} for r in runlog.losses(run_id)]
    return pd.DataFrame(rows, columns=["epoch"] if not rows else None)


def cancel(run_id: int) -> Run:
    """Cancel a queued run at once, or ask a running one to stop at its next step."""
    get_run(run_id)
    with db.session() as s:
        run = s.get(Run, run_id)
        if run.status == "queued":
            run.status, run.finished_at, run.error = "cancelled", now(), "cancelled before it started"
        elif run.status == "running":
            run.cancel_requested = True
        return run


def get_run(run_id: int) -> Run:
    return db.fetch(Run, int(run_id), "run")


def list_runs(experiment_id: int | None = None, round_id: int | None = None) -> list[Run]:
    """Runs, newest first, of one experiment or round (or all)."""
    q = select(Run).join(Round, Run.round_id == Round.id).order_by(Run.id.desc())
    if round_id is not None:
        q = q.where(Run.round_id == round_id)
    elif experiment_id is not None:
        q = q.where(Round.experiment_id == experiment_id)
    with db.session() as s:
        return list(s.scalars(q))


def round_numbers(runs_: list[Run]) -> dict[int, int]:
    """Run id → the number of its round, in one query."""
    ids = {r.round_id for r in runs_}
    with db.session() as s:
        number = dict(s.execute(select(Round.id, Round.number).where(Round.id.in_(ids))).all()) if ids else {}
    return {r.id: number[r.round_id] for r in runs_}


def round_of(run: Run) -> Round:
    with db.session() as s:
        return s.get(Round, run.round_id)


def wait(run_id: int, timeout: float = 3600, poll: float = 0.5) -> Run:
    """Block until the run has finished training and scoring (or `timeout` seconds pass)."""
    end = time.monotonic() + timeout
    while True:
        run = get_run(run_id)
        if run.status in FINAL or time.monotonic() > end:
            return run
        worker.ensure_worker()
        time.sleep(poll)


def results(run_id: int) -> pd.DataFrame:
    """One row per scored sample: part, scores, truth, percentile, map position, review state."""
    run = get_run(run_id)
    if run.status != "succeeded":
        raise ValueError(f"run {run_id} has no results (status {run.status})")
    folder = db.folder("runs", run_id)
    rnd = round_of(run)
    exp = experiments.get_experiment(rnd.experiment_id)
    base = _scores(run)
    idx = base["sample"].to_numpy()
    df = pd.DataFrame({"sample": idx, "part": np.where(base["train"], "train", "test"), "score": base["score"], "percentile": base["percentile"]})
    for name in run.metrics.get("score_names", ["score"])[1:]:
        df[f"score_{name}"] = arrays.load(folder / f"score_{name}.npy")
    df["truth"] = experiments.truth(exp)[idx]
    # Detectors that set training samples aside while fitting (ITSR) suggest them for review.
    df["suggested"] = 0
    if arrays.exists(folder / "fit_set_aside.npy"):
        df.loc[df.part == "train", "suggested"] = arrays.load(folder / "fit_set_aside.npy")
    if arrays.exists(folder / "fit_weight.npy"):  # the weight each training image had in the last phase
        df.loc[df.part == "train", "fit_weight"] = arrays.load(folder / "fit_weight.npy")
    xy = map_coordinates(run)
    if xy is not None:
        df["x"], df["y"] = xy[:, 0], xy[:, 1]
    ds = experiments.dataset_of(exp)
    lab = datasets.labels(ds.id)[idx]
    df["class"] = [ds.classes[i] if i >= 0 else "" for i in lab] if ds.classes else ""
    state = review.current_state(exp.id)
    df = df.merge(state, how="left", left_on="sample", right_index=True)
    df["status"] = df["status"].fillna("active")
    df["label"] = df["label"].fillna("")
    df["row"] = np.arange(len(df))  # position in the run's arrays (reconstructions)
    return df


def refinement(df: pd.DataFrame) -> dict[str, Any] | None:
    """What a detector's training-set refinement did, from `results`: the training images, those
    set aside per refinement step, and those given a negative weight (Beggel et al. §3.3)."""
    if not (df.suggested > 0).any():
        return None
    train = df[df.part == "train"]
    aside = train[train.suggested > 0]
    steps = aside.suggested.value_counts().sort_index()
    # of the set-aside only: a sample the user confirmed as an anomaly may weigh negative too
    negative = int((aside.fit_weight < 0).sum()) if "fit_weight" in aside else 0
    return {"train": len(train), "set_aside": int(steps.sum()), "per_step": {int(k): int(v) for k, v in steps.items()}, "negative": negative}


def map_coordinates(run: Run) -> np.ndarray | None:
    """The best 2-D map available for a run: UMAP, else PCA, else None."""
    folder = db.folder("runs", run.id)
    for name in ("umap", "pca"):
        if arrays.exists(folder / f"map_{name}.npy"):
            return arrays.load(folder / f"map_{name}.npy")
    return None


def reconstructions(run_id: int, rows: np.ndarray) -> np.ndarray | None:
    """Reconstructions (uint8 N,H,W,C) for positions `rows` of the run's arrays, or None."""
    path = db.folder("runs", run_id) / "recon.npy"
    if not arrays.exists(path):
        return None
    return np.asarray(arrays.load(path, mmap=True)[np.asarray(rows)])


def set_threshold(run_id: int, threshold: float | None) -> None:
    """Remember the run's threshold, so every page and session flags the same samples."""
    if threshold is not None and not np.isfinite(threshold):
        raise ValueError(f"the threshold must be a finite number, got {threshold}")
    with db.session() as s:
        s.get(Run, run_id).threshold = None if threshold is None else float(threshold)


def detectors() -> list[dict]:
    """The registry as data: names, titles, presets, hyperparameters with help."""
    return registry.describe()


def _scores(run: Run) -> pd.DataFrame:
    """A finished run's samples with part, score and percentile (no review state or map)."""
    folder = db.folder("runs", run.id)
    idx, part = arrays.load(folder / "idx.npy"), arrays.load(folder / "part.npy")
    score = arrays.load(folder / "score_score.npy")
    return pd.DataFrame({"sample": idx, "train": part == 0, "score": score, "percentile": metrics.percentile_rank(score[part == 0], score)})


def percentiles_by_detector(round_id: int) -> pd.DataFrame:
    """Percentile rank of every sample under each finished run of a round (columns: detectors),
    with their mean ("consensus") and spread ("disagreement": max − min)."""
    done = [r for r in list_runs(round_id=round_id) if r.status == "succeeded"]
    table = pd.DataFrame({f"{r.detector} (run {r.id})": _scores(r).set_index("sample")["percentile"] for r in done})
    if table.empty:
        return table
    ranks = table.copy()
    table["consensus"] = ranks.mean(axis=1)
    table["disagreement"] = ranks.max(axis=1) - ranks.min(axis=1)
    return table


def score_history(experiment_id: int, sample: int) -> pd.DataFrame:
    """A sample's score and percentile in every finished run of the experiment, by round."""
    rows = []
    for r in reversed(list_runs(experiment_id)):
        if r.status != "succeeded":
            continue
        s = _scores(r)
        hit = s[s["sample"] == sample]
        if len(hit):
            rows.append({"round": round_of(r).number, "detector": r.detector, "run": r.id, "in training set": bool(hit.train.iloc[0]), "score": float(hit.score.iloc[0]), "percentile": float(hit.percentile.iloc[0])})
    return pd.DataFrame(rows)
