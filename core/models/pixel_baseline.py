"""What the two pixel-space baselines (`knn`, `iforest`) share: no network, fitted in one go.

Issue 6's bars every deep detector must clear. They see the raw pixels, scaled to [-1, 1] as the
deep detectors see them. Their latent map is a PCA of the training pixels (`nz` components, fitted
with `torch.pca_lowrank`), and they have no reconstruction. Subclasses define `fit_pixels` and
`score_pixels`; everything they keep lives in buffers, so a checkpoint loads with
`weights_only=True` like every other detector's.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from .base import Detector, FitLoop, Param, Progress, to_tensor


def pca_param(default: int = 32) -> Param:
    """The latent-map size of a pixel baseline."""
    return Param("nz", default, "Principal components of the pixels shown as the latent map.", "int", 1, 256)


class PixelBaseline(Detector):
    """Base of detectors that score flattened pixels directly; latent = PCA of the training pixels."""

    deep = False
    has_reconstruction = False
    resumable = False
    data_buffers = ("pca_mean", "pca_axes")

    def build(self) -> None:
        self.register_buffer("pca_mean", torch.zeros(0))
        self.register_buffer("pca_axes", torch.zeros(0, 0))
        self.build_baseline()

    def build_baseline(self) -> None:
        """Register the subclass's buffers (empty; `data_buffers` sizes them on load)."""

    def fit_pixels(self, x: torch.Tensor, w: torch.Tensor | None, seed: int, loop: FitLoop) -> None:
        """Fit on flattened pixels `x` (N, D) in [-1, 1], weights `w` (N,) or None."""
        raise NotImplementedError

    def score_pixels(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Scores (dict, "score" first, higher = more anomalous) for flattened pixels (N, D)."""
        raise NotImplementedError

    def total_epochs(self, n: int) -> int:
        """One pass: the fit itself."""
        return 1

    def train_step(self, x, w):
        raise TypeError(f"{self.name} is fitted in one go: call fit, not train_step")

    def fit(
        self,
        images: np.ndarray,
        *,
        weights: np.ndarray | None = None,
        progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        seed: int = 0,
        report_every_s: float = 0.5,
    ) -> None:
        """PCA for the latent map, then the subclass's fit; one progress report when done."""
        loop = FitLoop(1, progress, should_stop, report_every_s)
        loop.check_stop()
        x = to_tensor(images).flatten(1).to(self.device)
        w = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=self.device)
        normal = x if w is None else x[w > 0]
        if not len(normal):
            raise ValueError(f"{self.name} needs at least one training image with a positive weight")
        torch.manual_seed(seed)
        q = min(int(self.params["nz"]), *normal.shape)
        mean = normal.mean(0)
        # oversampled by 10 for an accurate randomised SVD (Halko et al. 2011, §4.2)
        _, _, v = torch.pca_lowrank(normal - mean, q=min(q + 10, *normal.shape), center=False, niter=6)
        self.pca_mean, self.pca_axes = mean, v[:, :q].contiguous()
        self.fit_pixels(x, w, seed, loop)
        loop.check_stop()
        if progress is not None:
            progress(Progress(1, 1, 1, 1, {}, len(x) / max(1e-9, time.monotonic() - loop.start), 0.0))

    def infer_batch(self, x: torch.Tensor):
        """Scores from the subclass; latent = the PCA projection; no reconstruction."""
        flat = x.flatten(1).float()
        latent = (flat - self.pca_mean) @ self.pca_axes
        if latent.shape[1] < self.params["nz"]:  # fewer training images than components
            latent = torch.nn.functional.pad(latent, (0, self.params["nz"] - latent.shape[1]))
        return self.score_pixels(flat), latent, None
