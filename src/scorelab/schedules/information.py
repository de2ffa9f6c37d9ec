"""Loss-curve schedules beyond the paper's LAS: information-spread LAS (ours), the
saturating-information schedule and entropic time (after Stancevic et al. 2025,
arXiv 2504.13612). ``docs/design/schedules.md``.

Units: SNR γ = 1/σ², information I(γ) = ½ ∫_{γ_0}^{γ} L(γ′) dγ′ in nats (I-MMSE: with L = mmse,
I is the mutual information gained since γ_0). Candidates are M log-SNR-uniform levels.

* **LAS** (the paper's) minimises Σ_k D_k, D_ab = ½(γ_b − γ_a) L(γ_a) − (I_b − I_a), the path
  KL of the frozen-x0 sampler.
* **Saturating-information schedule** (``"sat-info"``, proposed by an earlier internal study,
  ``docs/design/schedules.md``): the same DP with the edge cost

      c(a, b) = U_a · (1 − exp(−D_ab / U_a)),   U_a = I(γ_min) − I(γ_a),

  U_a the information still unresolved at σ_a. One step cannot corrupt more of the output than
  is still undecided when it starts, so its cost saturates at U_a instead of growing with D.
  ``sharpness`` p generalises it to U_a·(1 − exp(−(D_ab/U_a)^p))^{1/p} (p = 1 above).
* **Information-spread LAS** (``"info-las"``, ours): the DP with edge cost

      c(a, b) = D_ab + μ (I_b − I_a)² / I_total,

  LAS's path KL plus a penalty on steps that resolve much information at once (μ = ``spread``;
  μ = 0 is LAS, μ → ∞ tends to entropic time). Like LAS it is invariant to the loss's units.
* **Multistep information-spread LAS** (``"info-las-ms"``, ours): info-las plus, for every three
  consecutive levels σ_i > σ_j > σ_l, the price of a two-step solver's extrapolation (see
  :func:`multistep_penalty`). Exact for this objective by a DP over pairs of levels, O(K·M³).
* **Entropic time** (``"entropic"``): levels equally spaced in I — equal decrements of the
  conditional entropy H(x0 | x_σ) = H(x0) − I, our reading of the entropic time change, computed
  from the same curve.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .._validation import (
    as_float64_array,
    check_positive_int,
    check_positive_scalar,
    check_sigma_range,
)
from ..theory import Curve
from .heuristic import _finish as _finish_grid

__all__ = [
    "cumulative_information",
    "entropic_schedule",
    "information_las_schedule",
    "multistep_information_las_schedule",
    "multistep_penalty",
    "path_dp",
    "path_dp_triples",
    "saturating_costs",
    "saturating_schedule",
]


def path_dp(cost: np.ndarray, steps: int) -> np.ndarray:
    """Indices (length K+1, first 0, last M−1, increasing) of the K-edge path through M nodes
    minimising the summed edge cost ``cost[i, j]`` (j > i; other entries ignored). O(K·M²)."""
    c = torch.as_tensor(as_float64_array("cost", cost, ndim=2))
    M = c.shape[0]
    steps = check_positive_int("steps", steps)
    if c.shape != (M, M):
        raise ValueError(f"cost must be square, got {tuple(c.shape)}")
    if steps > M - 1:
        raise ValueError(f"steps={steps} needs at least {steps + 1} candidates, got {M}")
    c = c.masked_fill(~torch.ones(M, M, dtype=torch.bool).triu(1), float("inf"))
    best = torch.full((M,), float("inf"), dtype=torch.float64)
    best[0] = 0.0
    back = torch.zeros((steps + 1, M), dtype=torch.long)
    for k in range(1, steps + 1):
        best, back[k] = (best[:, None] + c).min(0)
    if not np.isfinite(float(best[M - 1])):
        raise ValueError("no finite-cost path with that many steps")
    path = [M - 1]
    for k in range(steps, 0, -1):
        path.append(int(back[k, path[-1]]))
    return np.array(path[::-1])


def path_dp_triples(cost: np.ndarray, triple_cost: np.ndarray, steps: int) -> np.ndarray:
    """Indices (length K+1, first 0, last M−1, increasing) of the K-edge path through M nodes
    minimising Σ_k ``cost[i_k, i_{k+1}]`` + Σ_{k≥1} ``triple_cost[i_{k−1}, i_k, i_{k+1}]``: the
    edge cost of :func:`path_dp` plus a cost on each pair of consecutive edges. Exact (a DP whose
    state is the last edge), O(K·M³) time and O(M³) memory."""
    c = as_float64_array("cost", cost, ndim=2)
    t = as_float64_array("triple_cost", triple_cost, ndim=3)
    M = c.shape[0]
    steps = check_positive_int("steps", steps)
    if c.shape != (M, M) or t.shape != (M, M, M):
        raise ValueError(f"cost must be (M, M) and triple_cost (M, M, M), got {c.shape}, {t.shape}")
    if steps > M - 1:
        raise ValueError(f"steps={steps} needs at least {steps + 1} candidates, got {M}")
    upper = np.triu(np.ones((M, M), dtype=bool), 1)
    c = np.where(upper, c, np.inf)
    t = np.where(upper[:, :, None] & upper[None, :, :], t, np.inf)
    best = np.full((M, M), np.inf)  # best[i, j]: cheapest path from 0 whose last edge is i → j
    best[0] = c[0]
    back = []
    for _ in range(1, steps):
        total = best[:, :, None] + t
        arg = total.argmin(0)
        best = np.take_along_axis(total, arg[None], 0)[0] + c
        back.append(arg)
    if not np.isfinite(best[:, M - 1].min()):
        raise ValueError("no finite-cost path with that many steps")
    path = [M - 1, int(best[:, M - 1].argmin())]
    for arg in reversed(back):  # arg[j, l]: the best predecessor of the edge j → l
        path.append(int(arg[path[-1], path[-2]]))
    return np.array(path[::-1])


def cumulative_information(gammas: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """I(γ_i) − I(γ_0) = ½ ∫ L dγ for L linear in λ = log γ between the (increasing) γ_i —
    exact for that interpolation: ∫ (p + q u) e^{a+u} du over each piece."""
    lam = np.log(gammas)
    h = np.diff(lam)
    q = np.diff(loss) / h
    em1 = np.expm1(h)
    second = np.where(h < 1e-3, h**2 / 2 + h**3 / 3 + h**4 / 8, h * np.exp(h) - em1)
    pieces = gammas[:-1] * (loss[:-1] * em1 + q * second)
    return np.concatenate([[0.0], 0.5 * np.cumsum(pieces)])


def loss_at(loss, sigma: np.ndarray) -> np.ndarray:
    """A loss curve (any :class:`~scorelab.theory.Curve`: a ``LossCurve``, an
    ``InformationCurve``; or a callable σ ↦ L) at the
    given σ's, checked finite and ≥ 0."""
    if isinstance(loss, Curve):
        out = loss.at_sigma(sigma)
    else:
        out = np.asarray(loss(sigma), dtype=np.float64)
    if out.shape != sigma.shape or not np.all(np.isfinite(out)) or np.any(out < 0):
        raise ValueError("the loss curve must give finite values >= 0 at every candidate sigma")
    return out


def curve_on_candidates(loss, sigma_min, sigma_max, num_candidates, candidates):
    """Candidate σ's (decreasing: M log-SNR-uniform levels, or the given ones), their SNRs and
    the loss there: ``(sigmas, gammas, loss)``."""
    if candidates is None:
        lo, hi = check_sigma_range(sigma_min, sigma_max)
        M = check_positive_int("num_candidates", num_candidates, minimum=2)
        cand = np.geomspace(hi, lo, M)
    else:
        cand = np.unique(as_float64_array("candidates", candidates, ndim=1))[::-1]
        if np.any(cand <= 0):
            raise ValueError("candidate sigmas must be > 0")
        if cand.size < 2:
            raise ValueError("need at least 2 distinct candidate sigmas")
    return cand, 1 / cand**2, loss_at(loss, cand)


def saturating_costs(gammas, loss, *, sharpness: float = 1.0) -> np.ndarray:
    """Edge costs c(a, b) = U_a (1 − exp(−(D_ab/U_a)^p))^{1/p} (p = ``sharpness``; p = 1 is the
    design note's cost) on increasing candidate SNRs; D_ab the path KL of the step a → b."""
    g = as_float64_array("gammas", gammas, ndim=1)
    L = as_float64_array("loss", loss, ndim=1)
    p = check_positive_scalar("sharpness", sharpness)
    info = cumulative_information(g, L)
    D = 0.5 * (g[None, :] - g[:, None]) * L[:, None] - (info[None, :] - info[:, None])
    D = np.maximum(D, 0.0)  # ≥ 0 for a non-increasing curve; clip rounding
    U = np.maximum(info[-1] - info, 1e-300)[:, None]
    ratio = D / U
    return U * (-np.expm1(-(ratio**p))) ** (1 / p)


def saturating_schedule(
    steps: int,
    loss: Callable | Curve,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    sharpness: float = 1.0,
    num_candidates: int = 512,
    candidates=None,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """The saturating-information σ grid (the earlier study's cost, ``docs/design/schedules.md``):
    K steps from σ_max to σ_min minimising
    Σ U_a(1 − exp(−D_ab/U_a)) over M log-SNR-uniform candidates (see the module docstring).

    Args:
        loss: the x0-loss (or exact mmse) per level: a :class:`~scorelab.loss_curve.LossCurve`,
            an :class:`~scorelab.theory.InformationCurve` or a callable σ ↦ L(σ).
        sharpness: p of the generalised saturation (1: the design note's cost).
        num_candidates, candidates: as for :func:`~scorelab.schedules.las_schedule`.
    """
    steps = check_positive_int("steps", steps)
    cand, g, L = curve_on_candidates(loss, sigma_min, sigma_max, num_candidates, candidates)
    idx = path_dp(saturating_costs(g, L, sharpness=sharpness), steps)
    return _finish(cand[idx], final_zero, dtype, device)


def information_las_schedule(
    steps: int,
    loss: Callable | Curve,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    spread: float = 3.0,
    num_candidates: int = 512,
    candidates=None,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Information-spread LAS (ours): K steps minimising Σ D_ab + μ (ΔI_ab)²/I_total over M
    log-SNR-uniform candidates (module docstring). μ = ``spread`` = 3 was the best of
    {0.1, …, 100} for the frozen-x0 sampler's continuous output KL on the exact 1-D laws of
    ``benchmarks/schedules_exact.py`` (``docs/design/schedules.md``)."""
    steps = check_positive_int("steps", steps)
    mu = check_positive_scalar("spread", spread, allow_zero=True)
    cand, g, L = curve_on_candidates(loss, sigma_min, sigma_max, num_candidates, candidates)
    return _finish(cand[path_dp(_info_las_costs(g, L, mu), steps)], final_zero, dtype, device)


def _info_las_costs(g: np.ndarray, L: np.ndarray, mu: float) -> np.ndarray:
    """info-las edge costs D_ab + μ (I_b − I_a)²/I_total on increasing candidate SNRs."""
    info = cumulative_information(g, L)
    gain = info[None, :] - info[:, None]
    D = np.maximum(0.5 * (g[None, :] - g[:, None]) * L[:, None] - gain, 0.0)
    return D + mu * gain**2 / max(float(info[-1]), 1e-300)


def multistep_penalty(gammas, loss) -> np.ndarray:
    """Price (nats) of a two-step solver's extrapolation for every triple of increasing
    candidate SNRs γ_i < γ_j < γ_l (σ_i > σ_j > σ_l), as an (M, M, M) array (i, j, l); ours.

    DPM-Solver++(2M) (Lu et al. 2022, arXiv 2211.01095, Alg. 2) steps σ_j → σ_l as
    x_l = (σ_l/σ_j) x_j + (1 − e^{−h}) [D_j + (D_j − D_i)/(2r)], h = log(σ_j/σ_l),
    r = log(σ_i/σ_j)/h. Along the forward process the denoiser D_σ = E[x0 | x_σ] is a martingale
    as σ decreases, so its increments are orthogonal and E‖D_j − D_i‖² = L_i − L_j (L the mmse or
    x0-loss). Charged as a shift δ of the state at σ_l, KL ≈ ½ γ_l E‖δ‖²:

        p(i, j, l) = ½ γ_l (1 − e^{−h})² (L_i − L_j) / (4 r²).

    Large when a long step follows a short one across a change of the curve (the extrapolation
    then overshoots), zero where the curve is flat. The martingale view ignores the part of the
    correction that is right on smooth trajectories, so this is an upper-bound-style price."""
    g = as_float64_array("gammas", gammas, ndim=1)
    L = as_float64_array("loss", loss, ndim=1)
    half_log = 0.5 * np.log(g)  # log(1/σ): step sizes h in log σ, as the solver uses them
    h = half_log[None, :] - half_log[:, None]  # h[a, b] = log(σ_a / σ_b)
    h_prev, h_next = h[:, :, None], h[None, :, :]
    valid = (h_prev > 0) & (h_next > 0)  # σ_i > σ_j > σ_l; other entries are 0 (never used)
    inv_r = np.divide(h_next, h_prev, out=np.zeros((g.size,) * 3), where=valid)
    drop = np.maximum(L[:, None] - L[None, :], 0.0)[:, :, None]
    return 0.5 * g[None, None, :] * np.expm1(-h_next) ** 2 * drop * inv_r**2 / 4


#: the triple DP is O(K·M³): finer candidate sets are thinned to this many levels
MULTISTEP_MAX_CANDIDATES = 192


def multistep_information_las_schedule(
    steps: int,
    loss: Callable | Curve,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    spread: float = 3.0,
    multistep: float = 2.0,
    num_candidates: int = 128,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Multistep information-spread LAS (ours), for two-step ODE solvers (DPM-Solver++(2M)):
    K steps minimising Σ_k [D + μ ΔI²/I_total](σ_k → σ_{k+1}) + ν Σ_k p(σ_{k−1}, σ_k, σ_{k+1})
    (μ = ``spread``, ν = ``multistep``, p = :func:`multistep_penalty`), exactly, over
    ``num_candidates`` log-SNR-uniform levels (at most :data:`MULTISTEP_MAX_CANDIDATES`; more
    are thinned to that many). The first step has no extrapolation and pays no penalty.

    ν = 2 was the best of {0.5, 2, 8} for DPM-Solver++(2M)'s continuous output KL on the exact
    1-D atom laws of ``benchmarks/schedules_exact.py`` (``docs/design/schedules.md``, §7), so
    those rows are not held out."""
    steps = check_positive_int("steps", steps)
    mu = check_positive_scalar("spread", spread, allow_zero=True)
    nu = check_positive_scalar("multistep", multistep, allow_zero=True)
    M = check_positive_int("num_candidates", num_candidates, minimum=2)
    M = min(M, MULTISTEP_MAX_CANDIDATES)
    cand, g, L = curve_on_candidates(loss, sigma_min, sigma_max, M, None)
    triple = nu * multistep_penalty(g, L) if nu > 0 else np.zeros((M, M, M))
    idx = path_dp_triples(_info_las_costs(g, L, mu), triple, steps)
    return _finish(cand[idx], final_zero, dtype, device)


def entropic_schedule(
    steps: int,
    loss: Callable | Curve,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    num_candidates: int = 4096,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Entropic time: σ_k with I(γ_k) − I(γ_0) = (k/K)(I(γ_K) − I(γ_0)), I from ``loss`` (the
    curve linear in λ between ``num_candidates`` log-uniform levels; inverted by interpolation,
    levels kept strictly decreasing)."""
    steps = check_positive_int("steps", steps)
    _, g, L = curve_on_candidates(loss, sigma_min, sigma_max, num_candidates, None)
    info = cumulative_information(g, L)
    if not info[-1] > 0:
        raise ValueError("the loss curve carries no information over this range (I = 0)")
    lam = np.log(g)
    # strictly increasing I for the inversion: add a vanishing share of log-SNR
    key = info / info[-1] + 1e-9 * (lam - lam[0]) / (lam[-1] - lam[0])
    lam_k = np.interp(np.linspace(0, key[-1], steps + 1), key, lam)
    return _finish(np.exp(-0.5 * lam_k), final_zero, dtype, device)


def _finish(sig: np.ndarray, final_zero: bool, dtype, device) -> torch.Tensor:
    return _finish_grid(
        torch.as_tensor(np.ascontiguousarray(sig)),
        float(sig[-1]),
        float(sig[0]),
        final_zero,
        dtype,
        device,
    )
