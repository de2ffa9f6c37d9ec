"""DPM-Solver family (Lu et al. 2022, 2023) in σ-space, as popularised by k-diffusion.

With λ = −log σ (half the log-SNR) and h = λ_next − λ, the data-prediction exponential integrator
is x_next = (σ_next/σ) x + (1 − e^{−h}) x̂0 (= DDIM); the multistep variants replace x̂0 by a
polynomial extrapolation of past denoiser outputs in λ. The SDE variants (DPM-Solver++ SDE, eta > 0)
integrate the linear part of the reverse SDE exactly and add noise of variance
σ_next²(1 − e^{−2ηh}).
"""

from __future__ import annotations

import math

import torch

from ._common import batch_sigma, noise_like, prepare, report, to_d

__all__ = [
    "multistep_update",
    "multistep_weights",
    "sample_dpm_2",
    "sample_dpmpp_2m",
    "sample_dpmpp_2m_sde",
    "sample_dpmpp_3m",
]


@torch.no_grad()
def sample_dpm_2(denoiser, x, sigmas, *, generator=None, callback=None, extra_args=None):
    """DPM-Solver-2 (Lu et al. 2022, Alg. 1 with r = ½; singlestep, ε-form): an Euler (DDIM) half
    step to σ_mid = sqrt(σ σ_next) (the midpoint in log σ), then the full step with the slope
    there. Order 2. NFE = 2K − 1 if the last σ is 0 (an Euler step there), else 2K."""
    denoiser, x, sigmas = prepare(denoiser, x, sigmas, generator, extra_args)
    for i in range(len(sigmas) - 1):
        s, s_next = sigmas[i], sigmas[i + 1]
        denoised = denoiser(x, batch_sigma(x, s))
        report(callback, i, x, s, s_next, denoised)
        d = to_d(x, s, denoised)
        if s_next == 0:
            x = x + d * (s_next - s)
            continue
        s_mid = torch.sqrt(s * s_next)
        x_mid = x + d * (s_mid - s)
        d_mid = to_d(x_mid, s_mid, denoiser(x_mid, batch_sigma(x, s_mid)))
        x = x + d_mid * (s_next - s)
    return x


@torch.no_grad()
def sample_dpmpp_2m(denoiser, x, sigmas, *, generator=None, callback=None, extra_args=None):
    """DPM-Solver++(2M) (Lu et al. 2023, Alg. 2): multistep, 2nd order, data prediction.
    D_i = (1 + 1/(2r)) x̂0_i − 1/(2r) x̂0_{i−1}, r = h_{i−1}/h_i; first and last steps first order.
    NFE = K."""
    return _multistep(
        denoiser,
        x,
        sigmas,
        order=2,
        eta=0.0,
        generator=generator,
        callback=callback,
        extra_args=extra_args,
    )


@torch.no_grad()
def sample_dpmpp_3m(
    denoiser,
    x,
    sigmas,
    *,
    eta: float = 0.0,
    warm_start: bool = True,
    generator=None,
    callback=None,
    extra_args=None,
):
    """DPM-Solver++(3M): third-order multistep in λ. With first and second divided differences
    D1, D2 of x̂0 in λ, x_next = e^{−h(1+η)} x + (1 − e^{−h(1+η)}) x̂0 + φ₂ D1 − φ₃ D2 (+ noise of
    variance σ_next²(1 − e^{−2ηh}) for η > 0), φ₂ = 1 − (1 − e^{−h'})/h', φ₃ = φ₂/h' − ½.

    A multistep method is only as accurate as its start: a first-order first step (k-diffusion's
    ``dpmpp_3m_sde``, ``warm_start=False``) has local error O(h²) and caps the global order at 2.
    ``warm_start=True`` (default) takes the first step with the second-order singlestep
    DPM-Solver++(2S) (one extra query at σ_mid = sqrt(σ_0 σ_1)), which restores global order 3.
    NFE = K + 1 with a warm start (unless the first step is the final one), else K."""
    return _multistep(
        denoiser,
        x,
        sigmas,
        order=3,
        eta=eta,
        generator=generator,
        callback=callback,
        extra_args=extra_args,
        warm_start=warm_start,
    )


@torch.no_grad()
def sample_dpmpp_2m_sde(
    denoiser, x, sigmas, *, eta: float = 1.0, generator=None, callback=None, extra_args=None
):
    """DPM-Solver++(2M) SDE (Lu et al. 2023, §5; k-diffusion's midpoint variant): η = 1 is the
    reverse SDE, η = 0 gives the 2M ODE. NFE = K."""
    return _multistep(
        denoiser,
        x,
        sigmas,
        order=2,
        eta=eta,
        generator=generator,
        callback=callback,
        extra_args=extra_args,
    )


def multistep_weights(h: float, past_h: list[float], order: int, eta: float) -> list[float]:
    """Weights a_j of one DPM-Solver++ multistep update x_next = e^{−h'} x + Σ_j a_j x̂0_j
    (:func:`multistep_update`), h' = h(1 + η), x̂0_0 the newest model output and x̂0_j the j-th
    previous one; ``past_h`` holds the previous steps' h, newest first (at most ``order`` − 1
    of them are used, fewer at the start: the order rises as history builds up).

    Order 2 (2M): x̂0 + ½ (h/h₁)(x̂0 − x̂0₁) in the (1 − e^{−h'}) term (k-diffusion's form).
    Order 3 (3M): the Taylor expansion of the exponential integrator with D1 and D2 from three
    outputs, φ₂ = (e^{−h'} − 1)/h' + 1, φ₃ = φ₂/h' − ½ (dpm-solver's ``multistep_update``
    split: the weights depend on step sizes only)."""
    he = h * (1 + eta)
    one_minus = -math.expm1(-he)  # 1 − e^{−h(1+η)}
    if not past_h:
        return [one_minus]
    h1 = past_h[0]
    if order == 2:
        c = 0.5 * one_minus * h / h1
        return [one_minus + c, -c]
    phi2 = math.expm1(-he) / he + 1
    if len(past_h) == 1:
        c = phi2 * h / h1
        return [one_minus + c, -c]
    h2 = past_h[1]
    r0, r1 = h1 / h, h2 / h
    # D1_0 = (x̂0 − x̂0₁)/r0, D1_1 = (x̂0₁ − x̂0₂)/r1,
    # D1 = D1_0 + (D1_0 − D1_1) r0/(r0+r1), D2 = (D1_0 − D1_1)/(r0+r1) ≈ h² x̂0''/2;
    # the Taylor term of the exponential integrator is (½ − φ₂/h') h² x̂0'' = −2φ₃ D2
    phi3 = phi2 / he - 0.5
    w_d1_0 = phi2 * (1 + r0 / (r0 + r1)) - 2 * phi3 / (r0 + r1)
    w_d1_1 = -phi2 * r0 / (r0 + r1) + 2 * phi3 / (r0 + r1)
    return [one_minus + w_d1_0 / r0, -w_d1_0 / r0 + w_d1_1 / r1, -w_d1_1 / r1]


def multistep_update(
    x: torch.Tensor, outputs: list[torch.Tensor], weights: list[float], h: float, eta: float
) -> torch.Tensor:
    """The deterministic part of one multistep update, e^{−h(1+η)} x + Σ_j a_j x̂0_j (one fused
    in-place add per output; the η > 0 noise is added by the loop)."""
    x_new = x * math.exp(-h * (1 + eta))
    for tensor, weight in zip(outputs, weights, strict=False):
        x_new.add_(tensor, alpha=weight)
    return x_new


def _multistep(
    denoiser, x, sigmas, *, order, eta, generator, callback, warm_start=False, extra_args=None
):
    """Shared DPM-Solver++ multistep loop (order 2 or 3, η ≥ 0); see the public docstrings.

    Every update is x_next = e^{−h'} x + Σ_j a_j x̂0_j with scalar weights a_j worked out in
    float64 Python arithmetic (cheap), then applied with in-place fused adds (few passes over x).
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    denoiser, x, sigmas = prepare(denoiser, x, sigmas, generator, extra_args)
    sig = sigmas.tolist()
    history: list[tuple[torch.Tensor, float]] = []  # (x̂0, h) of the previous steps
    for i in range(len(sig) - 1):
        s, s_next = sig[i], sig[i + 1]
        denoised = denoiser(x, batch_sigma(x, sigmas[i]))
        report(callback, i, x, sigmas[i], sigmas[i + 1], denoised)
        if s_next == 0:
            x = denoised
            continue
        h = math.log(s / s_next)  # λ_next − λ with λ = −log σ
        he = h * (1 + eta)
        one_minus = -math.expm1(-he)  # 1 − e^{−h(1+η)}
        if warm_start and not history:
            # DPM-Solver++(2S), r = ½: x̂0 at the log-σ midpoint replaces x̂0 (second order)
            s_mid = math.sqrt(s * s_next)
            x_mid = x * (s_mid / s)
            x_mid.add_(denoised, alpha=1 - s_mid / s)
            outputs = [denoiser(x_mid, batch_sigma(x, sigmas.new_tensor(s_mid)))]
            weights = [one_minus]
        else:
            outputs = [denoised, *(m for m, _ in reversed(history))]
            weights = multistep_weights(h, [h_j for _, h_j in reversed(history)], order, eta)
        x_new = multistep_update(x, outputs, weights, h, eta)
        if eta > 0:
            x_new.add_(
                noise_like(x, generator, (s, s_next)),
                alpha=s_next * math.sqrt(-math.expm1(-2 * eta * h)),
            )
        x = x_new
        history.append((denoised, h))
        del history[:-2]  # only the last two outputs are ever read
    return x
