"""Isolation Forest on raw pixels: a bar every deep detector must clear (issue 6).

Liu, Ting and Zhou, "Isolation Forest", ICDM 2008: random axis-aligned splits isolate an
anomaly in fewer steps; score s(x) = 2^(−E[h(x)] / c(ψ)), with h the path length (plus c(n) for
a leaf still holding n samples) and c(ψ) the mean path length of an unsuccessful search in a
binary tree of ψ = `max_samples` points (§2, eq. 1–2). Defaults are the paper's: 100 trees, ψ 256.

scikit-learn grows the trees. Its fitted model is a pickle, which a checkpoint must never hold,
so the trees are copied into tensors (split feature, threshold, children, and each leaf's h) and
scored here by walking all trees at once; the result equals scikit-learn's `score_samples`
(negated, so that higher is more anomalous). Weights are not used: a forest has no negative
examples to push away.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.ensemble import IsolationForest

from .base import FitLoop, Param
from .pixel_baseline import PixelBaseline, pca_param


def _c(n: np.ndarray) -> np.ndarray:
    """c(n): mean path length of an unsuccessful binary-search-tree search over n points (eq. 1)."""
    n = np.asarray(n, dtype=np.float64)
    out = np.where(n == 2, 1.0, 0.0)
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


class IsolationForestPixels(PixelBaseline):
    """Isolation Forest on the flattened pixels; score = 2^(−mean path length / c(ψ))."""

    name = "iforest"
    title = "Isolation Forest (pixels)"
    summary = (
        "Random splits on pixel values: an image that is isolated in few splits is scored as anomalous. "
        "Fits in seconds, no network: the bar a deep detector must clear to earn its cost."
    )
    PARAMS = (
        Param("n_estimators", 100, "Number of isolation trees.", "int", 1, 2000),
        Param("max_samples", 256, "Images drawn to grow each tree (ψ).", "int", 2, 100_000),
        pca_param(),
    )
    PRESETS = {"quick": {}, "paper": {"n_estimators": 100, "max_samples": 256}}
    data_buffers = (*PixelBaseline.data_buffers, "feature", "threshold", "left", "right", "leaf_h", "norm")

    def build_baseline(self) -> None:
        for name, dtype in (("feature", torch.long), ("threshold", torch.float64), ("left", torch.long), ("right", torch.long), ("leaf_h", torch.float64)):
            self.register_buffer(name, torch.zeros(0, 0, dtype=dtype))
        self.register_buffer("norm", torch.zeros((), dtype=torch.float64))

    def fit_pixels(self, x: torch.Tensor, w: torch.Tensor | None, seed: int, loop: FitLoop) -> None:
        """Grow the forest with scikit-learn, then copy its trees into padded (trees, nodes) tensors."""
        data = x.cpu().numpy()
        forest = IsolationForest(
            n_estimators=int(self.params["n_estimators"]),
            max_samples=min(int(self.params["max_samples"]), len(data)),
            random_state=seed,
        ).fit(data)
        trees = [e.tree_ for e in forest.estimators_]
        width = max(t.node_count for t in trees)
        shape = (len(trees), width)
        feature, left, right = np.zeros(shape, np.int64), np.full(shape, -1, np.int64), np.full(shape, -1, np.int64)
        threshold, leaf_h = np.zeros(shape, np.float64), np.zeros(shape, np.float64)
        subset = forest._max_features != data.shape[1]  # trees index a feature subset only then
        for t, (tree, cols) in enumerate(zip(trees, forest.estimators_features_)):
            n = tree.node_count
            f = np.maximum(tree.feature, 0)  # leaves hold −2; never read
            feature[t, :n] = np.asarray(cols)[f] if subset else f
            threshold[t, :n], left[t, :n], right[t, :n] = tree.threshold, tree.children_left, tree.children_right
            # h(x) at a leaf: its depth (edges from the root) plus c(samples left in it)
            leaf_h[t, :n] = tree.compute_node_depths() - 1.0 + _c(tree.n_node_samples)
        self.feature, self.left, self.right = (torch.from_numpy(a).to(self.device) for a in (feature, left, right))
        self.threshold, self.leaf_h = (torch.from_numpy(a).to(self.device) for a in (threshold, leaf_h))
        self.norm = torch.tensor(len(trees) * float(_c(np.array([forest.max_samples_]))[0]), dtype=torch.float64)

    def score_pixels(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """2^(−E[h(x)] / c(ψ)) over all trees (eq. 2); higher = more anomalous."""
        n, trees = len(x), self.feature.shape[0]
        t = torch.arange(trees, device=x.device).expand(n, trees)
        node = torch.zeros(n, trees, dtype=torch.long, device=x.device)
        # float32 pixels against float64 thresholds, as scikit-learn compares them
        xf = x.float().double()
        while True:
            lft = self.left[t, node]
            inner = lft >= 0
            if not inner.any():
                break
            go_left = xf.gather(1, self.feature[t, node]) <= self.threshold[t, node]
            node = torch.where(inner, torch.where(go_left, lft, self.right[t, node]), node)
        depth = self.leaf_h[t, node].sum(1)
        score = torch.pow(2.0, -depth / self.norm) if self.norm > 0 else torch.ones(n, dtype=torch.float64, device=x.device)
        return {"score": score.float()}
