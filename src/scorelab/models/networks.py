"""Small denoiser networks F(c_in·x, c_noise) for EDM preconditioning (:mod:`.edm`).

* :class:`MLPNet` — residual MLP for low-dimensional data (2-D toys), noise level through random
  Fourier features of c_noise;
* :class:`UNetNet` — diffusers' ``UNet2DModel`` with a tiny configuration for 8×8 images. Its
  sinusoidal time embedding is designed for DDPM timesteps in [0, 1000], so c_noise = ln(σ)/4 is
  mapped affinely onto that range over σ ∈ [0.002, 80] (EDM's range).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["ARCHITECTURES", "MLPNet", "UNetNet", "build_network"]

ARCHITECTURES = ("mlp", "unet")


class MLPNet(nn.Module):
    """Residual MLP: x (B, d), c_noise (B,) → (B, d)."""

    def __init__(self, dim: int, hidden: int = 128, depth: int = 3, fourier: int = 16) -> None:
        super().__init__()
        self.register_buffer("freqs", torch.randn(fourier) * 4.0)
        self.embed = nn.Sequential(nn.Linear(2 * fourier, hidden), nn.SiLU())
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
            )
            for _ in range(depth)
        )
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        phase = 2 * math.pi * c_noise[:, None] * self.freqs[None]
        h = self.inp(x.flatten(1)) + self.embed(torch.cat([phase.cos(), phase.sin()], 1))
        for block in self.blocks:
            h = h + block(h)
        return self.out(h).reshape(x.shape)


class UNetNet(nn.Module):
    """diffusers ``UNet2DModel`` (no attention, two resolutions): x (B, C, H, W), c_noise (B,)."""

    C_LO = math.log(0.002) / 4
    C_HI = math.log(80.0) / 4

    def __init__(
        self,
        image_size: int = 8,
        channels: int = 1,
        widths: tuple[int, ...] = (16, 32),
        layers_per_block: int = 1,
    ) -> None:
        super().__init__()
        try:
            from diffusers import UNet2DModel
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("the U-Net needs diffusers (pip install diffusers)") from err
        self.unet = UNet2DModel(
            sample_size=image_size,
            in_channels=channels,
            out_channels=channels,
            block_out_channels=tuple(widths),
            down_block_types=("DownBlock2D",) * len(widths),
            up_block_types=("UpBlock2D",) * len(widths),
            layers_per_block=layers_per_block,
            norm_num_groups=min(8, widths[0]),
            add_attention=False,
        )

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        timestep = 1000.0 * (c_noise - self.C_LO) / (self.C_HI - self.C_LO)
        return self.unet(x, timestep).sample


def build_network(arch: str, sample_shape: tuple[int, ...], **options) -> nn.Module:
    """A network for data of ``sample_shape``: ``mlp`` for vectors, ``unet`` for (C, H, W)."""
    if arch == "mlp":
        return MLPNet(math.prod(sample_shape), **options)
    if arch == "unet":
        if len(sample_shape) != 3 or sample_shape[1] != sample_shape[2]:
            raise ValueError(f"unet needs square images (C, H, W), got shape {sample_shape}")
        return UNetNet(sample_shape[1], sample_shape[0], **options)
    raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHITECTURES}")
