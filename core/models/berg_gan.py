"""GAN with a simultaneously trained encoder (Berg, Ahlberg & Felsberg, arXiv 1905.11034).

What the paper and the authors' code specify (methods.md §4): a WGAN-GP (generator G, critic D)
and an encoder E trained together, every iteration a D step, a G step and an E step. E is
trained ONLY on generated images, with the image-space cycle loss
L_E = mean |G(z) − G(E(G(z)))| (G frozen for that step). That is the point of the paper: E never
sees the real, possibly contaminated, training images, so it cannot learn to encode the
anomalies among them; it can only invert what G learned to produce, and G, fighting a critic,
spends little capacity on a small fraction of odd images. Critic loss D(G(z)) − D(x) + λ·GP +
ε·D(x)² with λ = 10, ε = 0.001 (ProGAN's drift term); generator loss −D(G(z)); training latents
z = 0.1·N(0, I), pixel-normalised at G's input; Adam lr 1e-3, betas (0, 0.99) for all three;
one critic step per G step; latent size 512; batch 64 at 32 px. Scores in their code: the
residual mean |x − G(E(x))| and a critic-feature distance |D(G(E(x))) − D(x)| (D's last feature
map, as AnoGAN's discrimination loss); the paper reports that ‖E(x)‖ also separates anomalies.
What we chose where they are silent or where we simplify:
- No progressive growing: the authors grow ProGAN networks from 4x4; we train DCGAN-size networks
  at the image's resolution from the start (methods.md allows this). No minibatch-stddev layer
  in D, no moving-average copy of G, no equalised learning rate: weights keep the DCGAN init,
  so lr 1e-3 takes relatively larger steps than in ProGAN; it trained stably in our runs
  (digits at 16 and 32 px), and `lr` is exposed.
- G normalises with pixel norm (ProGAN's per-pixel feature normalisation) in place of the
  decoder's BatchNorm, so G(z) of one image never depends on the rest of its batch: the E step
  and inference pass batches through G that differ from the ones it trained on.
- D is our DCGAN encoder with one output and its BatchNorm removed: the gradient penalty is
  defined per sample, and batch statistics would couple the samples (Gulrajani et al. §4).
  The penalty is computed in float32 even under bf16 autocast (a second-order term).
- E is our DCGAN encoder with BatchNorm; it only ever sees generated batches.
- `n_critic` critic steps per iteration (1 in the paper) reuse the iteration's real batch with
  fresh latents; raising it can steady training on tiny data sets.
- Default score "residual+critic" = residual + w_critic·critic with w_critic = 0.1, AnoGAN's
  λ = 0.1 for its discrimination term (the authors' script computes the two terms separately and
  never combines them); critic = mean |D.features(G(E(x))) − D.features(x)| over D's last 4x4
  map. "residual" and "latent_norm" (‖E(x)‖₂) are selectable. With pixel norm at G's input no
  loss fixes the scale of E(x), so ‖E(x)‖ is whatever scale E drifted to: on the digits demo it
  separates far worse than the residual (AUROC ≈ 0.65–0.75 against 1.0).
- "paper" preset: the paper's latent size, learning rate and batch; epochs are our choice (the
  authors train by images shown along a growing schedule, which has no epoch count to copy).
- A GAN needs a number of iterations more than a number of passes: `max_steps` caps training
  at that many batches (fewer epochs on a large set). The quick preset's 1,500 steps leave the
  digits demo (~500 steps in 100 epochs) as it is and keep 5,000 images at 32 px in minutes.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .base import Detector, Param, common_params, dcgan_init
from .layers import Decoder, Encoder

SCORES = ("residual+critic", "residual", "latent_norm")


class PixelNorm(nn.Module):
    """Scale each pixel's feature vector to unit root-mean-square (ProGAN, Karras et al. 2018)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(1, keepdim=True) + 1e-8)


def _replace_batchnorm(module: nn.Module, make) -> None:
    """Swap every BatchNorm2d inside `module` for `make(num_features)`."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, make(child.num_features))
        else:
            _replace_batchnorm(child, make)


@contextmanager
def _frozen(module: nn.Module):
    """No parameter gradients for `module` inside the block (gradients still flow through it)."""
    flags = [q.requires_grad for q in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for q, f in zip(module.parameters(), flags):
            q.requires_grad_(f)


class BergGan(Detector):
    """WGAN-GP plus an encoder trained only on generated images; scores how well G re-draws x from E(x)."""

    name = "berg_gan"
    # The critic's loss: on one batch fitted repeatedly it falls as D meets its gradient penalty
    # and separates real from generated. L_E need not fall in a few steps: its target G(z) moves
    # as G trains ("enc_rel", L_E over the distance between two generated images, tracks E itself).
    fit_loss = "d"
    title = "GAN with simultaneously trained encoder (Berg et al.)"
    summary = (
        "A GAN learns to draw the training images while an encoder learns to invert it from generated "
        "images only, so it never learns the anomalies hidden in the training set; an image the pair "
        "cannot redraw is scored as anomalous (Berg et al., 2019)."
    )
    PARAMS = (
        *common_params(
            epochs=100,
            max_epochs=5000,
            lr=1e-3,
            nz=512,
            lr_help="Adam learning rate of generator, critic and encoder (betas 0, 0.99).",
            nz_help="Size of the latent code z.",
        ),
        Param("max_steps", 0, "Stop after this many batches, even before `epochs` (0 = no cap).", "int", 0, 10_000_000),
        Param("n_critic", 1, "Critic steps per generator and encoder step.", "int", 1, 10),
        Param("lambda_gp", 10.0, "Weight λ of the WGAN-GP gradient penalty.", "float", 0.0, 1000.0),
        Param("drift", 0.001, "Weight of the drift term D(x)² that keeps critic outputs near 0.", "float", 0.0, 1.0),
        Param("z_std", 0.1, "Standard deviation of the training latents z.", "float", 1e-3, 10.0),
        Param("w_critic", 0.1, "Weight of the critic-feature distance in the residual+critic score.", "float", 0.0, 100.0),
        Param("score", "residual+critic", "Anomaly score: residual + critic features, residual alone, or the norm ‖E(x)‖.", "choice", choices=SCORES),
    )
    PRESETS = {
        # quick: 2-core CPU; a 32-d latent, narrow nets and batch 32, so the 16 px digits demo
        # (~130 images, 100 epochs = ~500 iterations) trains in about 15 s.
        "quick": {"epochs": 100, "max_steps": 1500, "batch_size": 32, "nz": 32, "nf": 32, "n_critic": 1},
        "paper": {"epochs": 100, "batch_size": 64, "lr": 1e-3, "nz": 512, "nf": 64, "n_critic": 1},
    }

    def total_epochs(self, n: int) -> int:
        """`epochs`, or fewer when `max_steps` batches are reached first."""
        epochs, cap = int(self.params["epochs"]), int(self.params["max_steps"])
        if not cap:
            return epochs
        return max(1, min(epochs, cap // max(1, math.ceil(n / int(self.params["batch_size"])))))

    def build(self) -> None:
        p, s, c = self.params, self.size, self.channels
        self.generator = Decoder(s, c, p["nz"], p["nf"])
        _replace_batchnorm(self.generator, lambda n: PixelNorm())
        self.critic = Encoder(s, c, 1, p["nf"])
        _replace_batchnorm(self.critic, lambda n: nn.Identity())
        self.encoder = Encoder(s, c, p["nz"], p["nf"])
        self.apply(dcgan_init)
        opt = dict(lr=p["lr"], betas=(0.0, 0.99))
        self.opt_g = torch.optim.Adam(self.generator.parameters(), **opt)
        self.opt_d = torch.optim.Adam(self.critic.parameters(), **opt)
        self.opt_e = torch.optim.Adam(self.encoder.parameters(), **opt)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """G(z): pixel-normalised latent (N,nz) → image."""
        return self.generator(PixelNorm()(z[:, :, None, None]))

    def sample_z(self, n: int, device: torch.device) -> torch.Tensor:
        return self.params["z_std"] * torch.randn(n, self.params["nz"], device=device)

    def gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """WGAN-GP: mean (‖∇D(x̃)‖₂ − 1)² at random interpolates x̃ of real and fake, in float32."""
        a = torch.rand(len(real), 1, 1, 1, device=real.device)
        mix = (real + a * (fake.float() - real)).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.critic(mix).sum(), mix, create_graph=True)
        norm = grad.flatten(1).square().sum(1).add(1e-12).sqrt()  # eps: finite derivative at 0
        return (norm - 1).square().mean()

    def train_step(self, x: torch.Tensor, w: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Critic step(s), generator step, encoder step (the authors' `train_progressive_gan` loop)."""
        p, n = self.params, len(x)
        for _ in range(p["n_critic"]):
            with torch.no_grad(), self.autocast():
                fake = self.generate(self.sample_z(n, x.device))
            with self.autocast():
                d_real, d_fake = self.critic(x).float().flatten(), self.critic(fake).float().flatten()
            gp = self.gradient_penalty(x, fake)
            d = d_fake.mean() - d_real.mean() + p["lambda_gp"] * gp + p["drift"] * d_real.square().mean()
            self.opt_d.zero_grad(set_to_none=True)
            d.backward()
            self.opt_d.step()

        with _frozen(self.critic), self.autocast():
            g = -self.critic(self.generate(self.sample_z(n, x.device))).float().mean()
        self.opt_g.zero_grad(set_to_none=True)
        g.backward()
        self.opt_g.step()

        # L_E on generated images only: x never reaches the encoder during training
        with torch.no_grad(), self.autocast():
            target = self.generate(self.sample_z(n, x.device))
        with _frozen(self.generator), self.autocast():
            cycle = self.generate(self.encoder(target).flatten(1))
        enc = F.l1_loss(cycle.float(), target.float())
        self.opt_e.zero_grad(set_to_none=True)
        enc.backward()
        self.opt_e.step()
        with torch.no_grad():  # L_E relative to the distance between two generated images
            enc_rel = enc / (target - target.roll(1, 0)).float().abs().mean().clamp(min=1e-8)
        wdist = (d_real.mean() - d_fake.mean()).detach()
        return {"d": d.detach(), "g": g.detach(), "enc": enc.detach(), "enc_rel": enc_rel, "gp": gp.detach(), "wdist": wdist}

    def infer_batch(self, x: torch.Tensor):
        """Scores per `score` (residual + w·critic, residual, or ‖E(x)‖); latent = E(x); reconstruction = G(E(x))."""
        p = self.params
        z = self.encoder(x).flatten(1)
        xr = self.generate(z)
        residual = (x.float() - xr.float()).abs().flatten(1).mean(1)
        critic = (self.critic.features(xr).float() - self.critic.features(x).float()).abs().flatten(1).mean(1)
        latent_norm = z.float().norm(dim=1)
        score = {"residual+critic": residual + p["w_critic"] * critic, "residual": residual, "latent_norm": latent_norm}[p["score"]]
        return {"score": score, "residual": residual, "critic": critic, "latent_norm": latent_norm}, z, xr
