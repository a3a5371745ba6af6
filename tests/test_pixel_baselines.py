"""The pixel-space baselines `iforest` and `knn`: faithful scores, leave-one-out, negatives, persistence."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from sklearn.ensemble import IsolationForest

from core.models import registry
from core.models.base import to_tensor
from core.models.iforest import IsolationForestPixels
from core.models.knn import KnnDistance

BASELINES = [n for n, cls in registry.classes().items() if not cls.deep]


def random_images(n: int, size: int = 16, channels: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels), dtype=np.uint8)


def flat(images: np.ndarray) -> np.ndarray:
    return to_tensor(images).flatten(1).numpy()


def test_both_baselines_are_registered_without_reconstruction():
    assert set(BASELINES) == {"iforest", "knn"}
    for name in BASELINES:
        cls = registry.get(name)
        assert not cls.has_reconstruction and not cls.deep
        assert {"quick", "paper"} <= set(cls.PRESETS)
    assert registry.get("knn").supports_weights and not registry.get("iforest").supports_weights


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("channels,size", [(1, 16), (1, 32), (3, 32), (3, 64)])
def test_infer_shapes(name, channels, size):
    model = registry.get(name)(channels, size, {"nz": 4})
    model.fit(random_images(40, size, channels), seed=0)
    out = model.infer(random_images(7, size, channels, seed=1), batch_size=3)
    assert list(out.scores)[0] == "score"
    for v in out.scores.values():
        assert v.dtype == np.float32 and v.shape == (7,) and np.isfinite(v).all()
    assert out.latent.shape == (7, 4) and out.latent.dtype == np.float32
    assert out.recon is None


@pytest.mark.parametrize("name", BASELINES)
def test_latent_is_the_pca_of_the_training_pixels(name, digits_images):
    images = digits_images[0][:300]
    model = registry.get(name)(1, 16, {"nz": 3})
    model.fit(images, seed=0)
    z = model.infer(images).latent
    x = flat(images)
    _, s, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    ref = (x - x.mean(0)) @ vt[:3].T
    # same subspace: each component matches up to sign, to the precision of the randomised PCA
    for k in range(3):
        assert abs(abs(np.corrcoef(z[:, k], ref[:, k])[0, 1]) - 1) < 1e-3, k
    assert z[:, 0].var() > z[:, 1].var() > z[:, 2].var()


def test_latent_is_padded_when_there_are_fewer_images_than_components():
    model = KnnDistance(1, 16, {"nz": 32})
    model.fit(random_images(5), seed=0)
    out = model.infer(random_images(3, seed=1))
    assert out.latent.shape == (3, 32) and np.all(out.latent[:, 5:] == 0)


def test_iforest_equals_scikit_learn(digits_images):
    images = digits_images[0]
    train, test = images[:600], images[600:900]
    model = IsolationForestPixels(1, 16, {"n_estimators": 50, "max_samples": 128})
    model.fit(train, seed=3)
    ref = IsolationForest(n_estimators=50, max_samples=128, random_state=3).fit(flat(train))
    np.testing.assert_allclose(model.infer(test).scores["score"], -ref.score_samples(flat(test)), rtol=0, atol=1e-6)


def test_iforest_with_fewer_images_than_max_samples():
    model = IsolationForestPixels(1, 16, {"max_samples": 256})
    model.fit(random_images(30), seed=0)
    s = model.infer(random_images(10, seed=1)).scores["score"]
    assert np.isfinite(s).all() and (s > 0).all() and (s < 1).all()


def _brute_knn(query: np.ndarray, ref: np.ndarray, k: int, skip_self: bool) -> np.ndarray:
    d = np.sqrt(((query[:, None, :].astype(np.float64) - ref[None].astype(np.float64)) ** 2).sum(-1))
    if skip_self:
        d[np.arange(len(query)), np.arange(len(query))] = np.inf
    return np.sort(d, 1)[:, :k].mean(1)


def test_knn_is_leave_one_out_on_training_images_and_plain_on_new_ones(digits_images):
    images = digits_images[0]
    train, new = images[:400], images[400:500]
    model = KnnDistance(1, 16, {"k": 5})
    model.fit(train, seed=0)
    np.testing.assert_allclose(model.infer(train[:100]).scores["score"], _brute_knn(flat(train[:100]), flat(train), 5, True), rtol=1e-5)
    np.testing.assert_allclose(model.infer(new).scores["score"], _brute_knn(flat(new), flat(train), 5, False), rtol=1e-5)


def test_knn_neighbours_are_exact_across_reference_chunks(monkeypatch, digits_images):
    import core.models.knn as knn

    images = digits_images[0][:300]
    whole = KnnDistance(1, 16, {"k": 3})
    whole.fit(images, seed=0)
    expected = whole.infer(images).scores["score"]
    real = knn._nearest
    monkeypatch.setattr(knn, "_nearest", lambda q, ref, k, chunk=8192: real(q, ref, k, chunk=7))
    np.testing.assert_array_equal(whole.infer(images).scores["score"], expected)


def test_knn_confirmed_anomalies_raise_their_neighbours_scores(digits_images):
    images, labels = digits_images
    zeros, ones = images[labels == 0][:150], images[labels == 1]
    train = np.concatenate([zeros, ones[:20]])  # 20 unreviewed contaminants
    plain = KnnDistance(1, 16, {"k": 10})
    plain.fit(train, seed=0)
    negatives = ones[20:30]  # confirmed by a reviewer, given negative weights
    weighted = KnnDistance(1, 16, {"k": 10})
    w = np.r_[np.ones(len(train), np.float32), np.full(len(negatives), -0.1, np.float32)]
    weighted.fit(np.concatenate([train, negatives]), weights=w, seed=0)
    assert len(weighted.reference) == len(train) and len(weighted.negatives) == len(negatives)
    before, after = plain.infer(train).scores, weighted.infer(train).scores
    assert set(after) == {"score", "distance", "negative_distance"}
    np.testing.assert_allclose(after["distance"], before["distance"], rtol=1e-6)  # the normal references are unchanged
    from sklearn.metrics import roc_auc_score

    truth = np.r_[np.zeros(len(zeros)), np.ones(20)]
    assert roc_auc_score(truth, after["score"]) > roc_auc_score(truth, before["score"])
    assert roc_auc_score(truth, after["score"]) > 0.99


def test_knn_keeps_at_most_max_reference_images():
    model = KnnDistance(1, 16, {"max_reference": 25})
    model.fit(random_images(100), seed=0)
    assert model.reference.shape == (25, 256)


def test_knn_needs_a_positive_image():
    with pytest.raises(ValueError, match="positive weight"):
        KnnDistance(1, 16, {}).fit(random_images(4), weights=np.full(4, -0.1, np.float32))


@pytest.mark.parametrize("name", BASELINES)
def test_state_dict_round_trip_with_weights_only(name):
    model = registry.get(name)(3, 32, {"nz": 5})
    w = np.r_[np.ones(30, np.float32), np.full(5, -0.1, np.float32)] if model.supports_weights else None
    model.fit(random_images(35 if w is not None else 30, 32, 3), weights=w, seed=0)
    images = random_images(9, 32, 3, seed=2)
    before = model.infer(images)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    fresh = registry.get(name)(3, 32, model.params)
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    after = fresh.infer(images)
    for k in before.scores:
        np.testing.assert_array_equal(before.scores[k], after.scores[k])
    np.testing.assert_array_equal(before.latent, after.latent)


@pytest.mark.parametrize("name", BASELINES)
def test_fit_reports_progress_and_honours_cancel(name):
    from core.models.base import Cancelled

    seen = []
    registry.get(name)(1, 16, {}).fit(random_images(20), progress=seen.append, seed=0)
    assert len(seen) == 1 and (seen[0].epoch, seen[0].epochs) == (1, 1)
    with pytest.raises(Cancelled):
        registry.get(name)(1, 16, {}).fit(random_images(20), should_stop=lambda: True)


@pytest.mark.parametrize("name", BASELINES)
def test_train_step_says_to_call_fit(name):
    with pytest.raises(TypeError, match="fit"):
        registry.get(name)(1, 16, {}).train_step(torch.zeros(2, 1, 16, 16), None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", BASELINES)
def test_cuda_matches_cpu(name, digits_images):
    images = digits_images[0][:300]
    cpu = registry.get(name)(1, 16, {})
    cpu.fit(images, seed=0)
    gpu = registry.get(name)(1, 16, {}).cuda()
    gpu.fit(images, seed=0)
    np.testing.assert_allclose(gpu.infer(images).scores["score"], cpu.infer(images).scores["score"], rtol=1e-4)
