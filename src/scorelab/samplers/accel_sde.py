"""scorelab's accelerated stochastic sampler ``accel_sde`` — ours, built *after the mechanism* of
Li & Cai, "Provable Acceleration for Diffusion Models under Minimal Assumptions" (arXiv
2410.23285), whose algorithm box we could not read. See ``docs/design/accel.md``.

From the paper (as its abstract and summaries state it): a training-free *stochastic* sampler;
fresh randomness every iteration; an intermediate variable formed first, then a second-order
("momentum-like") correction of the probability-flow part; a clipping step that keeps large score
errors from blowing the update up; TV error of second order in the step (Õ(d^{5/4}/√ε)
iterations) under L²-accurate scores only. Every formula below is our choice, fixed by
measurement (``docs/design/accel.md`` §3 has the numbers).

One step from σ = s to σ = t (λ = −log σ, h = λ_t − λ_s, H = (1 + η) h), on the η-family of
reverse SDEs whose linear part is integrated exactly (η = 1: the reverse SDE; η = 0: the PF-ODE):

1. *first-order move* (for η = 1 the DDPM posterior step),
   x₁ = e^{−H} x + (1 − e^{−H}) D_s + t·sqrt(1 − e^{−2ηh})·ξ,  D_s = x̂0 at (x, s);
2. *intermediate variable*: x̂0 extrapolated linearly in λ through the previous level,
   x̄ = x₁ + ½(1 − e^{−H})·(h/h_prev)·(D_s − D_prev)   — **the same noise ξ** (this is the
   DPM-Solver++(2M) SDE step, Lu et al. 2023, k-diffusion's midpoint form);
3. *second-order correction*: one query D_t = x̂0 at (x̄, t), and
   x_t = x₁ + ½(1 − e^{−H})·(D_t − D_s)
   (UniPC's UniC-1 corrector with B(h) = e^h − 1, Zhao et al. 2023, carried to the SDE family:
   the trapezoidal rule on x̂0 with the kernel's weight halved);
4. *clipping* (a limiter): the extrapolation of 2. and the correction of 3. are each rescaled, per
   sample, to at most ``clip``·‖x₁ − x‖ — a higher-order term may never be larger than the
   first-order move itself. A model that is wrong in a small region (large Jacobian error, small
   L² error) cannot make a step larger than (1 + 2·clip)× a DDPM step; for an accurate model the
   terms are O(h) smaller than the move and the clip does not fire once the grid is fine;
5. D_t is reused as the next step's D_s (as UniPC reuses its corrector's query), so the sampler
   costs one query per level, NFE = K + 1 − [σ_K = 0] (:func:`accel_sde_nfe`).

*Burn-in*: the first ``burn_in`` steps (default 2) are plain first-order moves (step 1 only); on
the acceleration experiment's mixture at 8 queries this cut the error under a 0.1 score error
from 4.7 to 0.33 (the coarsest, noisiest steps are where an extrapolated x̂0 hurts most).

The exact-integral weights (J₁(H) = 1 − (1 − e^{−H})/H for the correction, and the matching
extrapolation weight) have the same leading term H/2 and gave the same order, but 2–7× larger
errors at 16–32 queries on the acceleration experiment's mixture; the halved kernel weight was
kept (``docs/design/accel.md`` §3).
"""

from __future__ import annotations

import math

import torch

from ._common import (
    batch_sigma,
    noise_like,
    prepare,
    report,
)

__all__ = ["BURN_IN", "accel_sde_nfe", "sample_accel_sde"]

#: default number of leading first-order steps (measured: docs/design/accel.md §3)
BURN_IN = 2


def accel_sde_nfe(sigmas, burn_in: int = BURN_IN) -> int:
    """Queries of :func:`sample_accel_sde`: one per level σ_0 … σ_K except a final 0 — K + 1 − z —
    unless every step to a positive level is a burn-in step; then one per step, K."""
    k, z = len(sigmas) - 1, int(float(sigmas[-1]) == 0.0)
    return k + 1 - z if k - z > burn_in else k


def _limit(term: torch.Tensor, bound: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Rescale each sample of ``term`` to norm ≤ ``bound`` (per sample); returns the limited term
    and how many samples were rescaled."""
    norm = term.reshape(term.shape[0], -1).norm(dim=1)
    factor = torch.where(norm > bound, bound / norm.clamp_min(torch.finfo(norm.dtype).tiny), 1.0)
    fired = int((factor < 1).sum())
    if fired:
        term = term * factor.reshape(-1, *([1] * (term.ndim - 1)))
    return term, fired


def _phi2(H: float) -> float:
    """J₁(H) = 1 − (1 − e^{−H})/H, by its series where the closed form cancels."""
    return H / 2 - H * H / 6 + H**3 / 24 if H < 1e-3 else 1 + math.expm1(-H) / H


@torch.no_grad()
def sample_accel_sde(
    denoiser,
    x,
    sigmas,
    *,
    eta: float = 1.0,
    clip: float | None = 1.0,
    burn_in: int = BURN_IN,
    weights: str = "half",
    stats: dict | None = None,
    generator=None,
    callback=None,
    extra_args=None,
):
    """scorelab's accelerated stochastic sampler (see the module docstring for the equations).

    Args:
        denoiser: ``denoiser(x, sigma) -> x̂0``.
        x: initial state at ``sigmas[0]`` (noise already scaled).
        sigmas: strictly decreasing σ grid, optionally ending in 0.
        eta: stochasticity η ≥ 0 of the SDE family (1 = reverse SDE, 0 = PF-ODE). Default 1: the
            measured robustness to score error needs the full SDE's contraction.
        clip: limiter factor τ > 0 (higher-order terms ≤ τ·‖first-order move‖ per sample), or
            ``None`` for no clipping.
        burn_in: number of leading steps taken as plain first-order moves (default 2).
        weights: ``"half"`` (default) weighs the extrapolation and the correction with
            ½(1 − e^{−H}); ``"exact"`` with J₁(H) = 1 − (1 − e^{−H})/H, the exact integral of
            the linear interpolant. Same leading term H/2, same order; "half" measured better.
        stats: if a dict, receives ``clipped`` (sample-terms rescaled), ``checked`` (sample-terms
            tested) and ``clip_fraction`` (their ratio) at the end.
        generator: torch.Generator for the noise ξ.
        callback: called once per step with k-diffusion's keys plus ``clipped`` (samples whose
            terms were limited in that step).

    NFE: :func:`accel_sde_nfe` (one query per level of the grid, the final 0 excepted)."""
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    if clip is not None and not clip > 0:
        raise ValueError(f"clip must be > 0 or None, got {clip}")
    if isinstance(burn_in, bool) or not isinstance(burn_in, int) or burn_in < 0:
        raise ValueError(f"burn_in must be an int >= 0, got {burn_in!r}")
    if weights not in ("half", "exact"):
        raise ValueError(f"weights must be 'half' or 'exact', got {weights!r}")
    denoiser, x, sigmas = prepare(denoiser, x, sigmas, generator, extra_args)
    sig = sigmas.tolist()
    denoised = None  # x̂0 at the current state's level (reused from the previous query)
    previous: tuple[torch.Tensor, float] | None = None  # (x̂0, h) of the previous level
    clipped = checked = 0
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        if denoised is None:
            denoised = denoiser(x, batch_sigma(x, sigmas[i]))
        if t == 0:
            report(callback, i, x, sigmas[i], sigmas[i + 1], denoised, clipped=0)
            x = denoised
            break
        h = math.log(s / t)
        H = h * (1 + eta)
        weight = -math.expm1(-H)  # 1 − e^{−H}
        higher_weight = 0.5 * weight if weights == "half" else _phi2(H)
        move = x * math.exp(-H)
        move.add_(denoised, alpha=weight)
        if eta > 0:
            noise = noise_like(x, generator, (s, t))
            move.add_(noise, alpha=t * math.sqrt(-math.expm1(-2 * eta * h)))
        if i < burn_in:
            report(callback, i, x, sigmas[i], sigmas[i + 1], denoised, clipped=0)
            x, denoised, previous = move, None, None
            continue
        bound = (move - x).reshape(x.shape[0], -1).norm(dim=1) * clip if clip else None
        fired = 0
        x_bar = move
        if previous is not None:
            extrapolation = (denoised - previous[0]) * (higher_weight * h / previous[1])
            if bound is not None:
                extrapolation, n = _limit(extrapolation, bound)
                fired += n
            x_bar = move + extrapolation
        denoised_t = denoiser(x_bar, batch_sigma(x, sigmas[i + 1]))
        correction = (denoised_t - denoised) * higher_weight
        if bound is not None:
            correction, n = _limit(correction, bound)
            fired += n
            checked += x.shape[0] * (2 if previous is not None else 1)
        clipped += fired
        report(callback, i, x, sigmas[i], sigmas[i + 1], denoised, clipped=fired)
        x = move + correction
        previous, denoised = (denoised, h), denoised_t
    if stats is not None:
        stats.update(clipped=clipped, checked=checked, clip_fraction=clipped / max(checked, 1))
    return x
