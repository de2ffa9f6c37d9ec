"""Provably accelerated samplers from the convergence-theory literature.

Li, Huang, Efimov, Wei, Chi, Chen, "Accelerating Convergence of Score-Based Diffusion Models,
Provably", ICML 2024, arXiv 2403.03852. In the paper's VP notation (Y_t = √ᾱ_t x_σ, per-step
α_t = ᾱ_t/ᾱ_{t−1}, score s_t):

* accelerated **stochastic** sampler (rate O(1/T) in TV vs O(1/√T) for DDPM):
  Y_t⁺ = Y_t + sqrt((1−α_t)/2) Z_t,
  Y_{t−1} = (Y_t⁺ + (1−α_t) s_t(Y_t⁺))/√α_t + sqrt((1−α_t)/2) Z_t⁺ — half of the step's noise is
  injected *before* the score query, half after;
* accelerated **deterministic** sampler (rate O(1/T²) vs O(1/T) for DDIM): the DDIM step plus a
  second-order correction from the previous step's ε̂, linear in ᾱ:
  X_{t−1} = X_t/√α_t + (sqrt(1−ᾱ_{t−1}) − sqrt(1−ᾱ_t)/√α_t) ε_t
            + √ᾱ_{t−1}/(ᾱ_t − ᾱ_{t+1}) · c_t · (ε_{t+1} − ε_t),
  c_t = ᾱ_t sqrt(1−ᾱ_{t−1})/√ᾱ_{t−1} + arcsin√ᾱ_{t−1} − ᾱ_t sqrt(1−ᾱ_t)/√ᾱ_t − arcsin√ᾱ_t.

In σ-space (ᾱ = 1/(1+σ²), ε̂ = (x − D)/σ) the ODE update is exactly the integral of the
PF-ODE dx/dσ = ε with ε linear in ᾱ through the last two nodes:
x_next = x + (σ_next − σ) ε_i + c_i (ε_i − ε_{i−1}), with
c_i = [atan σ_next − atan σ − ᾱ_i (σ_next − σ)]/(ᾱ_i − ᾱ_{i−1})
(the c_t above, since atan σ = π/2 − arcsin √ᾱ). Both use one score query per step.

The step sizes these papers analyse are the learning-rate schedule of
:func:`scorelab.schedules.theory_learning_rate` (Li et al. eq. (2.3)).
"""

from __future__ import annotations

import math

import torch

from ._common import batch_sigma, noise_like, prepare, report

__all__ = [
    "sample_li_accelerated_ode",
    "sample_li_accelerated_sde",
    "sample_randomized_midpoint",
]


@torch.no_grad()
def sample_li_accelerated_ode(
    denoiser, x, sigmas, *, generator=None, callback=None, extra_args=None
):
    """Accelerated deterministic sampler of Li et al. 2024 (arXiv 2403.03852), see module doc.
    The first step (no previous ε̂) is plain DDIM. NFE = K."""
    denoiser, x, sigmas = prepare(denoiser, x, sigmas, generator, extra_args)
    prev_eps = None
    for i in range(len(sigmas) - 1):
        s, s_next = sigmas[i], sigmas[i + 1]
        denoised = denoiser(x, batch_sigma(x, s))
        report(callback, i, x, s, s_next, denoised)
        eps = (x - denoised) / s
        x_new = x + (s_next - s) * eps
        if prev_eps is not None:
            coef = _li_correction(float(sigmas[i - 1]), float(s), float(s_next))
            x_new = x_new + coef * (eps - prev_eps)
        x, prev_eps = x_new, eps
    return x


def _li_correction(s_prev: float, s: float, s_next: float) -> float:
    """c_i = [atan σ' − atan σ − ᾱ_i (σ' − σ)]/(ᾱ_i − ᾱ_{i−1}) (σ' = σ_next), in float64 and in
    cancellation-free form: with h = σ' − σ and u = h/(1 + σσ'), atan σ' − atan σ = atan u and
    u − ᾱ_i h = −h²σ/((1 + σσ')(1 + σ²)); ᾱ_i − ᾱ_{i−1} = (σ_{i−1}² − σ²)/((1 + σ²)(1 + σ_{i−1}²)).
    The direct form loses every digit in float32 once consecutive ᾱ agree to 1e-7 (fine grids
    at large σ), and then divides 0 by 0."""
    h = s_next - s
    u = h / (1 + s * s_next)
    numerator = (math.atan(u) - u) - h * h * s / ((1 + s * s_next) * (1 + s * s))
    denominator = (s_prev - s) * (s_prev + s) / ((1 + s * s) * (1 + s_prev * s_prev))
    return numerator / denominator


@torch.no_grad()
def sample_li_accelerated_sde(
    denoiser, x, sigmas, *, generator=None, callback=None, extra_args=None
):
    """Accelerated stochastic sampler of Li et al. 2024 (arXiv 2403.03852), see module doc; the
    score at Y⁺ is queried at the step's own noise level σ_t, as in the paper. A step to σ = 0
    returns D(x, σ). NFE = K."""
    denoiser, x, sigmas = prepare(denoiser, x, sigmas, generator, extra_args)
    for i in range(len(sigmas) - 1):
        s, t = sigmas[i], sigmas[i + 1]
        if t == 0:
            denoised = denoiser(x, batch_sigma(x, s))
            report(callback, i, x, s, t, denoised)
            x = denoised
            continue
        ab_s, ab_t = 1 / (1 + s**2), 1 / (1 + t**2)
        a = ab_s / ab_t  # per-step α_t ∈ (0, 1)
        half = torch.sqrt((1 - a) / 2)
        y_plus = torch.sqrt(ab_s) * x + half * noise_like(x, generator)
        x_plus = y_plus / torch.sqrt(ab_s)
        denoised = denoiser(x_plus, batch_sigma(x, s))
        report(callback, i, x_plus, s, t, denoised)
        score = (torch.sqrt(ab_s) * denoised - y_plus) / (1 - ab_s)
        y = (y_plus + (1 - a) * score) / torch.sqrt(a) + half * noise_like(x, generator)
        x = y / torch.sqrt(ab_t)
    return x


@torch.no_grad()
def sample_randomized_midpoint(
    denoiser, x, sigmas, *, generator=None, callback=None, extra_args=None
):
    """Randomized-midpoint probability-flow ODE sampler: the predictor of Gupta, Cai & Chen,
    "Faster Diffusion Sampling with Randomized Midpoints" (arXiv 2406.00924), after Shen & Lee's
    randomized midpoint method (NeurIPS 2019), written in σ-space. Their underdamped-Langevin
    corrector step is not included.

    The exact PF-ODE step from σ = s to σ = t (exponential-integrator form, λ = −log σ) is
    x_t = (t/s) x_s + t ∫_{λ_s}^{λ_t} e^{λ} D(x_λ, e^{−λ}) dλ.
    Drawing the midpoint level with density ∝ e^{λ} — i.e. 1/σ_u uniform on [1/s, 1/t] — makes
    (1 − t/s) D(x_u, σ_u) an *unbiased* estimate of the integral term given the exact path. The
    midpoint state comes from a DDIM (first-order exponential) step,
    x_u = (σ_u/s) x_s + (1 − σ_u/s) D(x_s, s).
    One uniform draw per step is shared by the batch (so the declared distinct levels are exact);
    per chain this is the randomized-midpoint method. NFE = 2 per step (1 for a step to σ = 0,
    which returns D(x_s, s)); distinct levels = 2K minus the final-zero step's midpoint.
    The per-chain error is the randomized method's: O(h²) bias plus an O(h^{3/2}) zero-mean
    fluctuation, so a single chain's law error has order 1.5 in the step size."""
    denoiser, x, sigmas = prepare(denoiser, x, sigmas, generator, extra_args)
    for i in range(len(sigmas) - 1):
        s, t = sigmas[i], sigmas[i + 1]
        denoised = denoiser(x, batch_sigma(x, s))
        report(callback, i, x, s, t, denoised)
        if t == 0:
            x = denoised
            continue
        u = torch.rand((), generator=generator, dtype=x.dtype, device=x.device)
        sigma_mid = 1 / (1 / s + u * (1 / t - 1 / s))
        x_mid = (sigma_mid / s) * x + (1 - sigma_mid / s) * denoised
        denoised_mid = denoiser(x_mid, batch_sigma(x, sigma_mid))
        x = (t / s) * x + (1 - t / s) * denoised_mid
    return x
