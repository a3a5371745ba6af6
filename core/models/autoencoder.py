"""Baseline convolutional autoencoder (methods.md §6).

What the papers specify: the generator encoder and decoder of GANomaly (arXiv 1805.06725),
trained with an L1 or L2 reconstruction loss only; the anomaly score is the reconstruction
error. What we chose where they are silent:
- Optimiser as GANomaly's: Adam, lr 2e-4, betas (0.5, 0.999), so the two compare fairly.
- The score is always the mean squared pixel error, whichever loss trains the network.
- Per-sample weights w (used by training-set refinement): loss = Σ w_i·ℓ_i / Σ |w_i|. A negative
  weight asks for a larger error on that image; left alone that term is unbounded (the decoder
  can always get worse), so a negatively weighted image's loss is clamped at `neg_cap`: past
  that error it stops contributing gradient.
"""
from __future__ import annotations

import torch

from .base import Detector, Param, common_params, dcgan_init
from .layers import Decoder, Encoder


class Autoencoder(Detector):
    """GANomaly's generator encoder and decoder trained on reconstruction alone."""

    name = "autoencoder"
    title = "Convolutional autoencoder (baseline)"
    summary = (
        "Learns to compress and rebuild normal images; an image it rebuilds badly is scored as anomalous. "
        "The reference baseline the GAN-based methods are compared against."
    )
    PARAMS = (
        *common_params(),
        Param("loss", "l2", "Reconstruction loss: l1 (absolute) or l2 (squared) pixel error.", "choice", choices=("l1", "l2")),
        Param("neg_cap", 1.0, "Per-image loss above which a negatively weighted image stops pushing its error up.", "float", 0.0, 10.0),
    )
    PRESETS = {
        "quick": {"epochs": 20, "batch_size": 32, "nz": 32, "nf": 32},
        "paper": {"epochs": 15, "batch_size": 64, "lr": 2e-4, "nz": 100, "nf": 64},
    }
    supports_weights = True

    def build(self) -> None:
        p = self.params
        self.encoder = Encoder(self.size, self.channels, p["nz"], p["nf"])
        self.decoder = Decoder(self.size, self.channels, p["nz"], p["nf"])
        self.apply(dcgan_init)
        self.opt = torch.optim.Adam(self.parameters(), lr=p["lr"], betas=(0.5, 0.999))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent z = E(x) and reconstruction x̂ = D(z)."""
        z = self.encoder(x)
        return z, self.decoder(z)

    def train_step(self, x: torch.Tensor, w: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """One Adam step on the (weighted) mean per-image reconstruction loss."""
        with self.autocast():
            _, xh = self(x)
        err = (xh.float() - x).flatten(1)
        per = (err.abs() if self.params["loss"] == "l1" else err.square()).mean(1)
        if w is None:
            loss = per.mean()
        else:
            w = w.to(per.dtype)
            per = torch.where(w < 0, per.clamp(max=self.params["neg_cap"]), per)
            loss = (w * per).sum() / w.abs().sum().clamp(min=1e-8)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": loss.detach()}

    def infer_batch(self, x: torch.Tensor):
        """Score = mean squared pixel error per image; latent = z; reconstruction = x̂."""
        z, xh = self(x)
        score = (xh.float() - x.float()).square().flatten(1).mean(1)
        return {"score": score}, z.flatten(1), xh
