"""DCGAN building blocks shared by the detectors, sized to the image.

GANomaly (arXiv 1805.06725, authors' `networks.py`) defines the encoder and decoder for one
size at a time; here the number of stride-2 stages follows the size: 4x4 convolutions halve
the map until it is 4x4, and a final 4x4 convolution with no padding gives a (N, nz, 1, 1)
latent. The decoder mirrors the encoder. Sizes: powers of two from 16 to 128; 1 or 3 channels.
"""
from __future__ import annotations

import math

import torch
from torch import nn

SIZES = (16, 32, 64, 128)


def _halvings(size: int, channels: int) -> int:
    """Number of stride-2 stages from `size` down to a 4x4 map; validates size and channels."""
    if size not in SIZES:
        raise ValueError(f"image size must be one of {', '.join(map(str, SIZES))}, got {size}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    return int(math.log2(size)) - 2


class Encoder(nn.Module):
    """Image (N,C,S,S) → latent (N,nz,1,1); `features` gives the 4x4 map before the last conv."""

    def __init__(self, size: int, channels: int, nz: int, nf: int, extra_layers: int = 0):
        super().__init__()
        n = _halvings(size, channels)
        # As in DCGAN, no BatchNorm on the first layer, which sees the raw image.
        layers: list[nn.Module] = [nn.Conv2d(channels, nf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        for _ in range(extra_layers):
            layers += [nn.Conv2d(nf, nf, 3, 1, 1, bias=False), nn.BatchNorm2d(nf), nn.LeakyReLU(0.2, inplace=True)]
        width = nf
        for _ in range(n - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2, inplace=True)]
            width *= 2
        self.features = nn.Sequential(*layers)
        self.final = nn.Conv2d(width, nz, 4, 1, 0, bias=False)
        self.feature_channels = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final(self.features(x))


class Decoder(nn.Module):
    """Latent (N,nz,1,1) → image (N,C,S,S) in [-1, 1]; the mirror of `Encoder`."""

    def __init__(self, size: int, channels: int, nz: int, nf: int):
        super().__init__()
        n = _halvings(size, channels)
        width = nf * 2 ** (n - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(nz, width, 4, 1, 0, bias=False), nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
