"""Exact error terms and bound calculators for a σ grid (``docs/design/las.md`` §2–3).

Grid convention: SNR γ = 1/σ², γ_0 < γ_1 < … < γ_K (σ_0 = σ_max noisiest first). For the frozen-x0
exponential integrator (DDPM posterior sampler, :func:`scorelab.samplers.sample_ddpm`) the path KL
decomposes exactly, in **nats**, with mmse and excess error e summed over all d coordinates:

    KL(path) = KL_init + A + D
    A = ½ Σ_k (γ_k − γ_{k−1}) e(γ_{k−1})                          (denoiser approximation)
    D = ½ Σ_k ∫_{γ_{k−1}}^{γ_k} [mmse(γ_{k−1}) − mmse(γ)] dγ       (time discretization)
    KL_init (VE prior N(0, σ_0² I)) = ½ γ_0 E‖x0‖² − I(γ_0)

A final "denoise to σ = 0" step is outside this framework (its cost would be infinite); a grid
ending in 0 is evaluated without that step, and the functions here say so by ignoring it.

D is computed without cancellation: per step, the integrand mmse(γ_{k−1}) − mmse(γ) ≥ 0 is
integrated directly — in closed form for Gaussian targets, and exactly for a piecewise-linear-in-λ
mmse curve otherwise (λ = log γ, dγ = e^λ dλ).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from scipy.optimize import isotonic_regression

from ._validation import (
    as_float64_array,
    check_positive_int,
    check_positive_scalar,
    check_sigma_range,
    check_sigmas,
)
from .targets import Gaussian, Target

__all__ = [
    "Curve",
    "InformationCurve",
    "approximation_error",
    "asymptotic_optimal_discretization",
    "discretization_error",
    "gaussian_discretization_error",
    "gaussian_frozen_x0_path_kl",
    "grid_gammas",
    "kl_init",
    "log_snr_uniform_bound",
    "mmse_curve",
    "rectangle_bound",
    "renyi_half_rate",
]


def grid_gammas(sigmas) -> np.ndarray:
    """Increasing SNRs γ_k = 1/σ_k² of a decreasing σ grid (a trailing 0 is dropped)."""
    s = as_float64_array("sigmas", sigmas, ndim=1)
    check_sigmas(torch.tensor(s.copy()))  # the one grid check: finite, decreasing, final 0 allowed
    if s[-1] == 0:
        s = s[:-1]
    if s.size < 2:
        raise ValueError("need at least two positive sigmas")
    return 1.0 / s**2


def _x_minus_log1p(u: np.ndarray) -> np.ndarray:
    """u − log1p(u) for u ≥ 0 without cancellation (series for small u)."""
    u = np.asarray(u, dtype=np.float64)
    small = u < 1e-3
    series = u**2 / 2 - u**3 / 3 + u**4 / 4 - u**5 / 5
    with np.errstate(invalid="ignore"):
        direct = u - np.log1p(u)
    return np.where(small, series, direct)


def gaussian_discretization_error(eigvals, sigmas) -> float:
    """Closed-form D for Gaussian data with covariance eigenvalues s_i.

    Per coordinate mmse(γ) = s/(1 + sγ), so with a = γ_{k−1}, Δ = γ_k − γ_{k−1} and
    u = sΔ/(1 + s a): D_k = ½ Σ_i [u − log1p(u)]."""
    s = as_float64_array("eigvals", eigvals, ndim=1)
    g = grid_gammas(sigmas)
    a, delta = g[:-1, None], np.diff(g)[:, None]
    u = s[None, :] * delta / (1 + s[None, :] * a)
    return float(0.5 * _x_minus_log1p(u).sum())


@runtime_checkable
class Curve(Protocol):
    """What every per-level curve offers (mmse, x0-loss, excess error): its values at given σ's
    (:class:`InformationCurve`, in λ; :class:`~scorelab.loss_curve.LossCurve`, in σ) and its
    monotone (isotonic) projection. Code that takes a curve asks for this, not for a type."""

    def at_sigma(self, sigma) -> np.ndarray: ...

    def monotone(self) -> Curve: ...


@dataclass(frozen=True)
class InformationCurve:
    """A non-negative curve f(λ) (mmse, or an x0-loss) on an increasing log-SNR grid, linear in λ
    between knots. ``values`` are summed over coordinates; units: squared data units."""

    log_snr: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        lam = as_float64_array("log_snr", self.log_snr, ndim=1)
        val = as_float64_array("values", self.values, ndim=1)
        if lam.size < 2 or lam.size != val.size:
            raise ValueError("log_snr and values must be 1-D of the same length >= 2")
        if np.any(np.diff(lam) <= 0):
            raise ValueError("log_snr must be strictly increasing")
        object.__setattr__(self, "log_snr", lam)
        object.__setattr__(self, "values", val)

    @classmethod
    def from_sigmas(cls, sigma, values) -> InformationCurve:
        s = as_float64_array("sigma", sigma, ndim=1)
        v = as_float64_array("values", values, ndim=1)
        order = np.argsort(-s)  # increasing λ
        return cls(-2 * np.log(s[order]), v[order])

    def monotone(self) -> InformationCurve:
        """Isotonic (least-squares) projection onto non-increasing in λ, as mmse must be."""
        fit = isotonic_regression(self.values, increasing=False).x
        return InformationCurve(self.log_snr, fit)

    def __call__(self, log_snr) -> np.ndarray:
        lam = np.asarray(log_snr, dtype=np.float64)
        lo, hi = self.log_snr[0], self.log_snr[-1]
        tol = 1e-9 * max(1.0, abs(lo), abs(hi))
        if np.any(lam < lo - tol) or np.any(lam > hi + tol):
            raise ValueError(
                f"log-SNR outside the curve's range [{lo:.4g}, {hi:.4g}]: "
                f"[{lam.min():.4g}, {lam.max():.4g}]"
            )
        return np.interp(lam, self.log_snr, self.values)

    def at_sigma(self, sigma) -> np.ndarray:
        return self(-2 * np.log(np.asarray(sigma, dtype=np.float64)))


def _exp_linear_integral(a: np.ndarray, h: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """∫_0^h (p + q u) e^{a+u} du = e^a [p·expm1(h) + q·(h e^h − expm1(h))], stable for small h."""
    em1 = np.expm1(h)
    small = h < 1e-3
    second = np.where(small, h**2 / 2 + h**3 / 3 + h**4 / 8, h * np.exp(h) - em1)
    return np.exp(a) * (p * em1 + q * second)


def _curve_discretization_terms(curve: InformationCurve, gammas: np.ndarray) -> np.ndarray:
    """Per-step D_k for a piecewise-linear-in-λ mmse curve, integrating the non-negative gap."""
    lam_grid = np.log(gammas)
    knots = curve.log_snr
    inner = knots[(knots > lam_grid[0]) & (knots < lam_grid[-1])]
    pts = np.union1d(lam_grid, inner)
    step = np.searchsorted(lam_grid, pts[:-1], side="right") - 1  # step of each piece
    f = curve(pts)
    start_val = curve(lam_grid[:-1])[step]
    gap_a, gap_b = start_val - f[:-1], start_val - f[1:]
    h = np.diff(pts)
    pieces = _exp_linear_integral(pts[:-1], h, gap_a, (gap_b - gap_a) / h)
    return 0.5 * np.bincount(step, weights=pieces, minlength=len(lam_grid) - 1)


def mmse_curve(
    target: Target,
    sigma_min: float,
    sigma_max: float,
    *,
    num_points: int = 2001,
    num_samples: int = 20_000,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    cache_key: str | None = None,
) -> InformationCurve:
    """The target's mmse on a log-uniform σ grid as an :class:`InformationCurve`.

    Exact for Gaussian targets; otherwise the Monte-Carlo estimate (common random numbers across
    σ, so the curve is smooth) projected onto non-increasing curves (isotonic regression).

    With ``cache_dir`` and ``cache_key`` (a name that identifies the target, e.g. its preset
    name) the curve is read from / written to ``cache_dir`` (one ``.npz`` per key, range, sizes,
    seed and scorelab version; written atomically), so that processes share one computation."""
    lo, hi = check_sigma_range(sigma_min, sigma_max)
    num_points = check_positive_int("num_points", num_points, minimum=2)
    path = None
    if cache_dir is not None and cache_key is not None and not target.mmse_is_exact:
        from . import __version__

        ident = json.dumps([cache_key, lo, hi, num_points, num_samples, seed, __version__])
        path = Path(cache_dir) / f"mmse-{hashlib.sha256(ident.encode()).hexdigest()[:16]}.npz"
        if path.is_file():
            with np.load(path) as data:
                return InformationCurve(data["log_snr"], data["values"])
    sig = np.geomspace(hi, lo, num_points)
    if target.mmse_is_exact:
        values = target.mmse(sig)
    else:
        values = target.mmse(sig, num_samples=num_samples, seed=seed)
    curve = InformationCurve(-2 * np.log(sig), values)
    curve = curve if target.mmse_is_exact else curve.monotone()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, log_snr=curve.log_snr, values=curve.values)
        tmp.replace(path)
    return curve


def discretization_error(
    sigmas, mmse: Target | InformationCurve, *, per_step: bool = False, **curve_options
) -> float | np.ndarray:
    """D in nats for the grid ``sigmas`` (a final 0 is ignored).

    ``mmse`` is a target (Gaussian: closed form; others: :func:`mmse_curve` over the grid's
    range) or an :class:`InformationCurve`. ``per_step=True`` returns the K terms D_k."""
    gammas = grid_gammas(sigmas)
    if isinstance(mmse, Gaussian) and not per_step:
        return gaussian_discretization_error(mmse.eigvals, 1 / np.sqrt(gammas))
    if isinstance(mmse, Target):
        mmse = mmse_curve(
            mmse, float(gammas[-1] ** -0.5), float(gammas[0] ** -0.5), **curve_options
        )
    terms = _curve_discretization_terms(mmse, gammas)
    return terms if per_step else float(terms.sum())


def approximation_error(sigmas, excess: Callable | InformationCurve) -> float:
    """A = ½ Σ_k (γ_k − γ_{k−1}) e(γ_{k−1}) in nats; ``excess`` maps σ (array) to
    e(σ) = E‖D(x_σ) − D̂(x_σ)‖² or is an :class:`InformationCurve` in λ."""
    g = grid_gammas(sigmas)
    s = g[:-1] ** -0.5
    e = excess.at_sigma(s) if isinstance(excess, Curve) else np.asarray(excess(s))
    if np.any(~np.isfinite(e)) or np.any(e < 0):
        raise ValueError("excess error must be finite and >= 0")
    return float(0.5 * (np.diff(g) * e).sum())


def kl_init(
    second_moment: float,
    mutual_information_at_start: float,
    sigma_max: float,
    *,
    dim: int | None = None,
    process: str = "ve",
) -> float:
    """KL(law(x_start) ‖ prior) in nats.

    * ``ve``: x = x0 + σ_max z against N(0, σ_max² I): ½ γ_0 E‖x0‖² − I(γ_0) (dimension-free).
    * ``vp``: x = α x0 + s z (α² + s² = 1, s/α = σ_max) against N(0, I):
      ½[α² E‖x0‖² + d(s² − 1 − log s²)] − I(γ_0)  (``las.md`` §2, the "golden formula")."""
    m2 = check_positive_scalar("second_moment", second_moment, allow_zero=True)
    mi = float(mutual_information_at_start)
    s = check_positive_scalar("sigma_max", sigma_max)
    if process == "ve":
        return 0.5 * m2 / s**2 - mi
    if process == "vp":
        if dim is None:
            raise ValueError("process='vp' needs dim")
        a2 = 1 / (1 + s**2)
        s2 = 1 - a2
        return 0.5 * (a2 * m2 + dim * (s2 - 1 - math.log(s2))) - mi
    raise ValueError(f"unknown process {process!r}; expected 've' or 'vp'")


# --- bounds ---


def rectangle_bound(sigmas, mmse: InformationCurve | Target) -> float:
    """D ≤ ½ Σ_k (γ_k − γ_{k−1})(mmse(γ_{k−1}) − mmse(γ_k)) for any grid (mmse non-increasing)."""
    g = grid_gammas(sigmas)
    s = g**-0.5
    m = mmse.at_sigma(s) if isinstance(mmse, Curve) else mmse.mmse(s)
    return float(0.5 * (np.diff(g) * (m[:-1] - m[1:])).sum())


def log_snr_uniform_bound(
    steps: int,
    sigma_min: float,
    sigma_max: float,
    *,
    entropy: float | None = None,
    variance: float | None = None,
    mi_gain: float | None = None,
    mmse_at_start: float | None = None,
) -> float:
    """Bound on D for the log-SNR-uniform grid (``las.md`` §3, item 2), r = (γ_K/γ_0)^{1/K}:

    D ≤ (r−1)/2 · [2(I(γ_K) − I(γ_0)) + γ_0 mmse(γ_0)]     (if ``mi_gain``, ``mmse_at_start``)
      ≤ (r−1) · [H + ½ γ_0 Var(x0)]                         (if ``entropy``, ``variance``)
    with H the Shannon entropy (discrete data; I ≤ H). Dimension-free; log(γ_K/γ_0) enters via r."""
    steps = check_positive_int("steps", steps)
    g0, gK = sigma_max**-2.0, sigma_min**-2.0
    if not gK > g0:
        raise ValueError("need sigma_min < sigma_max")
    r1 = math.expm1(math.log(gK / g0) / steps)
    if mi_gain is not None and mmse_at_start is not None:
        return 0.5 * r1 * (2 * mi_gain + g0 * mmse_at_start)
    if entropy is None or variance is None:
        raise ValueError("give (mi_gain, mmse_at_start) or (entropy, variance)")
    return r1 * (entropy + 0.5 * g0 * variance)


def renyi_half_rate(renyi_half_entropy: float, steps: int, constant: float = 3.0) -> float:
    """The empirical rate D ≈ c·H_½²/K of a loss-adaptive grid (``las.md`` §3: c ≈ 3.0–3.4 for
    two-point laws at K = 100). A scaling law to compare against, **not** a proven bound."""
    steps = check_positive_int("steps", steps)
    return constant * renyi_half_entropy**2 / steps


def asymptotic_optimal_discretization(curve: InformationCurve, steps: int) -> float:
    """D ≈ J²/(4K), J = ∫ sqrt(|d mmse/dγ|) dγ, the K → ∞ optimum (``las.md`` §3, item 3)."""
    steps = check_positive_int("steps", steps)
    lam, m = curve.log_snr, curve.values
    g = np.exp(lam)
    slope = np.abs(np.diff(m) / np.diff(g))
    J = float((np.sqrt(slope) * np.diff(g)).sum())
    return J**2 / (4 * steps)


# --- an independent exact check ---


def gaussian_frozen_x0_path_kl(
    eigvals, sigmas, gain: Callable[[float], np.ndarray] | None = None
) -> float:
    """Exact KL between the true reverse chain and the frozen-x0 sampler chain on ``sigmas``
    (a final 0 is ignored), for centred Gaussian data with covariance eigenvalues s_i, started
    from the true law at σ_0. Computed transition by transition, independently of mmse/I:

    * true:    x_t | x_s ~ N(b_p x_s, v_p),  b_p = (s+σ_t²)/(s+σ_s²),  v_p = (s+σ_t²)(1 − b_p)
    * sampler: x_t | x_s ~ N(b_q x_s, v_q),  b_q = c(1−r) + r,  v_q = σ_t²(1 − r),  r = σ_t²/σ_s²
      with the denoiser x̂0 = c·x_s, c = ``gain(σ_s)`` (default the exact s/(s+σ_s²)).

    KL_k = ½ E[v_p/v_q + (b_p−b_q)² x_s²/v_q − 1 − log(v_p/v_q)], x_s ~ N(0, s+σ_s²).
    With the exact gain this equals D; with another gain it equals A + D."""
    s = as_float64_array("eigvals", eigvals, ndim=1)
    g = grid_gammas(sigmas)
    sig = g**-0.5
    total = 0.0
    for ss, st in itertools.pairwise(sig):
        c = s / (s + ss**2) if gain is None else np.asarray(gain(float(ss)), dtype=np.float64)
        r = st**2 / ss**2
        b_p = (s + st**2) / (s + ss**2)
        v_p = (s + st**2) * (ss**2 - st**2) / (s + ss**2)
        b_q = c * (1 - r) + r
        v_q = st**2 * (1 - r)
        ratio = v_p / v_q
        total += 0.5 * float(
            (ratio + (b_p - b_q) ** 2 * (s + ss**2) / v_q - 1 - np.log(ratio)).sum()
        )
    return total
