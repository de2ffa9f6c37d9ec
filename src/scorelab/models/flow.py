"""Flow-matching (rectified-flow) models as σ-space denoisers, and the reverse.

A flow model predicts the velocity v̂(x_t, t) ≈ E[ε − x0 | x_t] of x_t = (1 − t) x0 + t ε,
t ∈ [0, 1]. It is the Gaussian channel of every scorelab denoiser in other coordinates
(:mod:`scorelab.processes`): σ = t/(1 − t), x_t = x_σ/(1 + σ), and

    x̂0 = x_t − t v̂(x_t, t),        v̂ = (x_t − x̂0)/t.

So :class:`VelocityDenoiser` makes any velocity model ``v(x_t, t)`` a denoiser
``D(x_σ, σ) = E[x0 | x_σ]`` that every scorelab sampler, schedule and oracle takes, and
:func:`velocity_of` makes any scorelab denoiser (every target's exact one included) a velocity
model, for tests against flow tools. Euler in t on the flow ODE dx_t/dt = v is DDIM, i.e. Euler
in σ on x_σ: both are exact when x̂0 is constant along the step.

:class:`FlowMatchingDenoiser` is scorelab's own trainable flow model (``scorelab train
--objective flow``): a network F(x_t, c_noise) read as the velocity, with the noise embedding
c_noise = ln(σ)/4 = logit(t)/4 shared with the EDM models' networks.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .._validation import as_sigma

__all__ = ["FlowMatchingDenoiser", "VelocityDenoiser", "velocity_of"]


def _per_sample(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.reshape(x.shape[0], *([1] * (x.ndim - 1)))


class VelocityDenoiser:
    """``D(x_σ, σ)`` from a velocity model ``velocity(x_t, t)`` (t a (B,) tensor in (0, 1)).

    Args:
        velocity: the flow model; takes and returns tensors shaped like ``x`` (or like
            ``sample_shape`` when given); its output may be an object with ``.sample``
            (a diffusers model).
        sample_shape: reshape flat (batch, d) inputs to (batch, *sample_shape) for the model.
        t_scale: the model's time argument is ``t_scale · t`` (diffusers' SD3/Flux transformers
            take 1000 t).
    """

    parametrisation = "velocity"

    def __init__(
        self,
        velocity: Callable,
        *,
        sample_shape: tuple[int, ...] | None = None,
        t_scale: float = 1.0,
    ) -> None:
        if not callable(velocity):
            raise TypeError(f"velocity must be callable, got {type(velocity).__name__}")
        kind = getattr(velocity, "parametrisation", None)
        if kind == "x0":
            raise ValueError(
                f"{type(velocity).__name__} is an x0 (denoiser) model, not a velocity model; "
                "use it as a denoiser directly"
            )
        if isinstance(velocity, FlowMatchingDenoiser):
            raise ValueError(
                "a FlowMatchingDenoiser already is a σ-space denoiser; pass it directly (or "
                "its .velocity method here)"
            )
        if not (math.isfinite(t_scale) and t_scale > 0):
            raise ValueError(f"t_scale must be finite and > 0, got {t_scale}")
        self.velocity = velocity
        self.sample_shape = None if sample_shape is None else tuple(sample_shape)
        self.t_scale = float(t_scale)

    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        s = as_sigma(sigma, x.shape[0], like=x)
        t = s / (1.0 + s)
        x_t = x / _per_sample(1.0 + s, x)
        xin = x_t if self.sample_shape is None else x_t.reshape(x.shape[0], *self.sample_shape)
        v = self.velocity(xin, self.t_scale * t)
        v = getattr(v, "sample", v)
        return x_t - _per_sample(t, x) * v.reshape(x.shape).to(x.dtype)


def velocity_of(denoiser: Callable) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The velocity model v(x_t, t) = (x_t − D(x_t/(1−t), t/(1−t)))/t of a σ-space denoiser,
    for t ∈ (0, 1) (a number or a (B,) tensor)."""

    def velocity(x_t: torch.Tensor, t) -> torch.Tensor:
        tt = as_sigma(t, x_t.shape[0], like=x_t, name="t")
        if bool(((tt <= 0) | (tt >= 1)).any()):
            raise ValueError(f"flow time t must lie in (0, 1), got {tt.min()}..{tt.max()}")
        sigma = tt / (1.0 - tt)
        x0 = denoiser(x_t / _per_sample(1.0 - tt, x_t), sigma)
        return (x_t - x0) / _per_sample(tt, x_t)

    return velocity


class FlowMatchingDenoiser(nn.Module):
    """A network ``F(x_t, c_noise)`` trained as a flow-matching velocity, exposed both ways:
    :meth:`velocity` (x_t, t) → v̂ and ``forward(x_σ, σ)`` → x̂0 (the scorelab denoiser).

    ``sigma_data`` is the data's standard deviation, kept for reference (flow matching needs no
    preconditioning: x_t has variance (1−t)²σ_d² + t², bounded on [0, 1])."""

    parametrisation = "velocity"

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

    def velocity(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """v̂(x_t, t), t ∈ (0, 1) a number or (B,) tensor; ``x_t`` flat or image-shaped."""
        if x_t.ndim < 2 or x_t[0].numel() != self.dim:
            raise ValueError(
                f"x must be (batch, {self.dim}) or (batch, *{self.sample_shape}), "
                f"got {tuple(x_t.shape)}"
            )
        param = next(self.net.parameters())
        b = x_t.shape[0]
        xin = x_t.reshape(b, *self.sample_shape).to(param.dtype)
        # t = 1 (pure noise, where flow samplers start) is read as t = 1 − 1e-4 (σ = 1e4, the
        # top of the shipped flow model's training range): the two differ by 1e-4 in x_t
        tt = as_sigma(t, b, like=xin, name="t").clamp(1e-7, 1 - 1e-4)
        c_noise = torch.log(tt / (1 - tt)) / 4
        return self.net(xin, c_noise).reshape(x_t.shape).to(x_t.dtype)

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        s = as_sigma(sigma, x.shape[0], like=x)
        t = s / (1.0 + s)
        x_t = x / _per_sample(1.0 + s, x)
        return x_t - _per_sample(t, x) * self.velocity(x_t, t)
