"""First-order samplers in σ-space (x_σ = x0 + σ z), k-diffusion calling convention.

``sampler(denoiser, x, sigmas, *, generator=None, callback=None, extra_args=None, **options)
-> x`` where ``x`` is the initial noise already scaled by ``sigmas[0]``. Unless stated otherwise a
step to σ = 0 returns the denoiser output (the usual final "denoise" step).
"""

from __future__ import annotations

import math

import torch

from ._common import batch_sigma, noise_like, prepare, report, to_d

__all__ = [
    "sample_ddim",
    "sample_ddpm",
    "sample_ddpm_beta",
    "sample_euler",
    "sample_euler_maruyama",
    "sample_heun",
]


@torch.no_grad()
def sample_euler(denoiser, x, sigmas, *, generator=None, callback=None, extra_args=None):
    """Euler on the probability-flow ODE dx/dσ = (x − D(x, σ))/σ (Karras et al. 2022, Alg. 1
    without the correction). Order 1. NFE = K."""
    denoiser, x, sigmas = prepare(denoiser, x, sigmas, generator, extra_args)
    for i in range(len(sigmas) - 1):
        denoised = denoiser(x, batch_sigma(x, sigmas[i]))
        report(callback, i, x, sigmas[i], sigmas[i + 1], denoised)
        x = x + to_d(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
    return x


def _churn(x, sigma, n_steps, s_churn, s_tmin, s_tmax, s_noise, generator):
    """EDM stochastic churn (Karras et al. 2022, Alg. 2 lines 4–6): raise σ to
    σ̂ = σ(1+γ), γ = min(S_churn/K, √2 − 1) inside [S_tmin, S_tmax], adding fresh noise of
    variance σ̂² − σ² (scaled by S_noise)."""
    gamma = min(s_churn / n_steps, math.sqrt(2.0) - 1.0) if s_tmin <= sigma <= s_tmax else 0.0
    if gamma == 0.0:
        return x, sigma
    sigma_hat = sigma * (gamma + 1.0)
    x = x + noise_like(x, generator) * s_noise * torch.sqrt(sigma_hat**2 - sigma**2)
    return x, sigma_hat


@torch.no_grad()
def sample_heun(
    denoiser,
    x,
    sigmas,
    *,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
    generator=None,
    callback=None,
    extra_args=None,
):
    """Heun's 2nd-order method on the PF-ODE (Karras et al. 2022, Alg. 1), with the optional
    stochastic churn of Alg. 2 (``s_churn`` > 0). NFE = 2K − 1 if the last σ is 0 (an Euler step
    there), else 2K."""
    if s_churn < 0 or s_noise < 0:
        raise ValueError(f"s_churn and s_noise must be >= 0, got {s_churn}, {s_noise}")
    denoiser, x, sigmas = prepare(denoiser, x, sigmas, generator, extra_args)
    n = len(sigmas) - 1
    for i in range(n):
        s, s_next = sigmas[i], sigmas[i + 1]
        if s_churn > 0:
            x, s = _churn(x, s, n, s_churn, s_tmin, s_tmax, s_noise, generator)
        denoised = denoiser(x, batch_sigma(x, s))
        report(callback, i, x, sigmas[i], s_next, denoised, sigma_hat=s)
        d = to_d(x, s, denoised)
        x_euler = x + d * (s_next - s)
        if s_next == 0:
            x = x_euler
        else:
            d2 = to_d(x_euler, s_next, denoiser(x_euler, batch_sigma(x, s_next)))
            x = x + 0.5 * (d + d2) * (s_next - s)
    return x


def _denoise_then_update(denoiser, x, sigmas, generator, callback, update, extra_args=None):
    """Loop shared by the one-query-per-step samplers: query D at σ_i, report, then
    ``x = update(x, denoised, σ_i, σ_{i+1})``; a step to σ = 0 returns D."""
    denoiser, x, sigmas = prepare(denoiser, x, sigmas, generator, extra_args)
    for i in range(len(sigmas) - 1):
        s, t = sigmas[i], sigmas[i + 1]
        denoised = denoiser(x, batch_sigma(x, s))
        report(callback, i, x, s, t, denoised)
        x = denoised if t == 0 else update(x, denoised, s, t)
    return x


@torch.no_grad()
def sample_ddim(
    denoiser, x, sigmas, *, eta: float = 0.0, generator=None, callback=None, extra_args=None
):
    """DDIM (Song et al. 2021, eq. 12) in σ-space with stochasticity η ∈ [0, 1]:

    x_t = x̂0 + sqrt(σ_t² − c²)·ε̂ + c·ξ,  ε̂ = (x_s − x̂0)/σ_s,  c = η σ_t sqrt(1 − σ_t²/σ_s²).

    η = 0 is deterministic DDIM (the exponential integrator of the PF-ODE, order 1); η = 1 is the
    DDPM posterior / frozen-x0 sampler of ``las.md`` §2. NFE = K."""
    if not 0.0 <= float(eta) <= 1.0:
        raise ValueError(f"eta must lie in [0, 1], got {eta}")

    def update(x, denoised, s, t):
        # 1 − t²/s² = (s − t)(s + t)/s², free of cancellation when t ≈ s
        c = eta * t * torch.sqrt((s - t) * (s + t)) / s
        x = denoised + torch.sqrt(t**2 - c**2) * (x - denoised) / s
        return x + c * noise_like(x, generator, (s, t)) if eta > 0 else x

    return _denoise_then_update(denoiser, x, sigmas, generator, callback, update, extra_args)


@torch.no_grad()
def sample_ddpm(denoiser, x, sigmas, *, generator=None, callback=None, extra_args=None):
    """DDPM ancestral sampling with the posterior (β̃) variance on the given σ grid — the
    frozen-x0 exponential integrator of the reverse SDE (``las.md`` §2, VE form):

    x_t = x̂0 + (σ_t²/σ_s²)(x_s − x̂0) + σ_t sqrt(1 − σ_t²/σ_s²) ξ.

    This is the sampler for which the LAS objective and :func:`scorelab.theory.
    discretization_error` are exact. NFE = K."""
    return sample_ddim(
        denoiser, x, sigmas, eta=1.0, generator=generator, callback=callback, extra_args=extra_args
    )


@torch.no_grad()
def sample_euler_maruyama(denoiser, x, sigmas, *, generator=None, callback=None, extra_args=None):
    """Euler–Maruyama for the reverse VE SDE in τ = σ² (Song et al. 2021, "reverse diffusion"
    predictor): x_next = x + Δτ·∇log p_σ(x) + sqrt(Δτ)·ξ, Δτ = σ² − σ_next², with the score
    (D − x)/σ². Weak order 1. NFE = K (a step to σ = 0 returns D)."""

    def update(x, denoised, s, t):
        dtau = (s - t) * (s + t)
        noise = noise_like(x, generator, (s, t))
        return x + dtau * (denoised - x) / s**2 + torch.sqrt(dtau) * noise

    return _denoise_then_update(denoiser, x, sigmas, generator, callback, update, extra_args)


@torch.no_grad()
def sample_ddpm_beta(denoiser, x, sigmas, *, generator=None, callback=None, extra_args=None):
    """The DDPM sampler analysed in the convergence theory (Ho et al. 2020 with σ_t² = β_t; e.g.
    Li et al. 2024, arXiv 2403.03852, eq. (1.3)), written for a VP state Y = √ᾱ x:

    Y_{t−1} = (Y_t + (1 − α_t) s_t(Y_t))/√α_t + sqrt(1 − α_t) Z,  α_t = ᾱ_t/ᾱ_{t−1},

    with the VP score s_t(y) = (√ᾱ_t D(y/√ᾱ_t, σ_t) − y)/(1 − ᾱ_t). NFE = K (a step to σ = 0
    returns D)."""

    def update(x, denoised, s, t):
        ab_s, ab_t = 1 / (1 + s**2), 1 / (1 + t**2)
        a = ab_s / ab_t  # α_t of the step, in (0, 1)
        y = torch.sqrt(ab_s) * x
        score = (torch.sqrt(ab_s) * denoised - y) / (1 - ab_s)
        noise = noise_like(x, generator, (s, t))
        y = (y + (1 - a) * score) / torch.sqrt(a) + torch.sqrt(1 - a) * noise
        return y / torch.sqrt(ab_t)

    return _denoise_then_update(denoiser, x, sigmas, generator, callback, update, extra_args)
