"""Rounds: retrain without the rejected samples, and compare rounds side by side."""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.models import registry
from core.services import experiments, review, runs
from core.store import arrays, db
from core.store.tables import Round, Run


NEGATIVE_WEIGHT = -0.1  # methods.md §3 step 4: the paper gives no value; ITSR's default too


def confirmed_anomalies(exp_id: int) -> np.ndarray:
    """Training-set samples whose current label is "anomaly" (test samples never train)."""
    state = review.current_state(exp_id)
    labelled = np.asarray(state.index[state.label == "anomaly"], dtype=np.int64)
    base = arrays.load(db.folder("experiments", exp_id) / "train_idx.npy")
    return np.intersect1d(labelled, base)


def retrain(
    experiment: int | str,
    detectors: list[str],
    preset: str = "quick",
    params: dict | None = None,
    negatives: bool = False,
    negative_weight: float = NEGATIVE_WEIGHT,
) -> tuple[Round, list[Run]]:
    """Start the next round: the experiment's training set minus every currently rejected sample.

    With `negatives`, the rejected samples labelled "anomaly" also train, at `negative_weight`,
    the detectors that accept sample weights (the others don't get them). A sample labelled
    anomaly but left active stays in the training set: reject/restore alone decides membership.
    """
    exp = experiments.get_experiment(experiment)
    if not detectors:
        raise ValueError("choose at least one detector")
    if negatives and not negative_weight < 0:
        raise ValueError(f"the negative weight must be below 0, got {negative_weight}")
    base = arrays.load(db.folder("experiments", exp.id) / "train_idx.npy")
    gone = np.isin(base, review.rejected(exp.id))
    if gone.all():
        raise ValueError("every training sample is rejected: restore some before retraining")
    confirmed = confirmed_anomalies(exp.id)
    neg = np.setdiff1d(confirmed, base[~gone]) if negatives else None
    rnd = experiments.add_round(
        exp.id, base[~gone], int(gone.sum()), neg, float(negative_weight) if negatives else None, len(confirmed)
    )
    return rnd, runs.queue_runs(exp.id, detectors, preset, params, round_id=rnd.id)


def table(experiment: int | str) -> pd.DataFrame:
    """One row per round and detector: training-set size, removed, contaminants left, metrics.

    "confirmed anomalies": training samples labelled anomaly when the round was made;
    "negatives": how many of them that run trained on as negative examples.
    """
    exp = experiments.get_experiment(experiment)
    truth = experiments.truth(exp)
    rows = []
    for rnd in experiments.rounds(exp.id):
        train = experiments.round_train_idx(rnd.id)
        left = int((truth[train] == 1).sum()) if (truth >= 0).any() else None
        base = {
            "round": rnd.number,
            "train size": rnd.n_train,
            "removed": rnd.n_removed,
            "contaminants left": left,
            "confirmed anomalies": rnd.n_confirmed or 0,
        }
        round_runs = runs.list_runs(round_id=rnd.id)
        if not round_runs:
            rows.append(base | {"detector": "", "status": "no run"})
        for r in reversed(round_runs):
            m = r.metrics or {}
            weighted = rnd.negative_weight is not None and registry.get(r.detector).supports_weights
            rows.append(
                base
                | {
                    "detector": r.detector,
                    "run": r.id,
                    "status": r.status,
                    "negatives": rnd.n_negatives if weighted else 0,
                    "test AUROC": m.get("test_auroc"),
                    "test AP": m.get("test_ap"),
                    "train AUROC": m.get("train_auroc"),
                }
            )
    return pd.DataFrame(rows)
