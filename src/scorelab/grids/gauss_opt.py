"""``gauss-opt`` (ours): the K-step grid that minimises a sampler's own exact output KL on the
Gaussian surrogate of a loss curve — a schedule built on an exact law
(:func:`scorelab.exact.surrogate_output_kl`), so it lives with the grids, not with the laws.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .._validation import check_positive_int, check_sigma_range
from ..exact import LINEAR_OPTIONS, surrogate_output_kl
from ..samplers import SAMPLERS
from ..schedules.heuristic import karras, log_snr_uniform
from ..schedules.surrogate import (
    STEP_KINDS,
    fit_gaussian_spectrum,
    gaussian_step_schedule,
    refine_grid,
)

__all__ = ["gauss_opt_builder", "gaussian_optimized_schedule"]


def gaussian_optimized_schedule(
    sampler: str,
    steps: int,
    loss,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    sweeps: int = 4,
    candidates: int = 10,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, float]:
    """``gauss-opt`` (ours): the K-step grid minimising the exact output KL at σ_min of
    ``sampler`` itself (multistep memory, burn-in and noise included) on the Gaussian surrogate
    of the loss curve; returns ``(grid, predicted KL in nats)``.

    The surrogate is :func:`~scorelab.schedules.surrogate.fit_gaussian_spectrum`'s; the
    objective is :func:`surrogate_output_kl` (with :data:`LINEAR_OPTIONS`). The search starts
    from the best of log-SNR-uniform, EDM ρ = 7 and the three ``gauss-step`` DPs (isolated-step
    costs), then :func:`~scorelab.schedules.surrogate.refine_grid` moves one level at a time, so
    the result is never worse on the surrogate than any start. Exact for the sampler on a
    Gaussian; for data that is still continuous at σ_min (see
    :func:`~scorelab.schedules.surrogate.resolved_fraction`), not for atom-like data. A final
    σ = 0 (``final_zero``) is appended after the search: the last denoise is the same for every
    grid."""
    lo, hi = check_sigma_range(sigma_min, sigma_max)
    steps = check_positive_int("steps", steps)
    spectrum = fit_gaussian_spectrum(loss, lo, hi)
    options = LINEAR_OPTIONS.get(sampler, {})

    def objective(grid: np.ndarray) -> float:
        return surrogate_output_kl(sampler, spectrum, torch.as_tensor(grid), **options)

    starts = [log_snr_uniform(steps, lo, hi), karras(steps, lo, hi)]
    starts += [gaussian_step_schedule(steps, loss, lo, hi, step=k) for k in STEP_KINDS]
    start = min((g.double().numpy() for g in starts), key=objective)
    grid, kl = refine_grid(start, objective, sweeps=sweeps, candidates=candidates)
    out = torch.as_tensor(grid, dtype=dtype, device=device)
    if final_zero:
        out = torch.cat([out, out.new_zeros(1)])
    return out, kl


def gauss_opt_builder(sampler: str) -> Callable[..., torch.Tensor]:
    """``f(steps, loss, sigma_min, sigma_max, final_zero=False) -> sigmas``: the ``gauss-opt``
    grid of ``sampler`` (:func:`gaussian_optimized_schedule`), in the form
    :func:`scorelab.schedules.recommend.recommended_schedule` takes as ``sampler_optimizer``."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose from {sorted(SAMPLERS)}")

    def build(steps, loss, sigma_min, sigma_max, final_zero: bool = False) -> torch.Tensor:
        return gaussian_optimized_schedule(
            sampler, steps, loss, sigma_min, sigma_max, final_zero=final_zero
        )[0]

    return build
