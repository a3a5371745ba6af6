"""Detection metrics on scores with known truth (1 anomaly, 0 normal, −1 unknown)."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


def known(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The samples with known truth, or None when both classes are not present."""
    truth, scores = np.asarray(truth), np.asarray(scores, dtype=np.float64)
    keep = (truth >= 0) & np.isfinite(scores)
    t, s = truth[keep], scores[keep]
    if len(np.unique(t)) < 2:
        return None
    return t, s


def auroc_ap(truth: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """AUROC and average precision where truth allows; empty dict otherwise."""
    k = known(truth, scores)
    if k is None:
        return {}
    t, s = k
    return {"auroc": float(roc_auc_score(t, s)), "ap": float(average_precision_score(t, s))}


def auroc_each(truth: np.ndarray, scores: dict[str, np.ndarray]) -> dict[str, float]:
    """AUROC of each named score, all on the same samples: known truth, every score finite.

    A score with no finite value at all is left out rather than emptying the comparison."""
    truth = np.asarray(truth)
    columns = {n: np.asarray(v, dtype=np.float64) for n, v in scores.items()}
    columns = {n: v for n, v in columns.items() if np.isfinite(v).any()}
    if not columns:
        return {}
    keep = (truth >= 0) & np.isfinite(np.column_stack(list(columns.values()))).all(axis=1)
    if len(np.unique(truth[keep])) < 2:
        return {}
    return {n: float(roc_auc_score(truth[keep], v[keep])) for n, v in columns.items()}


def better_score(aurocs: dict[str, float], chosen: str, margin: float = 0.05) -> str | None:
    """The best-ranking score when it beats `chosen` by at least `margin` of AUROC, else None."""
    if chosen not in aurocs:
        return None
    best = max(aurocs, key=aurocs.get)
    # rounding: 0.85 − 0.80 is 0.0499999… in floating point, and a margin met exactly counts
    return best if round(aurocs[best] - aurocs[chosen], 9) >= margin else None


def at_threshold(truth: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Flagged count, and with truth precision, recall and F1 of "score ≥ threshold"."""
    scores = np.asarray(scores, dtype=np.float64)
    flagged = scores >= threshold
    out = {"flagged": int(flagged.sum()), "n": int(len(scores))}
    k = known(truth, scores)
    if k is None:
        return out
    t, s = k
    f = s >= threshold
    tp = int((f & (t == 1)).sum())
    precision = tp / f.sum() if f.sum() else 0.0
    recall = tp / (t == 1).sum()
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return out | {"precision": float(precision), "recall": float(recall), "f1": float(f1), "tp": tp}


def roc_points(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """False- and true-positive rates of the ROC curve, or None without both classes."""
    k = known(truth, scores)
    if k is None:
        return None
    fpr, tpr, _ = roc_curve(*k)
    return fpr, tpr


def percentile_rank(reference: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Percent of `reference` scores strictly below each score (the app's threshold scale)."""
    ref = np.sort(np.asarray(reference, dtype=np.float64))
    if len(ref) == 0:
        return np.zeros(len(scores))
    return 100.0 * np.searchsorted(ref, np.asarray(scores, dtype=np.float64), side="left") / len(ref)
