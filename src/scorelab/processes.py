"""Noise processes and conversions between their parametrisations.

scorelab works in the VE/EDM parametrisation x_σ = x0 + σ z (σ ≥ 0). Every linear forward process
x_t = α_t x0 + s_t z is the same Gaussian channel up to the scaling x_t = α_t x_σ with
σ = s_t / α_t, so all processes are described by one of these equivalent coordinates:

======================  ==========================  ===========================================
quantity                symbol                      relation to σ
======================  ==========================  ===========================================
VE/EDM noise level      σ                           —
signal-to-noise ratio   γ = α²/s²                   γ = 1/σ²
log-SNR                 λ = log γ                   λ = −2 log σ
VP ᾱ (DDPM)             ᾱ = α²                      ᾱ = 1/(1+σ²) = sigmoid(λ)
OU / VP time            t (α = e^{−t})              t = ½ log(1+σ²)
flow-matching time      t (x_t = (1−t)x0 + tε)      t = σ/(1+σ), σ = t/(1−t)
======================  ==========================  ===========================================

Flow matching (rectified flow: SD3, Flux, Wan) is the same channel with α = 1 − t, s = t, so
x_σ = x_t/(1 − t); its velocity v = ε − x0 gives x̂0 = x_t − t v̂. The *shift* s of flow schedulers
(t′ = s t/(1 + (s−1) t)) is σ′ = s σ, a constant factor in σ; Flux's exponential time shift with
μ and exponent 1 is the shift s = e^μ.

(`docs/design/las.md` §1.) All functions accept NumPy arrays, torch tensors or Python floats,
are vectorised, return the same kind they were given, and validate ranges. Formulas use
``log1p``/``expm1`` so that both σ → 0 and σ → ∞ stay accurate.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch

ArrayLike = TypeVar("ArrayLike", float, np.ndarray, torch.Tensor)

__all__ = [
    "alpha_bar_to_sigma",
    "alphas_cumprod",
    "ddpm_betas",
    "ddpm_sigmas",
    "flow_time_shift",
    "flow_time_to_sigma",
    "flux_time_shift",
    "log_snr_to_sigma",
    "ou_time_to_sigma",
    "sigma_to_alpha_bar",
    "sigma_to_flow_time",
    "sigma_to_log_snr",
    "sigma_to_ou_time",
    "sigma_to_snr",
    "sigma_to_timestep",
    "sigma_to_vp_time",
    "snr_to_sigma",
    "timestep_to_sigma",
    "vp_time_to_sigma",
]


def _lib(x):
    return torch if isinstance(x, torch.Tensor) else np


def _as_array(x):
    if isinstance(x, torch.Tensor):
        return x
    return np.asarray(x, dtype=np.float64)


def _ret(orig, out):
    if isinstance(orig, (float, int)) and not isinstance(orig, bool):
        return float(out)
    return out


def _check(name: str, x, *, low: float, high: float, low_open: bool, high_open: bool) -> None:
    """Raise if any entry is NaN or outside the interval (±inf fail unless the bound is a closed
    infinite end)."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if np.isnan(a).any():
        raise ValueError(f"{name} must not be NaN")
    below = (a <= low) if low_open else (a < low)
    above = (a >= high) if high_open else (a > high)
    if below.any() or above.any():
        bad = a[below | above].reshape(-1)[:3].tolist()
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"{name} must lie in {lo}{low}, {high}{hi}, got {bad}")


# --- σ <-> SNR / log-SNR ------------------------------------------------------------------------


def sigma_to_snr(sigma: ArrayLike) -> ArrayLike:
    """γ = 1/σ² (σ ∈ [0, ∞]; σ = 0 gives γ = ∞)."""
    s = _as_array(sigma)
    _check("sigma", s, low=0.0, high=math.inf, low_open=False, high_open=False)
    with np.errstate(divide="ignore"):
        return _ret(sigma, 1.0 / s**2)


def snr_to_sigma(snr: ArrayLike) -> ArrayLike:
    """σ = γ^{−1/2} (γ ∈ [0, ∞])."""
    g = _as_array(snr)
    _check("snr", g, low=0.0, high=math.inf, low_open=False, high_open=False)
    with np.errstate(divide="ignore"):
        return _ret(snr, 1.0 / _lib(g).sqrt(g))


def sigma_to_log_snr(sigma: ArrayLike) -> ArrayLike:
    """λ = −2 log σ (σ ∈ (0, ∞))."""
    s = _as_array(sigma)
    _check("sigma", s, low=0.0, high=math.inf, low_open=True, high_open=True)
    return _ret(sigma, -2.0 * _lib(s).log(s))


def log_snr_to_sigma(log_snr: ArrayLike) -> ArrayLike:
    """σ = exp(−λ/2) (λ ∈ ℝ)."""
    lam = _as_array(log_snr)
    _check("log_snr", lam, low=-math.inf, high=math.inf, low_open=True, high_open=True)
    return _ret(log_snr, _lib(lam).exp(-0.5 * lam))


# --- σ <-> VP ᾱ, OU time --------------------------------------------------------------------------


def sigma_to_alpha_bar(sigma: ArrayLike) -> ArrayLike:
    """ᾱ = 1/(1+σ²) ∈ (0, 1] (VP signal power; σ ∈ [0, ∞))."""
    s = _as_array(sigma)
    _check("sigma", s, low=0.0, high=math.inf, low_open=False, high_open=True)
    return _ret(sigma, 1.0 / (1.0 + s**2))


def alpha_bar_to_sigma(alpha_bar: ArrayLike) -> ArrayLike:
    """σ = sqrt((1−ᾱ)/ᾱ) for ᾱ ∈ (0, 1]."""
    a = _as_array(alpha_bar)
    _check("alpha_bar", a, low=0.0, high=1.0, low_open=True, high_open=False)
    return _ret(alpha_bar, _lib(a).sqrt((1.0 - a) / a))


def sigma_to_ou_time(sigma: ArrayLike) -> ArrayLike:
    """OU time t with α_t = e^{−t}, s_t² = 1 − e^{−2t}:  t = ½ log1p(σ²)."""
    s = _as_array(sigma)
    _check("sigma", s, low=0.0, high=math.inf, low_open=False, high_open=True)
    return _ret(sigma, 0.5 * _lib(s).log1p(s**2))


def ou_time_to_sigma(t: ArrayLike) -> ArrayLike:
    """σ = sqrt(expm1(2t)) for OU time t ≥ 0."""
    tt = _as_array(t)
    _check("t", tt, low=0.0, high=math.inf, low_open=False, high_open=True)
    return _ret(t, _lib(tt).sqrt(_lib(tt).expm1(2.0 * tt)))


# --- continuous VP (Song et al. 2021), as in k-diffusion's get_sigmas_vp -------------------------


def vp_time_to_sigma(t: ArrayLike, beta_d: float = 19.9, beta_min: float = 0.1) -> ArrayLike:
    """Continuous VP-SDE: ᾱ(t) = exp(−½β_d t² − β_min t), t ∈ [0, 1];
    σ(t) = sqrt(expm1(½β_d t² + β_min t))."""
    tt = _as_array(t)
    _check("t", tt, low=0.0, high=1.0, low_open=False, high_open=False)
    if beta_d < 0 or beta_min < 0 or beta_d + beta_min <= 0:
        raise ValueError(
            f"need beta_d, beta_min >= 0 with a positive sum, got {beta_d}, {beta_min}"
        )
    return _ret(t, _lib(tt).sqrt(_lib(tt).expm1(0.5 * beta_d * tt**2 + beta_min * tt)))


def sigma_to_vp_time(sigma: ArrayLike, beta_d: float = 19.9, beta_min: float = 0.1) -> ArrayLike:
    """Inverse of :func:`vp_time_to_sigma`: root of ½β_d t² + β_min t = log1p(σ²)."""
    s = _as_array(sigma)
    _check("sigma", s, low=0.0, high=math.inf, low_open=False, high_open=True)
    lib = _lib(s)
    c = lib.log1p(s**2)
    if beta_d == 0:
        t = c / beta_min
    else:
        # numerically stable root of a t² + b t − c = 0 with a = β_d/2, b = β_min
        t = 2.0 * c / (beta_min + lib.sqrt(beta_min**2 + 2.0 * beta_d * c))
    _check("vp time of sigma", t, low=0.0, high=1.0 + 1e-12, low_open=False, high_open=False)
    return _ret(sigma, t)


# --- flow matching (rectified flow) ------------------------------------------------------------


def flow_time_to_sigma(t: ArrayLike) -> ArrayLike:
    """σ = t/(1 − t) for flow time t ∈ [0, 1] (t = 1, pure noise, is σ = ∞)."""
    tt = _as_array(t)
    _check("t", tt, low=0.0, high=1.0, low_open=False, high_open=False)
    with np.errstate(divide="ignore"):
        return _ret(t, tt / (1.0 - tt))


def sigma_to_flow_time(sigma: ArrayLike) -> ArrayLike:
    """t = σ/(1 + σ) = 1/(1 + 1/σ) ∈ [0, 1] (σ = ∞ gives t = 1)."""
    s = _as_array(sigma)
    _check("sigma", s, low=0.0, high=math.inf, low_open=False, high_open=False)
    lib = _lib(s)
    with np.errstate(divide="ignore", invalid="ignore"):
        big = s > 1.0
        out = lib.where(big, 1.0 / (1.0 + 1.0 / lib.where(big, s, 1.0)), s / (1.0 + s))
    return _ret(sigma, out)


def flow_time_shift(t: ArrayLike, shift: float) -> ArrayLike:
    """Shifted flow time t′ = s t/(1 + (s − 1) t) (SD3's ``shift``; ``1/shift`` undoes it).

    In σ this is σ′ = s σ, so any scorelab grid for a model that samples with shift s is the
    shift-1 grid times s."""
    if not (math.isfinite(shift) and shift > 0):
        raise ValueError(f"shift must be finite and > 0, got {shift}")
    tt = _as_array(t)
    _check("t", tt, low=0.0, high=1.0, low_open=False, high_open=False)
    return _ret(t, shift * tt / (1.0 + (shift - 1.0) * tt))


def flux_time_shift(t: ArrayLike, mu: float, exponent: float = 1.0) -> ArrayLike:
    """Flux's resolution-dependent shift t′ = e^μ/(e^μ + (1/t − 1)^exponent), t ∈ (0, 1]; with
    exponent 1 it is :func:`flow_time_shift` with s = e^μ."""
    if not (math.isfinite(mu) and math.isfinite(exponent) and exponent > 0):
        raise ValueError(f"need finite mu and exponent > 0, got mu={mu}, exponent={exponent}")
    tt = _as_array(t)
    _check("t", tt, low=0.0, high=1.0, low_open=True, high_open=False)
    return _ret(t, math.exp(mu) / (math.exp(mu) + (1.0 / tt - 1.0) ** exponent))


# --- DDPM discrete β schedules ----------


def ddpm_betas(
    kind: str = "linear",
    num_timesteps: int = 1000,
    *,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    cosine_s: float = 8e-3,
    max_beta: float = 0.999,
) -> np.ndarray:
    """β_1..β_T of a DDPM model (float64).

    * ``linear`` (Ho et al. 2020): β linear from ``beta_start`` to ``beta_end``.
    * ``scaled_linear`` (Stable Diffusion): √β linear.
    * ``cosine`` (Nichol & Dhariwal 2021, iDDPM eq. 17): ᾱ(t) = cos²((t/T + s)/(1+s)·π/2)/ᾱ(0),
      β_t = min(1 − ᾱ_t/ᾱ_{t−1}, ``max_beta``).
    """
    if not isinstance(num_timesteps, int) or num_timesteps < 2:
        raise ValueError(f"num_timesteps must be an int >= 2, got {num_timesteps!r}")
    if kind in ("linear", "scaled_linear"):
        if not 0 < beta_start < beta_end < 1:
            raise ValueError(f"need 0 < beta_start < beta_end < 1, got {beta_start}, {beta_end}")
        if kind == "linear":
            return np.linspace(beta_start, beta_end, num_timesteps, dtype=np.float64)
        return np.linspace(beta_start**0.5, beta_end**0.5, num_timesteps, dtype=np.float64) ** 2
    if kind == "cosine":
        steps = np.arange(num_timesteps + 1, dtype=np.float64) / num_timesteps
        f = np.cos((steps + cosine_s) / (1 + cosine_s) * math.pi / 2) ** 2
        betas = 1.0 - f[1:] / f[:-1]
        return np.clip(betas, 0.0, max_beta)
    raise ValueError(
        f"unknown beta schedule {kind!r}; expected 'linear', 'scaled_linear' or 'cosine'"
    )


def alphas_cumprod(betas: np.ndarray) -> np.ndarray:
    """ᾱ_t = Π_{s≤t} (1 − β_s), computed as exp(Σ log1p(−β)) for accuracy."""
    b = np.asarray(betas, dtype=np.float64)
    if b.ndim != 1 or not np.all(np.isfinite(b)) or np.any(b <= 0) or np.any(b >= 1):
        raise ValueError("betas must be a 1-D array with entries in (0, 1)")
    return np.exp(np.cumsum(np.log1p(-b)))


def ddpm_sigmas(betas: np.ndarray) -> np.ndarray:
    """σ_t of each discrete DDPM timestep t = 0..T−1 (increasing)."""
    return alpha_bar_to_sigma(alphas_cumprod(betas))


def timestep_to_sigma(timestep: ArrayLike, sigmas: np.ndarray) -> ArrayLike:
    """σ at a (possibly fractional) DDPM timestep, log-linear interpolation between the model's
    discrete σ's (k-diffusion's ``DiscreteSchedule.t_to_sigma``)."""
    t = _as_array(timestep)
    table = np.asarray(sigmas, dtype=np.float64)
    _check("timestep", t, low=0.0, high=len(table) - 1, low_open=False, high_open=False)
    tn = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t
    out = np.exp(np.interp(tn, np.arange(len(table)), np.log(table)))
    if isinstance(t, torch.Tensor):
        return torch.as_tensor(
            out, dtype=t.dtype if t.is_floating_point() else torch.float64, device=t.device
        )
    return _ret(timestep, out)


def sigma_to_timestep(sigma: ArrayLike, sigmas: np.ndarray) -> ArrayLike:
    """Fractional DDPM timestep for σ (inverse of :func:`timestep_to_sigma`, linear in log σ).

    σ outside [σ_0, σ_{T−1}] is an error: the model was never trained there."""
    s = _as_array(sigma)
    table = np.asarray(sigmas, dtype=np.float64)
    _check(
        "sigma",
        s,
        low=float(table[0]) * (1 - 1e-9),
        high=float(table[-1]) * (1 + 1e-9),
        low_open=False,
        high_open=False,
    )
    sn = s.detach().cpu().numpy() if isinstance(s, torch.Tensor) else s
    out = np.interp(np.log(sn), np.log(table), np.arange(len(table), dtype=np.float64))
    if isinstance(s, torch.Tensor):
        return torch.as_tensor(out, dtype=s.dtype, device=s.device)
    return _ret(sigma, out)
