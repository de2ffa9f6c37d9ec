"""UniPC (Zhao, Bai, Rao, Zhou, Lu, "UniPC: A Unified Predictor-Corrector Framework for Fast
Sampling of Diffusion Models", NeurIPS 2023, arXiv 2302.04867), data prediction with B(h) = e^h − 1
("bh2"), in σ-space (λ = −log σ, so the VP α of the paper is 1 and its σ_t is our σ).

Step from λ_{s0} to λ_t, h = λ_t − λ_{s0}, with model outputs m_0 (at s0) and m_k at earlier
levels, r_k = (λ_k − λ_{s0})/h, D_k = (m_k − m_0)/r_k:

* UniP-p predictor: x̃_t = (σ_t/σ_{s0}) x_{s0} + (1 − e^{−h}) m_0 + B(h) Σ_k ρ^p_k D_k
  (ρ^p = ½ for p = 2, else the solution of the order conditions below without the last row);
* UniC-p corrector, with the model output m_t at the *predicted* x̃_t:
  x_t = (σ_t/σ_{s0}) x_{s0} + (1 − e^{−h}) m_0 + B(h) (Σ_k ρ^c_k D_k + ρ^c_t (m_t − m_0)),
  where ρ^c solves R ρ = g, R_{ik} = r_k^{i−1} (r_t = 1), g_i = i!·φ_{i+1}(−h)/B(h) (eq. (8)–(9)
  of the paper with φ_{k+1}(z) = (φ_k(z) − 1/k!)/z, φ_1(z) = (e^z − 1)/z); ρ^c = ½ for p = 1.

m_t is reused as m_0 of the next step, so the corrector costs no query: NFE = K, one query per
level σ_0 … σ_{K−1}, as in diffusers' ``UniPCMultistepScheduler`` (whose update rules these are).
The order p is min(``order``, steps taken); UniPC-p is of order p + 1 (paper, Thm 3.3). A step to
σ = 0 returns the last model output (diffusers' final step); the corrector is not applied after
the last query (there is no further model output to correct with). With ``lower_order_final``
the outputs match diffusers' scheduler on its own grid to float32 rounding
(``tests/test_accel_sde.py``). Not included: thresholding."""

from __future__ import annotations

import math

import numpy as np
import torch

from ._common import batch_sigma, prepare, report

__all__ = ["sample_unipc"]


def _order_conditions(rks: list[float], h: float) -> tuple[np.ndarray, np.ndarray, float]:
    """R (rows r_k^{i−1}), g (i!·φ_{i+1}(−h)/B(h)) and B(h) for the nodes ``rks``."""
    hh = -h
    b_h = math.expm1(hh)
    phi_k = b_h / hh - 1  # φ_2-type term, h φ_1 / hh − 1
    factorial = 1
    rows, rhs = [], []
    for i in range(1, len(rks) + 1):
        rows.append([r ** (i - 1) for r in rks])
        rhs.append(phi_k * factorial / b_h)
        factorial *= i + 1
        phi_k = phi_k / hh - 1 / factorial
    return np.array(rows), np.array(rhs), b_h


def _update(x_s0, m0, history, s0, t, lam_s0, h, order, m_t=None):
    """UniP (``m_t`` None) or UniC update of x_{s0} to level t (see the module docstring)."""
    rks = [(lam - lam_s0) / h for _, lam in history[-order:-1]][::-1] if order > 1 else []
    d1s = [(m - m0) / r for (m, _), r in zip(history[-order:-1][::-1], rks, strict=True)]
    x = x_s0 * (t / s0)
    x.add_(m0, alpha=-math.expm1(-h))
    R, g, b_h = _order_conditions([*rks, 1.0], h)
    if m_t is None:
        if order == 1:
            return x
        rhos = [0.5] if order == 2 else np.linalg.solve(R[:-1, :-1], g[:-1]).tolist()
        terms = list(zip(rhos, d1s, strict=True))
    else:
        rhos = [0.5] if order == 1 else np.linalg.solve(R, g).tolist()
        terms = [*zip(rhos[:-1], d1s, strict=True), (rhos[-1], m_t - m0)]
    for rho, d in terms:
        x.add_(d, alpha=-b_h * rho)
    return x


@torch.no_grad()
def sample_unipc(
    denoiser,
    x,
    sigmas,
    *,
    order: int = 2,
    lower_order_final: bool = False,
    generator=None,
    callback=None,
    extra_args=None,
):
    """UniPC-``order`` with the bh2 variant (see the module docstring). Order ``order`` + 1.

    Args:
        denoiser: ``denoiser(x, sigma) -> x̂0``.
        x: initial state at ``sigmas[0]``.
        sigmas: strictly decreasing σ grid, optionally ending in 0.
        order: predictor order p ∈ {1, 2, 3} (diffusers' ``solver_order``; default 2).
        lower_order_final: diffusers' rule (its default): step i of K uses order
            min(p, K − i), so the last steps drop order. Off by default here: on a grid that
            ends at σ > 0 it lowers the global order.
        generator: unused (deterministic sampler); validated for the common signature.
        callback: called once per step with k-diffusion's keys.

    NFE = K."""
    if order not in (1, 2, 3):
        raise ValueError(f"order must be 1, 2 or 3, got {order!r}")
    denoiser, x, sigmas = prepare(denoiser, x, sigmas, generator, extra_args)
    sig = sigmas.tolist()
    history: list[tuple[torch.Tensor, float]] = []  # (model output, λ), newest last
    last: tuple[torch.Tensor, int] | None = None  # (corrected x at the previous level, its order)
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        denoised = denoiser(x, batch_sigma(x, sigmas[i]))
        lam = -math.log(s)
        if last is not None:  # UniC: correct x (predicted) with the model output there
            x_prev, used = last
            s_prev, (m_prev, lam_prev) = sig[i - 1], history[-1]
            x = _update(
                x_prev, m_prev, history, s_prev, s, lam_prev, lam - lam_prev, used, denoised
            )
        report(callback, i, x, sigmas[i], sigmas[i + 1], denoised)
        history.append((denoised, lam))
        del history[:-order]  # only the last `order` outputs are ever read
        if t == 0:
            return denoised
        used = min(order, i + 1, len(sig) - 1 - i if lower_order_final else order)
        h = -math.log(t) - lam
        last = (x, used)
        x = _update(x, denoised, history, s, t, lam, h, used)
    return x
