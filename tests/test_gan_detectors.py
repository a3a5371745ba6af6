"""Skip-GANomaly and Berg et al.'s GAN: what each method specifies beyond the shared detector contract."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.models.base import to_tensor
from core.models.berg_gan import BergGan
from core.models.skip_ganomaly import SkipGanomaly, UNet

SMALL = {"nz": 8, "nf": 8, "batch_size": 8, "epochs": 1}


def images(n: int, size: int = 16, channels: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels), dtype=np.uint8)


def skip(size: int = 16, **params) -> SkipGanomaly:
    torch.manual_seed(0)
    return SkipGanomaly(1, size, {**SMALL, **params})


def berg(size: int = 16, **params) -> BergGan:
    torch.manual_seed(0)
    return BergGan(1, size, {**SMALL, **params})


# ---- Skip-GANomaly -----------------------------------------------------------------------
def test_unet_widths_at_32px():
    net = UNet(32, 3, 64)
    downs = [m for m in net.downs.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in downs] == [64, 128, 256, 512, 512]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.downs.modules()) == 3  # not on the outermost or 1x1 stage
    ups = [m for m in net.ups.modules() if isinstance(m, nn.ConvTranspose2d)]
    # every up-conv after the bottleneck reads a skip concatenated onto the upsampled map
    assert [m.in_channels for m in ups] == [512, 1024, 512, 256, 128]
    assert ups[-1].out_channels == 3


def test_unet_concatenates_at_every_scale(monkeypatch):
    net = UNet(32, 1, 8).eval()
    seen, cat = [], torch.cat

    def counting_cat(tensors, dim=0):
        seen.append(tuple(t.shape[-1] for t in tensors))
        return cat(tensors, dim)

    monkeypatch.setattr(torch, "cat", counting_cat)
    net(torch.randn(2, 1, 32, 32))
    assert seen == [(2, 2), (4, 4), (8, 8), (16, 16)]


def test_every_skip_carries_the_input():
    net = UNet(32, 1, 8).eval()
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        ref = net(x)
        for up in net.ups[1:]:
            half = up[1].in_channels // 2

            def drop_skip(module, args, half=half):
                (h,) = args
                return (torch.cat([torch.zeros_like(h[:, :half]), h[:, half:]], 1),)

            handle = up.register_forward_pre_hook(drop_skip)
            assert not torch.allclose(net(x), ref), "a skip connection does not reach the output"
            handle.remove()
        # with the 1x1 bottleneck cut, a small shallow perturbation still reaches the output
        handle = net.downs[-1].register_forward_hook(lambda m, a, out: torch.zeros_like(out))
        base = net(x)
        bumped = x.clone()
        bumped[:, :, 4:8, 4:8] += 0.5
        changed = (net(bumped) - base).abs()
        handle.remove()
    assert changed.max() > 1e-4


@pytest.mark.parametrize("size", [16, 64])
def test_unet_sizes(size):
    net = UNet(size, 3, 4)
    assert len(net.downs) == int(np.log2(size))
    assert net(torch.randn(2, 3, size, size)).shape == (2, 3, size, size)


def test_skip_score_is_lambda_mix():
    model = skip(lam=0.7)
    x = images(6)
    model.train_step(to_tensor(x), None)
    out = model.infer(x)
    assert list(out.scores) == ["score", "recon", "latent"]
    s = out.scores
    np.testing.assert_allclose(s["score"], 0.7 * s["recon"] + 0.3 * s["latent"], rtol=1e-5, atol=1e-7)
    assert not np.allclose(s["recon"], s["latent"])
    model.params["lam"] = 1.0
    np.testing.assert_allclose(model.infer(x).scores["score"], s["recon"], rtol=1e-6)


def test_skip_latent_is_discriminator_feature():
    model = skip().eval()
    x = images(4)
    out = model.infer(x)
    with torch.no_grad():
        f, _ = model.discriminate(to_tensor(x))
    np.testing.assert_allclose(out.latent, f.numpy(), rtol=1e-6)


def test_skip_losses_and_d_reinit(monkeypatch):
    model = skip()
    x = to_tensor(images(8))
    losses = model.train_step(x, None)
    assert set(losses) == {"g", "d", "adv", "con", "lat"}
    assert all(torch.isfinite(v) for v in losses.values())
    # a collapsed D loss (< 1e-5) re-initialises the discriminator
    before = model.netd.final.weight.clone()
    bce = F.binary_cross_entropy_with_logits
    monkeypatch.setattr(F, "binary_cross_entropy_with_logits", lambda a, b: bce(a, b) * 1e-9)
    model.train_step(x, None)
    after = model.netd.final.weight
    assert not torch.allclose(before, after, atol=1e-3) and abs(after.std().item() - 0.02) < 0.005


# ---- Berg et al. -------------------------------------------------------------------------
def test_berg_encoder_never_sees_real_images():
    model = berg()
    x = to_tensor(images(8))
    generated, encoded = [], []
    h1 = model.generator.register_forward_hook(lambda m, a, out: generated.append(out))
    h2 = model.encoder.register_forward_pre_hook(lambda m, args: encoded.append(args[0]))
    for _ in range(3):
        model.train_step(x, None)
    h1.remove()
    h2.remove()
    assert len(encoded) == 3
    for e in encoded:
        assert any(e is g for g in generated), "the encoder was given something G did not produce"
        assert not torch.allclose(e, x)
    # G was frozen only for the encoder step
    assert all(q.requires_grad for q in model.parameters())


def test_berg_gradient_penalty():
    model = berg()
    losses = model.train_step(to_tensor(images(8)), None)
    assert {"d", "g", "enc", "enc_rel", "gp", "wdist"} <= set(losses)
    assert torch.isfinite(losses["gp"]) and losses["gp"] > 0

    class Linear(nn.Module):  # D(x) = <c, x> with ‖c‖ = 3: gradient norm 3 everywhere, penalty (3 − 1)²
        def __init__(self):
            super().__init__()
            self.c = nn.Parameter(torch.randn(1, 1, 16, 16))
            with torch.no_grad():
                self.c.mul_(3 / self.c.norm())

        def forward(self, x):
            return (x * self.c).sum((1, 2, 3))

    model.critic = Linear()
    gp = model.gradient_penalty(torch.randn(5, 1, 16, 16), torch.randn(5, 1, 16, 16))
    assert abs(gp.item() - 4.0) < 1e-4
    assert gp.requires_grad  # it trains the critic: second-order gradient kept


def test_berg_networks():
    model = berg(32)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.critic.modules())  # WGAN-GP critic
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.generator.modules())  # pixel norm instead
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.encoder.modules())
    z = torch.randn(3, 8)
    # pixel norm at G's input: the scale of z does not matter
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model.generate(z), model.generate(0.1 * z), atol=1e-5)


def test_berg_critic_steps(monkeypatch):
    model = berg(n_critic=3)
    counts = {"d": 0, "g": 0, "e": 0}

    def counted(key, step):
        def wrapper(*args, **kwargs):
            counts[key] += 1
            return step(*args, **kwargs)

        return wrapper

    for key in counts:
        opt = getattr(model, f"opt_{key}")
        monkeypatch.setattr(opt, "step", counted(key, opt.step))
    model.train_step(to_tensor(images(8)), None)
    assert counts == {"d": 3, "g": 1, "e": 1}


def test_berg_score_choices():
    model = berg(w_critic=0.5)
    x = images(6)
    model.train_step(to_tensor(x), None)
    out = model.infer(x)
    s = out.scores
    assert list(s) == ["score", "residual", "critic", "latent_norm"]
    np.testing.assert_allclose(s["score"], s["residual"] + 0.5 * s["critic"], rtol=1e-5)
    np.testing.assert_allclose(s["latent_norm"], np.linalg.norm(out.latent, axis=1), rtol=1e-5)
    for choice in ("residual", "latent_norm"):
        model.params["score"] = choice
        np.testing.assert_array_equal(model.infer(x).scores["score"], s[choice])
    with pytest.raises(ValueError, match="score"):
        berg(score="critic")


def test_berg_step_budget_caps_epochs_on_large_sets_only():
    from core.models.berg_gan import BergGan

    quick = BergGan(1, 16, BergGan.resolve_params({}, "quick"))
    assert quick.total_epochs(132) == 100  # digits: 5 batches an epoch, 500 steps < 1,500
    assert quick.total_epochs(5000) == 1500 // 157
    assert BergGan(1, 16, BergGan.resolve_params({"max_steps": 0}, "quick")).total_epochs(5000) == 100
