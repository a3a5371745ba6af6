"""The one interface every detector implements, and the training loop they share.

A detector is a `torch.nn.Module` holding its networks. Subclasses define `build`,
`train_step` and `infer_batch`; this base class owns batching, seeding, device placement,
mixed precision, progress reports and cancellation, so a model file holds only what its
paper specifies.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np
import torch
from torch import nn


class Cancelled(Exception):
    """Raised inside `fit` when the caller's cancel check says stop."""


class Diverged(Exception):
    """Raised inside `fit` when a training loss becomes NaN or infinite."""


@dataclass(frozen=True)
class Param:
    """One hyperparameter as the Train page and the CLI show it."""

    name: str
    default: Any
    help: str
    kind: str = "float"  # "int" | "float" | "bool" | "choice"
    low: float | None = None
    high: float | None = None
    choices: tuple = ()

    def check(self, value: Any) -> Any:
        """Coerce `value` to this parameter's type, raising ValueError naming the problem."""
        if self.kind == "bool":
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"{self.name} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
            return value
        try:
            value = int(value) if self.kind == "int" else float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name} must be a number, got {value!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"{self.name} must be finite, got {value}")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ValueError(f"{self.name} must be between {self.low} and {self.high}, got {value}")
        return value


def common_params(
    *,
    epochs: int = 15,
    max_epochs: int = 1000,
    lr: float = 2e-4,
    nz: int = 100,
    nf: int = 64,
    epochs_help: str = "Passes over the training set.",
    lr_help: str = "Adam learning rate.",
    nz_help: str = "Size of the latent code.",
    nf_help: str = "Width (channels) of the first convolution; doubles per stage.",
) -> tuple[Param, ...]:
    """epochs, batch_size, lr, nz and nf: the hyperparameters every detector has, with its defaults."""
    return (
        Param("epochs", epochs, epochs_help, "int", 1, max_epochs),
        Param("batch_size", 64, "Images per optimisation step.", "int", 2, 1024),
        Param("lr", lr, lr_help, "float", 1e-6, 1e-1),
        Param("nz", nz, nz_help, "int", 1, 1024),
        Param("nf", nf, nf_help, "int", 4, 256),
    )


@dataclass
class Inference:
    """What a detector says about a batch of images."""

    scores: dict[str, np.ndarray]  # "score" first, then named components; float32 (N,)
    latent: np.ndarray  # float32 (N, d)
    recon: np.ndarray | None  # uint8 (N, H, W, C), or None when the method has none


@dataclass
class Progress:
    """A progress report from `fit`."""

    epoch: int
    epochs: int
    step: int
    steps: int
    losses: dict[str, float] = field(default_factory=dict)
    images_per_s: float = 0.0
    eta_s: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class FitLoop:
    """State one call of `fit` shares across its training phases: the epoch count the progress
    reports show (epoch k of `epochs`, over all phases), the clock, the shuffling generator and
    the cancel check."""

    epochs: int  # total over all phases, as Progress.epochs
    progress: Callable[[Progress], None] | None = None
    should_stop: Callable[[], bool] | None = None
    report_every_s: float = 0.5
    gen: torch.Generator = field(default_factory=torch.Generator)
    epoch: int = 0  # epochs started so far
    done: int = 0  # images trained on so far
    start: float = field(default_factory=time.monotonic)
    last_report: float = 0.0
    after_epoch: Callable[[int], None] | None = None  # e.g. write a checkpoint

    def check_stop(self) -> None:
        """Raise `Cancelled` if the caller asked to stop."""
        if self.should_stop is not None and self.should_stop():
            raise Cancelled()


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N,H,W,C) → float32 (N,C,H,W) scaled to [-1, 1] (the decoders end in tanh)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return x.div_(127.5).sub_(1.0)


def to_images(x: torch.Tensor) -> np.ndarray:
    """float (N,C,H,W) in [-1, 1] → uint8 (N,H,W,C)."""
    x = x.detach().float().clamp(-1, 1).add(1).mul(127.5).round()
    return x.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def dcgan_init(module: nn.Module) -> None:
    """DCGAN weight init: conv N(0, 0.02), BatchNorm weight N(1, 0.02) and bias 0 (use with `.apply`)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Detector(nn.Module):
    """Base class of all detectors: `fit`, `infer`; subclasses supply the method itself."""

    name: ClassVar[str]
    title: ClassVar[str]
    summary: ClassVar[str]
    PARAMS: ClassVar[tuple[Param, ...]]
    # Preset name → overrides of PARAMS defaults. "quick" is sized for a 2-core CPU,
    # "paper" uses the paper's settings.
    PRESETS: ClassVar[dict[str, dict[str, Any]]]
    has_reconstruction: ClassVar[bool] = True
    supports_weights: ClassVar[bool] = False
    # The loss in `train_step`'s dict that must fall when one batch is fitted repeatedly.
    fit_loss: ClassVar[str] = "loss"
    # False for methods fitted in one go (no epochs, no `train_step`), e.g. the pixel baselines.
    deep: ClassVar[bool] = True
    # Buffers whose size comes from the training data: a checkpoint's shape replaces the empty one.
    data_buffers: ClassVar[tuple[str, ...]] = ()
    # Whether `fit` can checkpoint each epoch and resume from one (methods trained in phases with
    # their own `fit`, and one-go fits, cannot).
    resumable: ClassVar[bool] = True
    # Whether the method models the normal images as one cluster, so that several normal classes
    # break it (the Train page says so when an experiment has several).
    one_normal_class: ClassVar[bool] = False

    def __init__(self, channels: int, size: int, params: dict[str, Any] | None = None):
        super().__init__()
        self.channels, self.size = int(channels), int(size)
        self.params = self.resolve_params(params or {})
        self.build()

    # ---- what subclasses define -------------------------------------------------------
    def build(self) -> None:
        """Create networks and optimisers from `self.params`, `self.channels`, `self.size`."""
        raise NotImplementedError

    def train_step(self, x: torch.Tensor, w: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """One optimisation step on batch `x` (weights `w` or None); returns detached losses."""
        raise NotImplementedError

    def infer_batch(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None]:
        """Scores (dict, "score" first), latent (N,d) and reconstruction (N,C,H,W) or None."""
        raise NotImplementedError

    # ---- shared machinery -------------------------------------------------------------
    @classmethod
    def resolve_params(cls, given: dict[str, Any], preset: str | None = None) -> dict[str, Any]:
        """Defaults, then the preset's overrides, then `given`; unknown names are an error."""
        known = {p.name: p for p in cls.PARAMS}
        unknown = set(given) - set(known)
        if unknown:
            raise ValueError(f"{cls.name} has no hyperparameter {', '.join(sorted(unknown))}")
        if preset is not None and preset not in cls.PRESETS:
            raise ValueError(f"{cls.name} has no preset {preset!r} (has {', '.join(cls.PRESETS)})")
        values = {p.name: p.default for p in cls.PARAMS}
        values.update(cls.PRESETS.get(preset, {}) if preset else {})
        values.update(given)
        return {name: known[name].check(v) for name, v in values.items()}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in self.data_buffers:
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name], device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def device(self) -> torch.device:
        return next(iter([*self.parameters(), *self.buffers()])).device

    def autocast(self):
        """bf16 autocast on CUDA (no loss scaler needed); full float32 on CPU."""
        kind = self.device.type
        return torch.autocast(kind, dtype=torch.bfloat16, enabled=kind == "cuda")

    def fit(
        self,
        images: np.ndarray,
        *,
        weights: np.ndarray | None = None,
        progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        seed: int = 0,
        report_every_s: float = 0.5,
        checkpoint: Callable[[dict], None] | None = None,
        resume: dict | None = None,
    ) -> None:
        """Train on uint8 images (N,H,W,C) for `params['epochs']` epochs, in batches of `params['batch_size']`.

        `checkpoint` receives `training_state()` after every epoch; `resume` (one such state)
        continues from it, giving the same weights as an uninterrupted run on the same device."""
        torch.manual_seed(seed)
        x_all = to_tensor(images)
        w_all = None if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        epochs = self.total_epochs(len(x_all))
        loop = FitLoop(epochs, progress, should_stop, report_every_s, torch.Generator().manual_seed(seed))
        if checkpoint is not None:
            loop.after_epoch = lambda _epoch: checkpoint(self.training_state(loop))
        self.on_fit_start(len(x_all))
        if resume is not None:
            self.load_training_state(resume, loop)
        self.run_epochs(x_all, w_all, epochs - loop.epoch, loop)

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {k: v for k, v in vars(self).items() if isinstance(v, torch.optim.Optimizer)}

    def training_state(self, loop: "FitLoop") -> dict:
        """Everything `fit` needs to go on after the epochs done so far: weights, optimisers, RNGs."""
        return {
            "epoch": loop.epoch,
            "done": loop.done,
            "model": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()},
            "optimizers": {k: opt.state_dict() for k, opt in self._optimizers().items()},
            "shuffle_rng": loop.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if self.device.type == "cuda" else torch.zeros(0, dtype=torch.uint8),
        }

    def load_training_state(self, state: dict, loop: "FitLoop") -> None:
        """Restore a `training_state` into this model and `loop`."""
        if not self.resumable:
            raise TypeError(f"{self.name} cannot resume from a checkpoint")
        self.load_state_dict(state["model"])
        for name, opt in self._optimizers().items():
            opt.load_state_dict(state["optimizers"][name])
        loop.gen.set_state(state["shuffle_rng"])
        torch.set_rng_state(state["torch_rng"])
        if self.device.type == "cuda" and len(state["cuda_rng"]):
            torch.cuda.set_rng_state(state["cuda_rng"])
        loop.epoch, loop.done = int(state["epoch"]), int(state["done"])

    def total_epochs(self, n: int) -> int:
        """Epochs `fit` runs in all on `n` images (a method trained in phases counts every phase)."""
        return int(self.params["epochs"])

    def run_epochs(self, x_all: torch.Tensor, w_all: torch.Tensor | None, epochs: int, loop: "FitLoop") -> None:
        """Train `epochs` more epochs on `x_all` (float, from `to_tensor`), continuing `loop`'s epoch
        count, clock and cancellation. `fit` calls it once; a method trained in phases overrides
        `fit` and calls it once per phase with one shared `FitLoop`."""
        n, bs = len(x_all), int(self.params["batch_size"])
        # drop a last batch of 1: BatchNorm cannot train on it
        steps = max(1, n // bs + (1 if n % bs > 1 else 0))
        dev = self.device
        for _ in range(epochs):
            loop.epoch += 1
            epoch = loop.epoch
            self.train()
            order = torch.randperm(n, generator=loop.gen)
            for step in range(steps):
                loop.check_stop()
                idx = order[step * bs : (step + 1) * bs]
                xb = x_all[idx].to(dev, non_blocking=True)
                wb = None if w_all is None else w_all[idx].to(dev, non_blocking=True)
                losses = self.train_step(xb, wb)
                loop.done += len(idx)
                now = time.monotonic()
                if now - loop.last_report >= loop.report_every_s or step == steps - 1:
                    values = {k: float(v) for k, v in losses.items()}
                    bad = [k for k, v in values.items() if not math.isfinite(v)]
                    if bad:
                        raise Diverged(f"loss {bad[0]} became {values[bad[0]]} at epoch {epoch}")
                    if loop.progress is not None:
                        elapsed = now - loop.start
                        rate = loop.done / elapsed if elapsed > 0 else 0.0
                        remaining = (loop.epochs * steps - ((epoch - 1) * steps + step + 1)) * bs
                        loop.progress(Progress(epoch, loop.epochs, step + 1, steps, values, rate, remaining / rate if rate else 0.0))
                    loop.last_report = now
            self.on_epoch_end(epoch)
            if loop.after_epoch is not None:
                loop.after_epoch(epoch)

    def artifacts(self) -> dict[str, np.ndarray]:
        """Per-training-sample arrays the method produced while fitting (e.g. ITSR's set-aside
        step), aligned with the images given to `fit`; saved with the run."""
        return {}

    def on_fit_start(self, n: int) -> None:
        """Hook before the first epoch (e.g. schedulers that need the dataset size)."""

    def on_epoch_end(self, epoch: int) -> None:
        """Hook after each epoch."""

    @torch.no_grad()
    def infer(self, images: np.ndarray, batch_size: int = 256) -> Inference:
        """Scores, latents and reconstructions for uint8 images (N,H,W,C), in batches."""
        self.eval()
        parts: list[tuple[dict, torch.Tensor, torch.Tensor | None]] = []
        for i in range(0, len(images), batch_size):
            x = to_tensor(images[i : i + batch_size]).to(self.device)
            # Full precision, no autocast: scores are small differences between network outputs
            # (e.g. GANomaly's z − ẑ), which bf16's 8-bit mantissa would quantise.
            scores, latent, recon = self.infer_batch(x)
            parts.append(
                (
                    {k: v.float().cpu() for k, v in scores.items()},
                    latent.float().reshape(len(x), -1).cpu(),
                    None if recon is None else torch.from_numpy(to_images(recon)),
                )
            )
        names = list(parts[0][0]) if parts else ["score"]
        scores = {k: torch.cat([p[0][k] for p in parts]).numpy().astype(np.float32) for k in names} if parts else {"score": np.zeros(0, np.float32)}
        latent = torch.cat([p[1] for p in parts]).numpy() if parts else np.zeros((0, 1), np.float32)
        recon = None
        if self.has_reconstruction and parts:
            recon = torch.cat([p[2] for p in parts]).numpy()
        return Inference(scores, latent, recon)
