"""The metadata tables. Arrays (images, scores, latents) live as .npy files beside the database."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict: JSON, list: JSON}


class Dataset(Base):
    """An imported image set: images.npy, labels.npy and names.npy in its folder."""

    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(Text)
    n: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    classes: Mapped[list] = mapped_column(JSON, default=list)
    class_counts: Mapped[list] = mapped_column(JSON, default=list)
    skipped: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Experiment(Base):
    """A reproducible split of a dataset: train_idx.npy and test_idx.npy in its folder."""

    __tablename__ = "experiments"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    normal_classes: Mapped[list] = mapped_column(JSON)
    anomaly_classes: Mapped[list] = mapped_column(JSON)
    contamination: Mapped[float] = mapped_column(Float)
    test_share: Mapped[float] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(Integer)
    n_train: Mapped[int] = mapped_column(Integer)
    n_train_anomalies: Mapped[int] = mapped_column(Integer)
    n_test: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Round(Base):
    """One training round of an experiment; its training set is train_idx.npy in its folder."""

    __tablename__ = "rounds"
    __table_args__ = (UniqueConstraint("experiment_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"))
    number: Mapped[int] = mapped_column(Integer)
    n_train: Mapped[int] = mapped_column(Integer)
    n_removed: Mapped[int] = mapped_column(Integer, default=0)
    # Confirmed anomalies (label "anomaly") when the round was made, and how many it trains on
    # as negative examples (negative_idx.npy in its folder) at `negative_weight`; None: not used.
    n_confirmed: Mapped[int] = mapped_column(Integer, default=0)
    n_negatives: Mapped[int] = mapped_column(Integer, default=0)
    negative_weight: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Run(Base):
    """One detector trained in one round: the job's state, and its results' folder."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    detector: Mapped[str] = mapped_column(String(50))
    preset: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued running succeeded failed cancelled
    phase: Mapped[str] = mapped_column(String(40), default="")
    progress: Mapped[dict] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker: Mapped[str] = mapped_column(String(100), default="")
    device: Mapped[str] = mapped_column(String(20), default="")
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    embedding: Mapped[str] = mapped_column(String(20), default="")  # "" pca umap failed
    resumes: Mapped[int] = mapped_column(Integer, default=0)  # times re-queued from a checkpoint after its worker died
    claim: Mapped[str] = mapped_column(String(32), default="")  # fencing token of the execution that owns the run now
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    heartbeat: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Decision(Base):
    """One reviewer decision on one sample; appended, never edited (the audit trail)."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"), index=True)
    sample: Mapped[int] = mapped_column(Integer)  # index into the dataset
    action: Mapped[str] = mapped_column(String(20))  # reject restore normal anomaly
    user: Mapped[str] = mapped_column(String(100), default="")
    view: Mapped[str] = mapped_column(String(40), default="")
    round_number: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Worker(Base):
    """A worker process and its heartbeat."""

    __tablename__ = "workers"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    pid: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(200))
    device: Mapped[str] = mapped_column(String(20), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    heartbeat: Mapped[datetime] = mapped_column(DateTime, default=now)
    stopped: Mapped[bool] = mapped_column(Boolean, default=False)
