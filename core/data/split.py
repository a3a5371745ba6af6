"""The experiment split: reproducible from (labels, normal, anomaly, p, test share, seed)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Split:
    train: np.ndarray  # sorted dataset indices
    test: np.ndarray
    train_anomalies: int


def anomalies_needed(n_normal: int, p: float) -> int:
    """Anomalies so that they are a fraction p of the final training set: p·N_normal/(1−p) (methods.md, Berg §4)."""
    return int(round(p * n_normal / (1.0 - p)))


def make_split(
    labels: np.ndarray,
    normal: list[int],
    anomaly: list[int],
    contamination: float,
    test_share: float,
    seed: int,
) -> Split:
    """Hold out `test_share` of every class for testing, then contaminate the normal training set.

    With no labels (all −1) and no classes chosen, every sample is a candidate and the
    contamination is whatever the data holds.
    """
    if not 0.0 <= contamination < 1.0:
        raise ValueError(f"contamination must be in [0, 1), got {contamination}")
    if not 0.0 < test_share < 1.0:
        raise ValueError(f"test share must be between 0 and 1 (exclusive), got {test_share}")
    overlap = set(normal) & set(anomaly)
    if overlap:
        raise ValueError(f"classes cannot be both normal and anomalous: {sorted(overlap)}")
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)

    def held_out(classes: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(test, rest) with `test_share` of every class held out, rest shuffled."""
        groups = [labels == c for c in classes] if classes else [labels == -1]
        test, rest = [], []
        for mask in groups:
            idx = rng.permutation(np.flatnonzero(mask))
            k = int(round(test_share * len(idx)))
            test.append(idx[:k])
            rest.append(idx[k:])
        empty = np.zeros(0, np.int64)
        return np.concatenate(test or [empty]), rng.permutation(np.concatenate(rest or [empty]))

    test_normal, train_normal = held_out(normal)
    if len(test_normal) + len(train_normal) < 2:
        raise ValueError("the normal classes hold fewer than 2 samples")
    test_anomaly, spare = held_out(anomaly) if anomaly else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    need = anomalies_needed(len(train_normal), contamination)
    if need > 0 and not anomaly:
        raise ValueError("a contamination above 0 needs at least one anomaly class")
    if need > len(spare):
        raise ValueError(
            f"contamination {contamination:g} needs {need} anomalies in the training set, but only "
            f"{len(spare)} anomaly samples are left outside the test share "
            f"(at most {len(spare) / (len(spare) + len(train_normal)):.3f} is possible)"
        )
    if len(train_normal) == 0:
        raise ValueError("the test share leaves no normal samples for training")
    train = np.sort(np.concatenate([train_normal, spare[:need]]))
    test = np.sort(np.concatenate([test_normal, test_anomaly]))
    return Split(train.astype(np.int64), test.astype(np.int64), need)


def truth_of(labels: np.ndarray, normal: list[int], anomaly: list[int]) -> np.ndarray:
    """Per-sample truth: 1 anomaly class, 0 normal class, −1 unknown."""
    labels = np.asarray(labels)
    truth = np.full(len(labels), -1, dtype=np.int8)
    if anomaly:
        truth[np.isin(labels, normal)] = 0
        truth[np.isin(labels, anomaly)] = 1
    return truth
