"""Reviewer decisions: appended to the audit trail, never edited; the current state is a replay."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
from sqlalchemy import select

from core.store import db
from core.store.tables import Decision

STATUS_ACTIONS = ("reject", "restore")
LABEL_ACTIONS = ("normal", "anomaly")
ACTIONS = STATUS_ACTIONS + LABEL_ACTIONS


def decide(experiment_id: int, samples, action: str, *, user: str = "", view: str = "", round_number: int = 0) -> int:
    """Append one decision per sample; returns how many were written."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    samples = [int(x) for x in np.atleast_1d(np.asarray(samples, dtype=np.int64))]
    with db.session() as s:
        s.add_all(
            Decision(experiment_id=experiment_id, sample=x, action=action, user=user[:100], view=view[:40], round_number=round_number)
            for x in samples
        )
    return len(samples)


def trail(experiment_id: int) -> pd.DataFrame:
    """Every decision of an experiment, oldest first."""
    cols = ["id", "created_at", "user", "action", "sample", "view", "round_number"]
    with db.session() as s:
        rows = s.execute(select(*[getattr(Decision, c) for c in cols]).where(Decision.experiment_id == experiment_id).order_by(Decision.id)).all()
    return pd.DataFrame(rows, columns=cols)


def replay(decisions: pd.DataFrame) -> pd.DataFrame:
    """Current state per sample from decisions in order: status (active/rejected) and label."""
    out = pd.DataFrame(columns=["status", "label"], index=pd.Index([], name="sample", dtype=np.int64))
    if decisions.empty:
        return out
    status = decisions[decisions.action.isin(STATUS_ACTIONS)].groupby("sample").action.last()
    label = decisions[decisions.action.isin(LABEL_ACTIONS)].groupby("sample").action.last()
    out = pd.DataFrame({"status": status.map({"reject": "rejected", "restore": "active"}), "label": label})
    out.index.name = "sample"
    out["status"] = out["status"].fillna("active")
    out["label"] = out["label"].fillna("")
    return out


def current_state(experiment_id: int) -> pd.DataFrame:
    """Replay of the experiment's trail (index: sample)."""
    return replay(trail(experiment_id))


def rejected(experiment_id: int) -> np.ndarray:
    """Samples whose current status is rejected."""
    state = current_state(experiment_id)
    return np.asarray(state.index[state.status == "rejected"], dtype=np.int64)


def table_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """A table as CSV or Parquet bytes, for downloads and the CLI."""
    if fmt == "csv":
        return frame.to_csv(index=False).encode()
    if fmt == "parquet":
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        return buf.getvalue()
    raise ValueError(f"unknown format {fmt!r}; csv or parquet")


def labels_table(experiment_id: int) -> pd.DataFrame:
    """Current state of every decided sample with its file name: sample, name, status, label."""
    from core.services import datasets, experiments

    state = current_state(experiment_id).reset_index()
    exp = experiments.get_experiment(experiment_id)
    names = datasets.names(exp.dataset_id)
    state.insert(1, "name", names[state["sample"].to_numpy()] if len(state) else [])
    return state


def cleaned_training_set(experiment_id: int) -> np.ndarray:
    """The experiment's training set minus every currently rejected sample (dataset indices)."""
    from core.services import experiments

    base = experiments.round_train_idx(experiments.rounds(experiment_id)[0].id)
    return base[~np.isin(base, rejected(experiment_id))]


def cleaned_file_list(experiment_id: int) -> pd.DataFrame:
    """The cleaned training set as a file list: sample, name, class."""
    from core.services import datasets, experiments

    exp = experiments.get_experiment(experiment_id)
    ds = datasets.get_dataset(exp.dataset_id)
    idx = cleaned_training_set(experiment_id)
    lab = datasets.labels(ds.id)[idx]
    classes = [ds.classes[i] if i >= 0 else "" for i in lab] if ds.classes else [""] * len(idx)
    return pd.DataFrame({"sample": idx, "name": datasets.names(ds.id)[idx], "class": classes})


def cleaned_npz(experiment_id: int) -> bytes:
    """The cleaned training set as an .npz (x uint8 images, y labels, names, classes): no pickle needed to read it."""
    from core.services import datasets, experiments

    exp = experiments.get_experiment(experiment_id)
    ds = datasets.get_dataset(exp.dataset_id)
    idx = cleaned_training_set(experiment_id)
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        x=datasets.images(ds.id, idx),
        y=datasets.labels(ds.id)[idx],
        names=datasets.names(ds.id)[idx].astype(str),
        classes=np.asarray(ds.classes, dtype=str),
    )
    return buf.getvalue()
