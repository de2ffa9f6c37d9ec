"""Helpers shared by the samplers (k-diffusion calling convention)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .._validation import check_finite, check_float_tensor, check_generator
from ..schedules.heuristic import check_sigmas

Callback = Callable[[dict], None]


def prepare(x: torch.Tensor, sigmas: torch.Tensor, generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate the sampler inputs; returns ``(x, sigmas)``."""
    x = check_float_tensor("x", x)
    check_finite("x", x)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"x must have a non-empty batch dimension, got shape {tuple(x.shape)}")
    check_sigmas(sigmas, like=x)
    check_generator(generator)
    return x, sigmas


def batch_sigma(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """σ repeated over the batch (k-diffusion's ``sigma * s_in``)."""
    return sigma * x.new_ones([x.shape[0]])


def noise_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """Probability-flow ODE derivative dx/dσ = (x − D(x, σ))/σ."""
    return (x - denoised) / sigma


def report(callback: Callback | None, i: int, x, sigma, sigma_next, denoised, **extra) -> None:
    if callback is not None:
        callback(
            {
                "x": x,
                "i": i,
                "sigma": sigma,
                "sigma_next": sigma_next,
                "denoised": denoised,
                **extra,
            }
        )
