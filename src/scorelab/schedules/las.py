"""Loss-Adaptive Schedule (LAS), Aghapour–Bayraktar–Zhang, arXiv 2601.21943; objective and DP as
reconstructed in ``docs/design/las.md`` §2 and §4.

With both endpoints fixed, the schedule enters the path-KL bound A + D of the frozen-x0 sampler
only through the left Riemann sum of the model's own x0-loss curve

    R(grid) = Σ_k (γ_k − γ_{k−1}) L_x0(γ_{k−1}) = Σ_k γ_{k−1} expm1(λ_k − λ_{k−1}) L_x0(λ_{k−1})

(γ = 1/σ² the SNR, λ = log γ). LAS minimises R exactly over K-step paths through M candidate
levels by dynamic programming, O(K·M²) (vectorised in torch, float64). With a perfect denoiser
(L_x0 = mmse: *oracle-LAS*) this minimises D itself. A final "denoise to σ = 0" step, if wanted,
is appended outside the objective.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .._validation import (
    as_float64_array,
    check_positive_int,
)
from ..targets import Target
from ..theory import Curve, InformationCurve, mmse_curve
from .heuristic import append_zero, check_sigmas
from .information import curve_on_candidates, loss_at, path_dp

__all__ = ["las_dp", "las_objective", "las_schedule", "oracle_las"]


def las_objective(sigmas, loss_x0: Callable | Curve) -> float:
    """R(grid) for a decreasing σ grid (a trailing 0 is ignored)."""
    s = as_float64_array("sigmas", sigmas, ndim=1)
    if s[-1] == 0:
        s = s[:-1]
    g = 1 / s**2
    L = loss_at(loss_x0, s[:-1])
    return float((np.diff(g) * L).sum())


def las_dp(gammas, loss_x0, steps: int) -> np.ndarray:
    """Indices (length K+1, increasing, first 0, last M−1) of the K-step path through the
    increasing candidate SNRs ``gammas`` that minimises Σ (γ_j − γ_i) L_x0(γ_i).

    Edge cost c(i, j) = γ_i expm1(λ_j − λ_i) L_i for j > i. Exactly K edges (K ≤ M − 1)."""
    g = as_float64_array("gammas", gammas, ndim=1)
    L = as_float64_array("loss_x0", loss_x0, ndim=1)
    steps = check_positive_int("steps", steps)
    M = g.size
    if L.shape != g.shape:
        raise ValueError(f"gammas and loss_x0 must have the same shape, got {g.shape}, {L.shape}")
    if np.any(g <= 0) or np.any(np.diff(g) <= 0):
        raise ValueError("gammas must be positive and strictly increasing")
    if np.any(L < 0):
        raise ValueError("loss_x0 must be >= 0")
    if steps > M - 1:
        raise ValueError(f"steps={steps} needs at least {steps + 1} candidates, got {M}")
    lam = np.log(g)
    cost = g[:, None] * np.expm1(lam[None, :] - lam[:, None]) * L[:, None]
    return path_dp(cost, steps)


def las_schedule(
    steps: int,
    loss_x0: Callable | Curve,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    num_candidates: int = 1000,
    candidates=None,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """The LAS σ grid: K steps from σ_max to σ_min minimising R.

    Args:
        loss_x0: the model's x0-MSE per level — a :class:`~scorelab.loss_curve.LossCurve`
            (e.g. smoothed and monotone), an :class:`~scorelab.theory.InformationCurve` or any
            callable σ ↦ L_x0(σ) on float64 arrays.
        num_candidates: M log-SNR-uniform candidate levels including both endpoints.
        candidates: explicit candidate σ's instead (e.g. a DDPM model's 1000 training σ's, to
            get a respacing subsequence); the extreme candidates are the endpoints.
    """
    steps = check_positive_int("steps", steps)
    cand, g, L = curve_on_candidates(loss_x0, sigma_min, sigma_max, num_candidates, candidates)
    idx = las_dp(g, L, steps)
    sig = torch.as_tensor(cand[idx].copy()).to(dtype=dtype, device=device)
    if final_zero:
        sig = append_zero(sig)
    return check_sigmas(sig)


def oracle_las(
    target: Target,
    steps: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    num_candidates: int = 1000,
    num_samples: int = 20_000,
    num_points: int = 2001,
    seed: int = 0,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    return_curve: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, InformationCurve]:
    """LAS with L_x0 = the target's exact mmse (closed form, or the Monte-Carlo curve of
    :func:`~scorelab.theory.mmse_curve` at ``max(num_candidates, num_points)`` levels): the grid
    minimising D itself among the candidates. ``return_curve=True`` returns ``(grid, curve)``,
    so that D can be reported on the very curve the grid was optimised on."""
    curve = mmse_curve(
        target,
        sigma_min,
        sigma_max,
        num_points=max(num_candidates, num_points),
        num_samples=num_samples,
        seed=seed,
    )
    grid = las_schedule(
        steps,
        curve,
        sigma_min,
        sigma_max,
        num_candidates=num_candidates,
        final_zero=final_zero,
        dtype=dtype,
    )
    return (grid, curve) if return_curve else grid
