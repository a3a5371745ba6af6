"""Experiments (a split of a dataset) and their rounds (the training set each round trains on)."""
from __future__ import annotations

import shutil

import numpy as np
from sqlalchemy import select

from core.data.split import make_split, truth_of
from core.services import datasets
from core.store import arrays, db
from core.store.tables import Dataset, Experiment, Round


def create_experiment(
    dataset: str | int,
    normal: list[str],
    anomaly: list[str],
    contamination: float,
    name: str,
    test_share: float = 0.3,
    seed: int = 0,
) -> Experiment:
    """Split `dataset` reproducibly and store the split with its first round."""
    name = datasets.check_new_name(name, Experiment)
    ds = datasets.get_dataset(dataset)
    if ds.classes and not normal:
        raise ValueError("choose at least one normal class")
    normal_idx = datasets.class_indices(ds, normal)
    anomaly_idx = datasets.class_indices(ds, anomaly)
    split = make_split(datasets.labels(ds.id), normal_idx, anomaly_idx, float(contamination), float(test_share), int(seed))
    with db.session() as s:
        exp = Experiment(
            name=name,
            dataset_id=ds.id,
            normal_classes=[ds.classes[i] for i in normal_idx],
            anomaly_classes=[ds.classes[i] for i in anomaly_idx],
            contamination=float(contamination),
            test_share=float(test_share),
            seed=int(seed),
            n_train=len(split.train),
            n_train_anomalies=split.train_anomalies,
            n_test=len(split.test),
        )
        s.add(exp)
        s.flush()
        folder = db.folder("experiments", exp.id)
        try:
            arrays.save(folder / "train_idx.npy", split.train)
            arrays.save(folder / "test_idx.npy", split.test)
            rnd = Round(experiment_id=exp.id, number=1, n_train=len(split.train))
            s.add(rnd)
            s.flush()
            arrays.save(db.folder("rounds", rnd.id) / "train_idx.npy", split.train)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return exp


def list_experiments() -> list[Experiment]:
    with db.session() as s:
        return list(s.scalars(select(Experiment).order_by(Experiment.id)))


def get_experiment(ref: int | str) -> Experiment:
    """An experiment by id or name."""
    return db.fetch(Experiment, ref, "experiment")


def dataset_of(exp: Experiment) -> Dataset:
    return datasets.get_dataset(exp.dataset_id)


def test_idx(exp: Experiment) -> np.ndarray:
    return arrays.load(db.folder("experiments", exp.id) / "test_idx.npy")


def truth(exp: Experiment) -> np.ndarray:
    """Known truth for every dataset sample: 1 anomaly, 0 normal, −1 unknown."""
    ds = dataset_of(exp)
    return truth_of(
        datasets.labels(ds.id),
        datasets.class_indices(ds, exp.normal_classes),
        datasets.class_indices(ds, exp.anomaly_classes),
    )


def rounds(exp_id: int) -> list[Round]:
    with db.session() as s:
        return list(s.scalars(select(Round).where(Round.experiment_id == exp_id).order_by(Round.number)))


def latest_round(exp_id: int) -> Round:
    return rounds(exp_id)[-1]


def round_train_idx(round_id: int) -> np.ndarray:
    return arrays.load(db.folder("rounds", round_id) / "train_idx.npy")


def round_negative_idx(round_id: int) -> np.ndarray:
    """Samples a round trains on as negative examples (empty when it uses none)."""
    path = db.folder("rounds", round_id) / "negative_idx.npy"
    return arrays.load(path) if arrays.exists(path) else np.zeros(0, np.int64)


def add_round(
    exp_id: int,
    train_idx: np.ndarray,
    n_removed: int,
    negative_idx: np.ndarray | None = None,
    negative_weight: float | None = None,
    n_confirmed: int = 0,
) -> Round:
    """Append the next round with training set `train_idx` (and negative examples, if given)."""
    negatives = np.sort(np.asarray([] if negative_idx is None else negative_idx, dtype=np.int64))
    with db.session() as s:
        last = s.scalar(select(Round).where(Round.experiment_id == exp_id).order_by(Round.number.desc()))
        rnd = Round(
            experiment_id=exp_id,
            number=last.number + 1,
            n_train=len(train_idx),
            n_removed=n_removed,
            n_confirmed=int(n_confirmed),
            n_negatives=len(negatives) if negative_weight is not None else 0,
            negative_weight=None if negative_weight is None else float(negative_weight),
        )
        s.add(rnd)
        s.flush()
        folder = db.folder("rounds", rnd.id)
        arrays.save(folder / "train_idx.npy", np.sort(np.asarray(train_idx, dtype=np.int64)))
        if negative_weight is not None:
            arrays.save(folder / "negative_idx.npy", negatives)
        return rnd
