"""EDM preconditioning (Karras, Aittala, Aila, Laine 2022, "Elucidating the Design Space of
Diffusion-Based Generative Models", Table 1):

D(x, σ) = c_skip(σ) x + c_out(σ) F(c_in(σ) x, c_noise(σ)),
c_skip = σ_d²/(σ² + σ_d²), c_out = σ σ_d/√(σ² + σ_d²), c_in = 1/√(σ² + σ_d²), c_noise = ln(σ)/4,

trained with the loss λ(σ)‖D(x0 + σz, σ) − x0‖², λ(σ) = (σ² + σ_d²)/(σ σ_d)², i.e. unit-variance
targets for F. σ is in the VE/EDM convention x_σ = x0 + σ z, the convention of every scorelab
denoiser, so :class:`EDMDenoiser` plugs straight into scorelab's and k-diffusion's samplers.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validation import as_sigma

__all__ = ["EDMDenoiser", "edm_loss_weight"]


def edm_loss_weight(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """λ(σ) = (σ² + σ_d²)/(σ σ_d)²."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


class EDMDenoiser(nn.Module):
    """A network wrapped as a denoiser ``D(x, sigma) -> E[x0 | x_σ = x]``.

    ``x`` may be (B, *sample_shape) or flattened (B, prod(sample_shape)); the output has the input's
    shape and dtype (the network runs in its own dtype, float32 by default). ``sigma`` is a scalar
    or a (B,) tensor, > 0."""

    parametrisation = "x0"

    def __init__(self, net: nn.Module, sample_shape: tuple[int, ...], sigma_data: float) -> None:
        super().__init__()
        if not (sigma_data > 0 and math.isfinite(sigma_data)):
            raise ValueError(f"sigma_data must be finite and > 0, got {sigma_data}")
        self.net = net
        self.sample_shape = tuple(int(s) for s in sample_shape)
        self.sigma_data = float(sigma_data)

    @property
    def dim(self) -> int:
        return math.prod(self.sample_shape)

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        if x.ndim < 2 or x[0].numel() != self.dim:
            raise ValueError(
                f"x must be (batch, {self.dim}) or (batch, *{self.sample_shape}), "
                f"got {tuple(x.shape)}"
            )
        param = next(self.net.parameters())
        b = x.shape[0]
        xin = x.reshape(b, *self.sample_shape).to(param.dtype)
        s = as_sigma(sigma, b, like=xin)
        s4 = s.reshape(b, *([1] * len(self.sample_shape)))
        sd2 = self.sigma_data**2
        c_skip = sd2 / (s4**2 + sd2)
        c_out = s4 * self.sigma_data / torch.sqrt(s4**2 + sd2)
        c_in = 1 / torch.sqrt(s4**2 + sd2)
        out = c_skip * xin + c_out * self.net(c_in * xin, torch.log(s) / 4)
        return out.reshape(x.shape).to(x.dtype)
