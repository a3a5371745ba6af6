"""Autoencoder with an adversarial latent distorter (Khazaie et al., arXiv 2207.01106).

What the paper specifies (abstract only, methods.md §5): two players, an Adversarial Distorter
(a convolutional encoder mapping the image to a perturbation of the autoencoder's latent) and a
deep convolutional autoencoder that must reconstruct the image from the perturbed latent; a
min-max game on reconstruction error (distorter maximises, autoencoder minimises); score = the
reconstruction error of the unperturbed autoencoder. No code, numbers or hyperparameters are
available to us: this is the one detector whose design we complete ourselves. Our design:

- Networks: the house DCGAN encoder E and decoder G (layers.py, as the baseline autoencoder);
  the distorter A is another layers.Encoder of the same width with its own weights. DCGAN init.
- Bounded perturbation, a norm budget relative to the code: with u = A(x) and z = E(x),
      δ = ε · ‖z‖ · tanh(‖u‖) · u / ‖u‖,   so  ‖δ‖ < ε‖z‖  (ε = param `eps`).
  Relative to ‖z‖ because the decoder's first BatchNorm removes the code's overall scale: an
  absolute budget could be escaped by growing z. tanh lets A choose less than the full budget
  and starts the game gently (A's initial outputs are small).
- Objective, per batch (one step each, distorter first so the autoencoder answers the current
  adversary); r(a, b) = mean squared pixel error per image:
      distorter:    max_A  Σ w⁺_i · r(x_i, G(z_i + δ_i)) / Σ w⁺_i        (E, G fixed; z detached)
      autoencoder:  min_{E,G}  L(r(x, G(z))) + w_pert · L(r(x, G(z + sg(δ))))
  where L is the weighted mean Σ w_i·r_i / Σ |w_i| (a negatively weighted image's r clamped at
  `neg_cap`, as in the baseline) and sg(δ) is δ recomputed by the updated distorter and
  detached: the autoencoder cannot change the adversary's move, only answer it. w⁺ = max(w, 0).
  The distorter's reported loss "dist" is the negative of what it maximises.
- Decodes of perturbed codes use batch statistics but do not update the decoder's BatchNorm
  running statistics (momentum 0 during those passes): scoring runs clean codes in eval mode,
  so the running statistics are kept to the clean codes.
- Adam, lr 2e-4, betas (0.5, 0.999), for both players, and the paper preset's sizes (nz 100, nf
  64, batch 64, 15 epochs) are GANomaly's (methods.md §1), so the comparison with the GANomaly
  family and the baseline autoencoder is like for like.
- Score "score": mean squared pixel error of G(E(x)); latent = E(x); reconstruction = G(E(x)).
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from .base import Detector, Param, common_params, dcgan_init
from .layers import Decoder, Encoder


@contextmanager
def keep_running_stats(module: nn.Module):
    """BatchNorm layers in `module` normalise with batch statistics but leave their running
    statistics unchanged (momentum 0) inside the block."""
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom


def _per_image(xh: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (xh.float() - x.float()).square().flatten(1).mean(1)


class DistorterAe(Detector):
    """Convolutional autoencoder trained against an adversary that perturbs its latent code."""

    name = "distorter_ae"
    title = "Autoencoder with adversarial latent distorter (Khazaie et al.)"
    summary = (
        "An autoencoder that must still rebuild normal images when an adversary nudges its internal code, "
        "which makes it rebuild only what looks normal; an image it rebuilds badly is scored as anomalous."
    )
    fit_loss = "rec"
    supports_weights = True
    PARAMS = (
        *common_params(
            lr_help="Adam learning rate of the autoencoder and the distorter.",
            nf_help="Width (channels) of the first convolution; doubles per stage (all three networks).",
        ),
        Param("eps", 0.3, "Distortion budget ε: the perturbation's norm is below ε times the code's norm.", "float", 0.0, 2.0),
        Param("w_pert", 1.0, "Weight of the reconstruction error from the perturbed code in the autoencoder's loss.", "float", 0.0, 100.0),
        Param("neg_cap", 1.0, "Per-image loss above which a negatively weighted image stops pushing its error up.", "float", 0.0, 10.0),
    )
    PRESETS = {
        # Digits demo on 2 CPU cores: the baseline autoencoder's quick sizes (each step costs
        # about 2.5 autoencoder steps: 3 decodes and 2 distorter passes).
        "quick": {"epochs": 20, "batch_size": 32, "nz": 32, "nf": 32},
        # No published settings: GANomaly's (methods.md §1), as the baseline autoencoder uses.
        "paper": {"epochs": 15, "batch_size": 64, "lr": 2e-4, "nz": 100, "nf": 64},
    }

    def build(self) -> None:
        p, s, c = self.params, self.size, self.channels
        self.encoder = Encoder(s, c, p["nz"], p["nf"])
        self.decoder = Decoder(s, c, p["nz"], p["nf"])
        self.distorter = Encoder(s, c, p["nz"], p["nf"])
        self.apply(dcgan_init)
        betas = (0.5, 0.999)
        self.opt_ae = torch.optim.Adam([*self.encoder.parameters(), *self.decoder.parameters()], lr=p["lr"], betas=betas)
        self.opt_dist = torch.optim.Adam(self.distorter.parameters(), lr=p["lr"], betas=betas)

    def perturb(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """δ = ε·‖z‖·tanh(‖u‖)·u/‖u‖ with u = distorter(x): shaped like z, ‖δ‖ < ε‖z‖ per image."""
        u = self.distorter(x).float().flatten(1)
        un = u.norm(dim=1, keepdim=True).clamp(min=1e-12)
        zn = z.float().flatten(1).norm(dim=1, keepdim=True)
        return (self.params["eps"] * zn * torch.tanh(un) * u / un).view(z.shape)

    def decode_perturbed(self, z: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """G(z + δ), leaving the decoder's BatchNorm running statistics to the clean codes."""
        with keep_running_stats(self.decoder):
            return self.decoder(z + delta)

    def distorter_step(self, x: torch.Tensor, z: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        """One Adam step of the distorter up the (weighted) perturbed reconstruction error, with
        E and G fixed; `z` = E(x) (detached here). Returns the loss it minimised, −error."""
        z = z.detach()
        with self.autocast():
            xp = self.decode_perturbed(z, self.perturb(x, z))
        per = _per_image(xp, x)
        if w is None:
            err = per.mean()
        else:
            wp = w.clamp(min=0)
            err = (wp * per).sum() / wp.sum().clamp(min=1e-8)
        loss = -err
        self.opt_dist.zero_grad(set_to_none=True)
        loss.backward(inputs=list(self.distorter.parameters()))
        self.opt_dist.step()
        return loss.detach()

    def train_step(self, x: torch.Tensor, w: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Distorter step (maximise perturbed error), then autoencoder step (minimise clean + perturbed)."""
        if w is not None:
            w = w.to(x.device, torch.float32)
        with self.autocast():
            z = self.encoder(x)
        dist = self.distorter_step(x, z, w)
        with torch.no_grad(), self.autocast():
            delta = self.perturb(x, z.detach())
        with self.autocast():
            xh = self.decoder(z)
            xp = self.decode_perturbed(z, delta)
        per, per_p = _per_image(xh, x), _per_image(xp, x)
        if w is None:
            rec, rec_p = per.mean(), per_p.mean()
        else:
            cap, norm = self.params["neg_cap"], w.abs().sum().clamp(min=1e-8)
            rec = (w * torch.where(w < 0, per.clamp(max=cap), per)).sum() / norm
            rec_p = (w * torch.where(w < 0, per_p.clamp(max=cap), per_p)).sum() / norm
        loss = rec + self.params["w_pert"] * rec_p
        self.opt_ae.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_ae.step()
        return {"loss": loss.detach(), "rec": rec.detach(), "rec_pert": rec_p.detach(), "dist": dist}

    def infer_batch(self, x: torch.Tensor):
        """Score = mean squared pixel error of the unperturbed autoencoder; latent = z; recon = G(z)."""
        z = self.encoder(x)
        xh = self.decoder(z)
        return {"score": _per_image(xh, x)}, z.flatten(1), xh
