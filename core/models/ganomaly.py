"""GANomaly: semi-supervised anomaly detection via adversarial training (Akcay et al., arXiv 1805.06725).

What the paper and the authors' code specify (methods.md §1): generator GE → GD → E with
z = GE(x), x̂ = GD(z), ẑ = E(x̂) (paper Fig. 2); discriminator = the encoder with one output,
its penultimate feature map f(·) used for feature matching; generator loss
w_adv·L_adv + w_con·L_con + w_enc·L_enc with weights 1/50/1; discriminator loss
0.5·(BCE(D(x),1) + BCE(D(x̂),0)), D re-initialised when it falls below 1e-5; Adam lr 2e-4,
betas (0.5, 0.999), batch 64, 15 epochs; score A(x) = mean (z − ẑ)² (the paper writes L1, the
code uses squared L2, our default). Comments cite formulas by the paper's names for them
(L_adv, L_con, L_enc, A(x)).
What we chose where they are silent:
- D outputs a logit and the loss is BCE-with-logits (numerically the same as sigmoid + BCE,
  and safe under bf16 autocast); D has no sigmoid layer.
- The feature-matching target f(x) is detached: in the authors' code its gradient reaches only
  D's parameters, which are zeroed before D's own step anyway.
- On re-initialisation D's Adam state is kept, as in the authors' `reinit_d`.
- Besides the score we report its "latent" component and a "recon" component (mean squared
  pixel error) so the two can be compared.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Detector, Param, common_params, dcgan_init
from .layers import Decoder, Encoder


class Ganomaly(Detector):
    """Encoder–decoder–encoder generator with an adversarial discriminator; scores latent mismatch."""

    name = "ganomaly"
    fit_loss = "con"
    title = "GANomaly"
    summary = (
        "An autoencoder trained adversarially that re-encodes its own reconstruction; an image whose "
        "two latent codes disagree is scored as anomalous (Akcay et al., 2018)."
    )
    PARAMS = (
        *common_params(
            lr_help="Adam learning rate of generator and discriminator.",
            nz_help="Size of the latent code z.",
        ),
        Param("w_adv", 1.0, "Weight of the feature-matching (adversarial) loss.", "float", 0.0, 1000.0),
        Param("w_con", 50.0, "Weight of the L1 reconstruction (contextual) loss.", "float", 0.0, 1000.0),
        Param("w_enc", 1.0, "Weight of the latent (encoder) loss ‖z − ẑ‖².", "float", 0.0, 1000.0),
        Param("score", "l2", "Anomaly score: squared (l2, authors' code) or absolute (l1, paper) latent error.", "choice", choices=("l2", "l1")),
    )
    PRESETS = {
        "quick": {"epochs": 20, "batch_size": 32, "nz": 32, "nf": 32},
        "paper": {"epochs": 15, "batch_size": 64, "lr": 2e-4, "nz": 100, "nf": 64},
    }

    def build(self) -> None:
        p, s, c = self.params, self.size, self.channels
        self.ge = Encoder(s, c, p["nz"], p["nf"])
        self.gd = Decoder(s, c, p["nz"], p["nf"])
        self.e = Encoder(s, c, p["nz"], p["nf"])
        self.netd = Encoder(s, c, 1, p["nf"])
        self.apply(dcgan_init)
        gen = [*self.ge.parameters(), *self.gd.parameters(), *self.e.parameters()]
        self.opt_g = torch.optim.Adam(gen, lr=p["lr"], betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.netd.parameters(), lr=p["lr"], betas=(0.5, 0.999))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z = GE(x), x̂ = GD(z), ẑ = E(x̂) (paper Fig. 2)."""
        z = self.ge(x)
        xh = self.gd(z)
        return z, xh, self.e(xh)

    def discriminate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Feature map f(x) (N,·,4,4) and real/fake logit (N,)."""
        f = self.netd.features(x)
        return f, self.netd.final(f).flatten()

    def train_step(self, x: torch.Tensor, w: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """One generator step then one discriminator step, as in the authors' `optimize_params`."""
        p = self.params
        with self.autocast():
            z, xh, zh = self(x)
            f_real, logit_real = self.discriminate(x)
            f_fake, _ = self.discriminate(xh)
        adv = F.mse_loss(f_fake.float(), f_real.detach().float())  # L_adv: feature matching
        con = F.l1_loss(xh.float(), x)  # L_con
        enc = F.mse_loss(zh.float(), z.float())  # L_enc
        g = p["w_adv"] * adv + p["w_con"] * con + p["w_enc"] * enc
        self.opt_g.zero_grad(set_to_none=True)
        g.backward()
        self.opt_g.step()

        with self.autocast():
            _, logit_fake = self.discriminate(xh.detach())
        real = F.binary_cross_entropy_with_logits(logit_real.float(), torch.ones_like(logit_real, dtype=torch.float32))
        fake = F.binary_cross_entropy_with_logits(logit_fake.float(), torch.zeros_like(logit_fake, dtype=torch.float32))
        d = 0.5 * (real + fake)
        self.opt_d.zero_grad(set_to_none=True)  # also drops what g.backward() left in D
        d.backward()
        self.opt_d.step()
        if d.item() < 1e-5:  # D has won outright and gives G no signal: start it afresh
            self.netd.apply(dcgan_init)
        return {"g": g.detach(), "d": d.detach(), "adv": adv.detach(), "con": con.detach(), "enc": enc.detach()}

    def infer_batch(self, x: torch.Tensor):
        """Score A(x) = mean over latent dims of (z − ẑ)² (paper's A(x); squared as in the authors' code) or |z − ẑ|."""
        z, xh, zh = self(x)
        diff = (z.float() - zh.float()).flatten(1)
        latent = (diff.square() if self.params["score"] == "l2" else diff.abs()).mean(1)
        recon = (xh.float() - x.float()).square().flatten(1).mean(1)
        return {"score": latent, "latent": latent, "recon": recon}, z.flatten(1), xh
