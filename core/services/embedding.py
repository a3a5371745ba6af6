"""2-D maps of latent vectors: PCA at once, UMAP when the worker gets to it."""
from __future__ import annotations

import numpy as np


def pca_2d(latent: np.ndarray) -> np.ndarray:
    """First two principal components (float32 (N,2)); a flat latent maps to zeros."""
    from sklearn.decomposition import PCA

    x = np.asarray(latent, dtype=np.float32).reshape(len(latent), -1)
    if len(x) < 3 or x.shape[1] < 2:
        return np.zeros((len(x), 2), np.float32)
    return PCA(n_components=2, random_state=0).fit_transform(x).astype(np.float32)


def umap_2d(latent: np.ndarray, seed: int = 0) -> np.ndarray:
    """UMAP of the latents (float32 (N,2)); slow on first call in a process (numba JIT)."""
    import umap

    x = np.asarray(latent, dtype=np.float32).reshape(len(latent), -1)
    if len(x) < 4:
        return pca_2d(x)
    # Seeded UMAP runs on one thread; the worker favours speed over an identical layout.
    model = umap.UMAP(n_components=2, n_neighbors=min(15, len(x) - 1), min_dist=0.1)
    return model.fit_transform(x).astype(np.float32)


def warm_up() -> None:
    """Compile UMAP's numba kernels once, so the first real map is not a minute late."""
    umap_2d(np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))
