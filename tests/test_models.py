"""Detectors: shapes, training, persistence, a small end-to-end AUROC check, and parameters."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from core.models import registry
from core.models.autoencoder import Autoencoder
from core.models.base import to_tensor
from core.models.ganomaly import Ganomaly
from core.models.layers import Decoder, Encoder

NAMES = list(registry.NAMES)
DEEP = [n for n, cls in registry.classes().items() if cls.deep]  # the pixel baselines: test_pixel_baselines.py
SMALL = {"nz": 8, "nf": 8, "batch_size": 8, "epochs": 1}


def make(name: str, channels: int = 1, size: int = 16, **params):
    torch.manual_seed(0)
    return registry.get(name)(channels, size, {**SMALL, **params})


def random_images(n: int, size: int, channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels), dtype=np.uint8)


@pytest.fixture(scope="module")
def digits(digits_images):
    return digits_images



# ---- layers ------------------------------------------------------------------------------
@pytest.mark.parametrize("size,stages", [(16, 2), (32, 3), (64, 4), (128, 5)])
def test_encoder_decoder_shapes(size, stages):
    enc, dec = Encoder(size, 3, 10, 4), Decoder(size, 3, 10, 4)
    x = torch.randn(2, 3, size, size)
    assert enc.features(x).shape == (2, 4 * 2 ** (stages - 1), 4, 4)
    z = enc(x)
    assert z.shape == (2, 10, 1, 1)
    out = dec(z)
    assert out.shape == x.shape and out.abs().max() <= 1


@pytest.mark.parametrize("size,channels", [(24, 1), (8, 1), (256, 1), (32, 2)])
def test_layers_reject_bad_shapes(size, channels):
    with pytest.raises(ValueError):
        Encoder(size, channels, 10, 4)
    with pytest.raises(ValueError):
        Decoder(size, channels, 10, 4)


@pytest.mark.parametrize("name", DEEP)
def test_dcgan_init_is_applied(name):
    model = make(name, nf=32)
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear))]
    bns = [m for m in model.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    w = torch.cat([m.weight.flatten() for m in layers])
    assert abs(w.std().item() - 0.02) < 0.002
    if bns:  # a WGAN-GP critic has none
        b = torch.cat([m.weight.flatten() for m in bns])
        assert abs(b.mean().item() - 1.0) < 0.01 and b.std().item() < 0.05


# ---- inference shapes --------------------------------------------------------------------
@pytest.mark.parametrize("name", DEEP)
@pytest.mark.parametrize("channels,size", [(1, 16), (1, 32), (3, 32), (3, 64)])
def test_infer_shapes(name, channels, size):
    model = make(name, channels, size)
    images = random_images(5, size, channels)
    model.train_step(to_tensor(images), None)
    out = model.infer(images, batch_size=3)
    assert list(out.scores)[0] == "score"
    for v in out.scores.values():
        assert v.dtype == np.float32 and v.shape == (5,) and np.isfinite(v).all()
    assert out.latent.shape == (5, SMALL["nz"]) and out.latent.dtype == np.float32
    assert out.recon.dtype == np.uint8 and out.recon.shape == (5, size, size, channels)


def test_ganomaly_score_components():
    model = make("ganomaly")
    images = random_images(4, 16, 1)
    out = model.infer(images)
    assert list(out.scores) == ["score", "latent", "recon"]
    np.testing.assert_array_equal(out.scores["score"], out.scores["latent"])
    l1 = make("ganomaly", score="l1").infer(images).scores["score"]
    assert not np.allclose(l1, out.scores["score"])


# ---- training ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", DEEP)
def test_train_step_lowers_loss(name, digits):
    model = make(name, nf=32, nz=32)
    key = model.fit_loss
    x = to_tensor(digits[0][:16])
    first = float(model.train_step(x, None)[key])
    for _ in range(20):
        last = model.train_step(x, None)
    assert all(not v.requires_grad for v in last.values())
    assert float(last[key]) < 0.8 * first


def test_ganomaly_losses_reported():
    model = make("ganomaly")
    losses = model.train_step(to_tensor(random_images(8, 16, 1)), None)
    assert set(losses) == {"g", "d", "adv", "con", "enc"}
    assert all(torch.isfinite(v) and v.ndim == 0 for v in losses.values())


def test_autoencoder_weights():
    x = to_tensor(random_images(6, 16, 1))
    a, b = make("autoencoder"), make("autoencoder")
    # unit weights are the plain mean
    assert torch.isclose(a.train_step(x, None)["loss"], b.train_step(x, torch.ones(6))["loss"])
    # all-zero weights give no loss and no gradient
    c = make("autoencoder")
    before = [p.clone() for p in c.parameters()]
    assert float(c.train_step(x, torch.zeros(6))["loss"]) == 0.0
    assert all(torch.equal(p, q) for p, q in zip(before, c.parameters()))


def test_autoencoder_negative_weights_are_bounded():
    model = make("autoencoder", lr=1e-2, neg_cap=0.5)
    x = to_tensor(random_images(8, 16, 1))
    w = torch.tensor([1.0] * 4 + [-1.0] * 4)
    for _ in range(60):
        loss = float(model.train_step(x, w)["loss"])
    # the pushed-away half contributes at most -cap/2 to the normalised loss
    assert np.isfinite(loss) and loss >= -0.25 - 1e-6


def test_fit_with_weights_reports_progress():
    model = make("autoencoder", epochs=2)
    seen = []
    model.fit(random_images(20, 16, 1), weights=np.linspace(-1, 1, 20), progress=seen.append)
    assert seen and seen[-1].epoch == 2 and "loss" in seen[-1].losses


# ---- persistence -------------------------------------------------------------------------
@pytest.mark.parametrize("name", DEEP)
def test_state_dict_round_trip(name):
    images = random_images(6, 32, 3)
    model = make(name, 3, 32)
    for _ in range(3):
        model.train_step(to_tensor(images), None)
    before = model.infer(images)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    torch.manual_seed(123)
    fresh = registry.get(name)(3, 32, model.params)
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    after = fresh.infer(images)
    for k in before.scores:
        np.testing.assert_array_equal(before.scores[k], after.scores[k])
    np.testing.assert_array_equal(before.latent, after.latent)
    np.testing.assert_array_equal(before.recon, after.recon)


@pytest.mark.parametrize("name", [n for n in DEEP if registry.get(n).resumable])
def test_resuming_from_an_epoch_checkpoint_gives_the_uninterrupted_weights(name, digits):
    images = digits[0][:48]
    params = {"epochs": 3, "batch_size": 16, "nz": 8, "nf": 8} | ({"max_steps": 0} if name == "berg_gan" else {})
    states = []
    whole = make(name, **params)
    whole.fit(images, seed=1, checkpoint=lambda st: states.append(torch.save(st, buf := io.BytesIO()) or buf))
    assert [torch.load(io.BytesIO(b.getvalue()), weights_only=True)["epoch"] for b in states] == [1, 2, 3]
    after_one = torch.load(io.BytesIO(states[0].getvalue()), weights_only=True)  # as the worker reads it
    torch.manual_seed(99)  # a different process state: everything must come from the checkpoint
    resumed = make(name, **params)
    torch.manual_seed(1234)
    resumed.fit(images, seed=1, resume=after_one)
    for (k, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)


# ---- end to end: digit 0 is normal -------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_digits_auroc(name, digits):
    from sklearn.metrics import roc_auc_score

    images, labels = digits
    rng = np.random.default_rng(0)
    zeros = rng.permutation(np.flatnonzero(labels == 0))
    others = rng.permutation(np.flatnonzero(labels != 0))[:300]
    n_train = int(0.75 * len(zeros))
    test = np.concatenate([zeros[n_train:], others])
    truth = np.r_[np.zeros(len(zeros) - n_train), np.ones(len(others))]
    cls = registry.get(name)
    torch.manual_seed(0)
    model = cls(1, 16, cls.resolve_params({}, "quick"))
    model.fit(images[zeros[:n_train]], seed=0)
    auroc = roc_auc_score(truth, model.infer(images[test]).scores["score"])
    assert auroc > 0.85, auroc


# ---- parameters and registry -------------------------------------------------------------
@pytest.mark.parametrize("name", DEEP)
def test_params_and_presets(name):
    cls = registry.get(name)
    names = {p.name for p in cls.PARAMS}
    assert {"epochs", "batch_size", "lr", "nz", "nf"} <= names
    assert all(p.help for p in cls.PARAMS)
    for preset in ("quick", "paper"):
        values = cls.resolve_params({}, preset)
        assert set(values) == names
    paper = cls.resolve_params({}, "paper")
    assert (paper["nz"], paper["nf"], paper["batch_size"], paper["epochs"], paper["lr"]) == PAPER[name]


# (nz, nf, batch, epochs, lr) of each paper preset, as ../shared/docs/methods.md gives them; where
# a paper is silent on a value, the one the detector's docstring chose.
PAPER = {
    "autoencoder": (100, 64, 64, 15, 2e-4),  # §6: GANomaly's generator, trained alike
    "ganomaly": (100, 64, 64, 15, 2e-4),  # §1
    "skip_ganomaly": (100, 64, 64, 15, 2e-4),  # §2
    "aae_itsr": (2, 64, 64, 1000, 2e-4),  # §3: 2-D latent; epochs = the final retrain phase (MNIST)
    "berg_gan": (512, 64, 64, 100, 1e-3),  # §4: 512-d latent, Adam 1e-3
    "distorter_ae": (100, 64, 64, 15, 2e-4),  # §5: no published settings; GANomaly's
}


@pytest.mark.parametrize(
    "name,bad,word",
    [
        ("autoencoder", {"nz": 0}, "nz"),
        ("autoencoder", {"lr": 5.0}, "lr"),
        ("autoencoder", {"loss": "l3"}, "loss"),
        ("autoencoder", {"batch_size": 1}, "batch_size"),
        ("ganomaly", {"w_con": -1}, "w_con"),
        ("ganomaly", {"nf": 100000}, "nf"),
        ("ganomaly", {"lr": float("nan")}, "lr"),
        ("ganomaly", {"score": "cosine"}, "score"),
        ("ganomaly", {"epochs": "many"}, "epochs"),
        ("ganomaly", {"bogus": 1}, "bogus"),
        ("autoencoder", {"w_adv": 1.0}, "w_adv"),
    ],
)
def test_param_validation(name, bad, word):
    with pytest.raises(ValueError, match=word):
        registry.get(name)(1, 16, bad)


def test_unknown_preset_raises():
    with pytest.raises(ValueError, match="nope"):
        Ganomaly.resolve_params({}, "nope")


def test_registry():
    assert registry.get("autoencoder") is Autoencoder and registry.get("ganomaly") is Ganomaly
    with pytest.raises(ValueError, match="unknown detector 'x'; known: autoencoder, ganomaly"):
        registry.get("x")
    info = json.loads(json.dumps(registry.describe()))
    assert [d["name"] for d in info] == NAMES
    for d in info:
        assert {"name", "title", "summary", "has_reconstruction", "supports_weights", "presets", "params"} <= set(d)
        assert {"quick", "paper"} <= set(d["presets"])
        for p in d["params"]:
            assert set(p) == {"name", "default", "help", "kind", "low", "high", "choices"}
    assert next(d for d in info if d["name"] == "autoencoder")["supports_weights"] is True


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", DEEP)
def test_cuda_bf16(name):
    model = make(name, 3, 32).cuda()
    images = random_images(8, 32, 3)
    losses = model.train_step(to_tensor(images).cuda(), None)
    assert all(torch.isfinite(v) for v in losses.values())
    out = model.infer(images)
    assert out.scores["score"].dtype == np.float32 and np.isfinite(out.scores["score"]).all()
