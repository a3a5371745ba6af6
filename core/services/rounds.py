"""Rounds: retrain without the rejected samples, and compare rounds side by side."""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.services import experiments, review, runs
from core.store import arrays, db
from core.store.tables import Round, Run


def retrain(experiment: int | str, detectors: list[str], preset: str = "quick", params: dict | None = None) -> tuple[Round, list[Run]]:
    """Start the next round: the experiment's training set minus every currently rejected sample."""
    exp = experiments.get_experiment(experiment)
    if not detectors:
        raise ValueError("choose at least one detector")
    base = arrays.load(db.folder("experiments", exp.id) / "train_idx.npy")
    gone = np.isin(base, review.rejected(exp.id))
    if gone.all():
        raise ValueError("every training sample is rejected: restore some before retraining")
    rnd = experiments.add_round(exp.id, base[~gone], int(gone.sum()))
    return rnd, runs.queue_runs(exp.id, detectors, preset, params, round_id=rnd.id)


def table(experiment: int | str) -> pd.DataFrame:
    """One row per round and detector: training-set size, removed, contaminants left, metrics."""
    exp = experiments.get_experiment(experiment)
    truth = experiments.truth(exp)
    rows = []
    for rnd in experiments.rounds(exp.id):
        train = experiments.round_train_idx(rnd.id)
        left = int((truth[train] == 1).sum()) if (truth >= 0).any() else None
        base = {"round": rnd.number, "train size": rnd.n_train, "removed": rnd.n_removed, "contaminants left": left}
        round_runs = runs.list_runs(round_id=rnd.id)
        if not round_runs:
            rows.append(base | {"detector": "", "status": "no run"})
        for r in reversed(round_runs):
            m = r.metrics or {}
            rows.append(
                base
                | {
                    "detector": r.detector,
                    "run": r.id,
                    "status": r.status,
                    "test AUROC": m.get("test_auroc"),
                    "test AP": m.get("test_ap"),
                    "train AUROC": m.get("train_auroc"),
                }
            )
    return pd.DataFrame(rows)
