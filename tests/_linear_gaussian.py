"""Exact output law of a sampler on a centred Gaussian target with the exact denoiser.

With μ = 0 the exact denoiser is linear, and every scorelab sampler is linear in its input noise
and in every noise draw. Track the state as a matrix whose rows are the coefficients of the state
on a basis of independent standard normals: the initial state (the exact law at σ_0) gives a
Cholesky factor, and every noise
draw appends d fresh basis directions. Then the output covariance is exactly Mᵀ M, with no
Monte-Carlo error. Noise draws are routed through ``_common.noise_like``, which the samplers import
by name; the helper patches those names.
"""

from __future__ import annotations

import contextlib

import torch

from scorelab.samplers import _common, accel_sde, accelerated, basic, dpm_solver, unipc

MODULES = (_common, basic, dpm_solver, accelerated, accel_sde, unipc)


class _Basis:
    def __init__(self, d: int, capacity: int) -> None:
        self.d = d
        self.capacity = capacity
        self.used = d  # the first d directions are the initial noise

    def draw(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        if self.used + self.d > self.capacity:
            raise RuntimeError("basis capacity exceeded; raise max_noise_draws")
        out = torch.zeros_like(x)
        out[self.used : self.used + self.d] = torch.eye(self.d, dtype=x.dtype)
        self.used += self.d
        return out


@contextlib.contextmanager
def _patched_noise(basis: _Basis):
    saved = [(m, m.noise_like) for m in MODULES if hasattr(m, "noise_like")]
    try:
        for m, _ in saved:
            m.noise_like = basis.draw
        yield
    finally:
        for m, fn in saved:
            m.noise_like = fn


def exact_output_covariance(sampler, target, sigmas, *, max_noise_draws: int, **options):
    """Covariance of the sampler's output law (float64, shape (d, d))."""
    d = target.dim
    rows = d * (1 + max_noise_draws)
    basis = _Basis(d, rows)
    state = torch.zeros(rows, d, dtype=torch.float64)
    # start from the exact law at σ_0, N(0, Σ + σ_0² I), so only the sampler's error remains
    cov0 = torch.as_tensor(target.covariance) + float(sigmas[0]) ** 2 * torch.eye(d)
    state[:d] = torch.linalg.cholesky(cov0).T
    with _patched_noise(basis):
        out = sampler(target, state, sigmas, **options)
    return out.T @ out
