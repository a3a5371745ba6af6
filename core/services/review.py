"""Reviewer decisions: appended to the audit trail, never edited; the current state is a replay."""
from __future__ import annotations

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
