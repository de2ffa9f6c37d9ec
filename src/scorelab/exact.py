"""Exact output laws of samplers: schedule and sampler comparisons with no Monte-Carlo floor.

Ours (the schedules issue, item 2). Two exact targets:

* **Centred Gaussians, any d** (:func:`gaussian_output_law`): the exact denoiser is linear, so
  every sampler's output is a linear function of the initial state and of its noise draws. The
  state is tracked as a matrix of coefficients on a basis of independent standard normals (one
  fresh block per draw, fed in through :func:`scorelab.samplers._common.noise_source`); the output
  covariance is exact and KL(N(0, Σ + σ_K² I) ‖ output) has a closed form.
* **Collinear isotropic mixtures, any d** (:func:`exact_output_collinear`, e.g. ``gmm2-1000``):
  components N(μ_k, v I) with one variance v and every μ_k on one line through 0. The samplers
  move the state by scalar coefficients and the exact denoiser's posterior weights depend on x
  only through its projection on that line, so the projection runs the sampler on a 1-D mixture
  and each orthogonal coordinate on N(0, v), independently; the KL adds up over the parts.
* **1-D mixtures and atom laws** (:func:`exact_output_1d`), three routes, chosen per sampler:

  - *Markov kernel* (``SamplerSpec.markov``: DDPM / frozen-x0, DDIM-η, Euler–Maruyama): each step
    is x_b = f(x_a) + g·ξ. f and g are read off the sampler itself (one step on a grid of points
    with zero, then unit noise). The density on a uniform grid is pushed through f (linear
    binning, the source grid refined until |Δf| ≤ g/r) and convolved with N(0, g²) by FFT. Error:
    the binning and Riemann sums, second order in the grid step, which is g/r (r = ``resolution``).
  - *Quadrature* (any deterministic sampler, multistep included): the output is F(x_σ0), so
    n initial points at the quantiles (i + ½)/n of the exact law at σ_0 carry mass 1/n each; the
    output CDF is read off the sorted F values. Error O(1/n) in masses.
  - *Monte Carlo* (stochastic samplers with memory, e.g. ``accel_sde``): 2^20 samples; the same
    estimators applied to as many exact samples give the floor, reported beside the value.

All routes start from the exact law at σ_0 (so KL_init, the prior mismatch, is excluded, as in
``theory.discretization_error``) and stop at σ_K > 0 (a final "denoise to 0" has no density).
Reported, in nats: ``kl_continuous`` = KL(p_{σ_K} ‖ output), the quantity D bounds; for atom laws
also ``kl_snapped`` = KL(w ‖ q) with q the output mass in each atom's Voronoi cell (the error after
snapping to the data).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.signal import fftconvolve
from scipy.special import ndtr

from ._validation import check_positive_int, check_sigmas
from .samplers import SAMPLERS, SamplerSpec
from .samplers._common import noise_source
from .schedules.surrogate import (
    GaussianSpectrum,
)
from .targets import Discrete, Gaussian, GaussianMixture

__all__ = [
    "ExactScore",
    "collinear_projection",
    "exact_output_1d",
    "exact_output_collinear",
    "gaussian_output_kl",
    "gaussian_output_law",
    "gaussian_start_basis",
    "mmse_1d",
    "mmse_collinear",
    "surrogate_output_kl",
]

#: cap on the points of one density grid (a few MiB of float64)
MAX_GRID_POINTS = 1 << 21
#: half-width of a Gaussian kernel / of a law's support, in standard deviations
TAIL = 12.0


@dataclass(frozen=True)
class ExactScore:
    """Output-law errors of one sampler × grid on an exact target (nats)."""

    kl_continuous: float
    kl_snapped: float  # NaN unless the target is an atom law
    masses: np.ndarray | None  # output mass per atom (atom order), atom laws only
    method: str  # "markov-kernel" | "quadrature" | "monte-carlo" | "gaussian-tracking"
    floor_continuous: float = 0.0  # the estimator's value on exact samples (Monte Carlo only)
    floor_snapped: float = 0.0


@dataclass(frozen=True)
class _Plain:
    """A bare sampler function: no declared Markov property."""

    fn: Callable
    markov: bool = False


def _spec(sampler: str | SamplerSpec | Callable) -> SamplerSpec | _Plain:
    if isinstance(sampler, SamplerSpec):
        return sampler
    if callable(sampler):
        return _Plain(sampler)
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose from {sorted(SAMPLERS)}")
    return SAMPLERS[sampler]


def _check_grid(sigmas, *, final_zero: bool = False) -> torch.Tensor:
    """The shared sampler-grid check (:func:`~scorelab._validation.check_sigmas`), plus: the
    grid must end at σ_K > 0 unless a final denoise is allowed."""
    s = check_sigmas(torch.as_tensor(sigmas, dtype=torch.float64))
    if not final_zero and float(s[-1]) == 0:
        raise ValueError(
            "exact output laws need a grid ending at sigma_K > 0 (drop the final 0: a "
            "'denoise to 0' step has no density)"
        )
    return s


# --- Gaussian targets: coefficient tracking ---


class _NoiseBasis:
    """Noise draws as fresh blocks of basis directions (rows of the tracked state)."""

    def __init__(self, d: int, capacity: int) -> None:
        self.d, self.capacity, self.used = d, capacity, d  # first d rows: the initial state

    def __call__(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        if self.used + self.d > self.capacity:
            raise RuntimeError("noise basis exhausted: the sampler drew more noise than counted")
        out = torch.zeros_like(x)
        out[self.used : self.used + self.d] = torch.eye(self.d, dtype=x.dtype)
        self.used += self.d
        return out


class _ConstantNoise:
    """A noise source returning ``value`` everywhere and counting its draws."""

    def __init__(self, value: float) -> None:
        self.value, self.draws = value, 0

    def __call__(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        self.draws += 1
        return torch.full_like(x, self.value)


def _run_with(spec, denoiser, x: torch.Tensor, sigmas, noise: _ConstantNoise, options):
    with noise_source(noise):
        return spec.fn(denoiser, x, sigmas, **options)


def _count_draws(spec: SamplerSpec, denoiser, sigmas: torch.Tensor, d: int, **options) -> int:
    noise = _ConstantNoise(0.0)
    _run_with(spec, denoiser, torch.zeros(1, d, dtype=torch.float64), sigmas, noise, options)
    return noise.draws


def _check_reproducible(spec, denoiser, sigmas: torch.Tensor, d: int, options) -> None:
    """A sampler that scorelab sees drawing no noise must really be deterministic (a peer that
    draws from torch's global generator would otherwise be scored as if it were)."""
    x = torch.linspace(-2.0, 2.0, 4 * d, dtype=torch.float64).reshape(4, d) * float(sigmas[0])
    gen = options.get("generator")

    def once(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        opts = dict(options)
        if gen is not None:  # the sampler's own generator is part of the setting: same state
            opts["generator"] = torch.Generator(gen.device).set_state(gen.get_state())
        return spec.fn(denoiser, x.clone(), sigmas, **opts)

    with noise_source(lambda z, generator=None: torch.zeros_like(z)):
        state = torch.random.get_rng_state()
        try:
            a, b = once(1), once(2)
        finally:
            torch.random.set_rng_state(state)
    if not torch.equal(a, b):
        raise ValueError(
            "the sampler draws random numbers outside scorelab's noise_source (e.g. torch's "
            "global generator), so its output law cannot be tracked exactly"
        )


def gaussian_start_basis(target: Gaussian, sigma0: float, rows: int) -> torch.Tensor:
    """A ``(rows, d)`` float64 batch whose first d rows are the columns of a square root of the
    exact start's covariance Σ + σ_0² I (the rest zero): pushed through a sampler that is linear
    in its start and noise, row r is the output's coefficient on the r-th standard normal."""
    d = target.dim
    cov0 = torch.as_tensor(target.covariance) + sigma0**2 * torch.eye(d, dtype=torch.float64)
    start = torch.zeros(rows, d, dtype=torch.float64)
    start[:d] = torch.linalg.cholesky(cov0).T
    return start


def gaussian_output_law(sampler: str | SamplerSpec | Callable, target: Gaussian, sigmas, **options):
    """Exact output covariance (float64, (d, d)) of ``sampler`` on the centred Gaussian
    ``target`` with its exact denoiser, started from the exact law N(0, Σ + σ_0² I).

    The sampler must be linear in its state and noise given a linear denoiser (all scorelab
    samplers are, except ``accel_sde`` with its per-sample limiter: pass ``clip=None``)."""
    spec = _spec(sampler)
    if not isinstance(target, Gaussian):
        raise TypeError(f"gaussian_output_law needs a Gaussian target, got {type(target).__name__}")
    if np.any(target.data_mean != 0):
        raise ValueError("gaussian_output_law needs a centred Gaussian (mean 0)")
    s = torch.as_tensor(sigmas, dtype=torch.float64)
    d = target.dim
    draws = _count_draws(spec, target, s, d, **options)
    _check_reproducible(spec, target, s, d, options)
    rows = d * (1 + draws)
    state = gaussian_start_basis(target, float(s[0]), rows)
    with noise_source(_NoiseBasis(d, rows)):
        out = spec.fn(target, state, s, **options)
    return out.T @ out


def _gaussian_kl(cov_p: np.ndarray, cov_q: np.ndarray) -> float:
    """KL(N(0, P) ‖ N(0, Q)) = ½[tr(Q⁻¹P) − d + log det Q − log det P]."""
    d = cov_p.shape[0]
    Lq = np.linalg.cholesky(cov_q)
    Lp = np.linalg.cholesky(cov_p)
    A = np.linalg.solve(Lq, Lp)
    logdet = 2 * (np.log(np.diag(Lq)).sum() - np.log(np.diag(Lp)).sum())
    return float(0.5 * ((A * A).sum() - d + logdet))


def gaussian_output_kl(sampler: str | SamplerSpec, target: Gaussian, sigmas, **options) -> float:
    """KL(N(0, Σ + σ_K² I) ‖ output law) in nats, exact. A grid ending in 0 (final denoise) is
    compared with the data law N(0, Σ) itself."""
    s = _check_grid(sigmas, final_zero=True)
    C = gaussian_output_law(sampler, target, s, **options).numpy()
    P = target.covariance + float(s[-1]) ** 2 * np.eye(target.dim)
    return _gaussian_kl(P, 0.5 * (C + C.T))


# --- 1-D mixtures ---


@dataclass(frozen=True)
class _Law1D:
    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray  # component variances (0 for atoms)

    @classmethod
    def of(cls, target: GaussianMixture) -> _Law1D:
        if not isinstance(target, GaussianMixture) or target.dim != 1:
            raise ValueError(
                "exact_output_1d needs a 1-D GaussianMixture or Discrete target, got "
                f"{type(target).__name__} in d = {getattr(target, 'dim', '?')}"
            )
        return cls(target.weights, target.means[:, 0], target.component_eigvals()[:, 0])

    def std(self, sigma: float) -> np.ndarray:
        return np.sqrt(self.variances + sigma**2)

    def support(self, sigma: float) -> tuple[float, float]:
        sd = float(self.std(sigma).max())
        return float(self.means.min()) - TAIL * sd, float(self.means.max()) + TAIL * sd

    def pdf(self, x: np.ndarray, sigma: float) -> np.ndarray:
        sd = self.std(sigma)
        z = (x[:, None] - self.means) / sd
        return (self.weights * np.exp(-0.5 * z * z) / (sd * math.sqrt(2 * math.pi))).sum(1)

    def log_pdf(self, x: np.ndarray, sigma: float) -> np.ndarray:
        sd = self.std(sigma)
        z = (x[:, None] - self.means) / sd
        logc = np.log(np.where(self.weights > 0, self.weights, 1e-300)) - np.log(sd)
        a = logc - 0.5 * z * z - 0.5 * math.log(2 * math.pi)
        m = a.max(1, keepdims=True)
        return (m + np.log(np.exp(a - m).sum(1, keepdims=True)))[:, 0]

    def cdf(self, x: np.ndarray, sigma: float) -> np.ndarray:
        return (self.weights * ndtr((x[:, None] - self.means) / self.std(sigma))).sum(1)

    def sf(self, x: np.ndarray, sigma: float) -> np.ndarray:
        return (self.weights * ndtr(-(x[:, None] - self.means) / self.std(sigma))).sum(1)

    def neg_entropy(self, sigma: float, resolution: int) -> float:
        """∫ p log p of the law at σ (Riemann sum on a grid of step min sd / resolution)."""
        lo, hi = self.support(sigma)
        h = float(self.std(sigma).min()) / resolution
        n = int(min(MAX_GRID_POINTS, math.ceil((hi - lo) / h) + 1))
        x = np.linspace(lo, hi, n)
        lp = self.log_pdf(x, sigma)
        return float((np.exp(lp) * lp).sum() * (x[1] - x[0]))

    def cells(self) -> np.ndarray:
        """Voronoi boundaries between consecutive (sorted) means."""
        m = np.sort(self.means)
        return 0.5 * (m[1:] + m[:-1])


def _snapped(law: _Law1D, y: np.ndarray, mass: np.ndarray) -> tuple[float, np.ndarray]:
    order = np.argsort(law.means)
    cell = np.searchsorted(law.cells(), y)
    q_sorted = np.bincount(cell, weights=mass, minlength=law.means.size)
    q = np.empty_like(q_sorted)
    q[order] = q_sorted
    q = q / q.sum()
    w = law.weights
    pos = w > 0
    kl = float((w[pos] * (np.log(w[pos]) - np.log(np.maximum(q[pos], 1e-300)))).sum())
    return max(kl, 0.0), q


def _step_coefficients(spec, denoiser, x: np.ndarray, s: float, t: float, options):
    """f(x) and g of one sampler step σ = s → t read off the sampler (zero, then unit noise)."""
    grid = torch.tensor([s, t], dtype=torch.float64)
    xt = torch.as_tensor(x, dtype=torch.float64)[:, None]
    f = _run_with(spec, denoiser, xt, grid, _ConstantNoise(0.0), options)[:, 0].numpy()
    unit = _ConstantNoise(1.0)
    fg = _run_with(spec, denoiser, xt, grid, unit, options)[:, 0].numpy()
    if unit.draws > 1:
        raise ValueError(
            f"sampler draws {unit.draws} noises per step; it is not a one-draw Markov step"
        )
    g = fg - f
    return f, g


def _bin_linear(y: np.ndarray, mass: np.ndarray, lo: float, h: float, n: int) -> np.ndarray:
    pos = (y - lo) / h
    i = np.clip(np.floor(pos).astype(np.int64), 0, n - 2)
    frac = np.clip(pos - i, 0.0, 1.0)
    out = np.bincount(i, weights=mass * (1 - frac), minlength=n)
    out += np.bincount(i + 1, weights=mass * frac, minlength=n)
    return out


def _propagate_markov(spec, denoiser, law: _Law1D, sigmas: np.ndarray, resolution: int, options):
    """Density of the sampler's state at σ_K on a uniform grid: (x, mass per point)."""
    s0 = float(sigmas[0])
    lo, hi = law.support(s0)
    h = float(law.std(s0).min()) / resolution
    n = int(min(MAX_GRID_POINTS, math.ceil((hi - lo) / h) + 1))
    x = np.linspace(lo, hi, n)
    dens = law.pdf(x, s0)
    for s, t in itertools.pairwise(float(v) for v in sigmas):
        f, g = _step_coefficients(spec, denoiser, x, s, t, options)
        gs = float(np.abs(g).max())
        if gs <= 0 or np.abs(np.abs(g) - gs).max() > 1e-9 * gs:
            raise ValueError(
                "the Markov route needs a noise scale g > 0 that does not depend on x "
                f"(step sigma {s:.4g} -> {t:.4g})"
            )
        # refine the source grid until the pushed points are at most a target step apart
        target_h = gs / resolution
        refine = math.ceil(float(np.abs(np.diff(f)).max()) / (0.5 * target_h)) if n > 1 else 1
        refine = max(1, min(refine, MAX_GRID_POINTS // max(n - 1, 1)))
        if refine > 1:
            xr = np.linspace(x[0], x[-1], (n - 1) * refine + 1)
            dens = np.interp(xr, x, dens)
            x = xr
            f, _ = _step_coefficients(spec, denoiser, x, s, t, options)
        mass = dens * (x[1] - x[0])
        # next grid: where the pushed mass lands, and the exact law's support at t
        t_lo, t_hi = law.support(t)
        lo = min(float(f.min()) - TAIL * gs, t_lo)
        hi = max(float(f.max()) + TAIL * gs, t_hi)
        hb = max(target_h, (hi - lo) / (MAX_GRID_POINTS - 1))
        nb = math.ceil((hi - lo) / hb) + 1
        binned = _bin_linear(f, mass, lo, hb, nb)
        half = math.ceil(TAIL * gs / hb)
        kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * hb / gs) ** 2)
        binned = np.maximum(fftconvolve(binned, kernel / kernel.sum(), mode="same"), 0.0)
        x = lo + hb * np.arange(nb)
        dens = binned / hb
        n = nb
    return x, dens * (x[1] - x[0])


def _continuous_kl_grid(law: _Law1D, x: np.ndarray, mass: np.ndarray, sigma: float) -> float:
    """KL(p_σ ‖ q) for q given as masses on a uniform grid (Riemann sums)."""
    h = x[1] - x[0]
    lp = law.log_pdf(x, sigma)
    p = np.exp(lp)
    lq = np.log(np.maximum(mass / h, 1e-300))
    inside = float((p * (lp - lq)).sum() * h)
    # true mass outside the grid meets no output mass there: a binned term against the density
    # floor 1e-300 (log = −690.8) used inside
    outside = float(law.cdf(x[:1], sigma)[0] + law.sf(x[-1:], sigma)[0])
    return max(inside + outside * (math.log(max(outside, 1e-300)) - math.log(1e-300)), 0.0)


def _continuous_kl_sorted(
    law: _Law1D, y: np.ndarray, mass: np.ndarray, sigma: float, block: int, resolution: int
) -> float:
    """KL(p_σ ‖ q), q the law putting ``mass[i]`` on the point y[i]: its CDF is read off the
    sorted points and differenced over blocks of ``block`` points (density constant between)."""
    order = np.argsort(y, kind="stable")
    ys, ms = y[order], mass[order]
    idx = np.arange(0, ys.size, block)
    if idx[-1] != ys.size - 1:
        idx = np.append(idx, ys.size - 1)
    knots = ys[idx]
    # mass between knots: the inner points of a block plus half of each knot's own mass (no
    # cumulative sums: near CDF = 1 they would lose the 1e-20 tail masses)
    inner = np.add.reduceat(ms, idx)[:-1] - ms[idx[:-1]]
    q_mass = inner + 0.5 * (ms[idx[:-1]] + ms[idx[1:]])
    width = np.diff(knots)
    p_mass = _interval_mass(law, knots, sigma)
    log_q = np.full_like(width, -690.0)
    keep = (width > 0) & (q_mass > 0)
    log_q[keep] = np.log(q_mass[keep] / width[keep])
    cross = float((p_mass * log_q).sum())
    # tails beyond the extreme knots: binned terms against the output mass left there
    tail_terms = 0.0
    p_tails = (float(law.cdf(knots[:1], sigma)[0]), float(law.sf(knots[-1:], sigma)[0]))
    for p_t, q_t in zip(p_tails, (0.5 * ms[0], 0.5 * ms[-1]), strict=True):
        if p_t > 0:
            tail_terms += p_t * (math.log(p_t) - math.log(max(q_t, 1e-300)))
    return max(law.neg_entropy(sigma, resolution) - cross + tail_terms, 0.0)


def _interval_mass(law: _Law1D, knots: np.ndarray, sigma: float) -> np.ndarray:
    """p_σ mass between consecutive knots, from the CDF below the median and the survival
    function above it (differences of values near 1 would cancel)."""
    cdf, sf = law.cdf(knots, sigma), law.sf(knots, sigma)
    return np.where(cdf[:-1] < 0.5, np.diff(cdf), -np.diff(sf))


def _exact_start(law: _Law1D, sigma0: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature for the exact law at σ_0: n points at the quantiles (i + ½)/n plus n/8 points
    in each tail, log-uniform in probability from 1e-23 to 1/(2n), with midpoint-rule masses;
    the lower half is inverted from the CDF, the upper half (its mirror) from the survival
    function, so neither tail loses precision near probability 1."""
    tail = np.geomspace(1e-23, 0.5 / n, max(n // 8, 8))[:-1]
    u = np.concatenate([tail, (np.arange(n) + 0.5) / n])
    mass_lo = np.diff(np.concatenate([[0.0], 0.5 * (u[1:] + u[:-1]), [0.5 + 0.5 * u[-1]]]))
    lo, hi = law.support(sigma0)
    lo, hi = lo - 2 * float(law.std(sigma0).max()), hi + 2 * float(law.std(sigma0).max())
    grid = np.linspace(lo, hi, 1 << 16)
    cdf = law.cdf(grid, sigma0)
    sf = law.sf(grid, sigma0)
    u_lo, m_lo = u[u <= 0.5], mass_lo[u <= 0.5]
    x_lo = np.interp(np.log(u_lo), np.log(np.maximum(cdf, 1e-300)), grid)
    x_up = np.interp(np.log(u_lo[::-1]), np.log(np.maximum(sf[::-1], 1e-300)), grid[::-1])
    pts = np.concatenate([x_lo, x_up])
    mass = np.concatenate([m_lo, m_lo[::-1]])
    return pts, mass / mass.sum()


def exact_output_1d(
    sampler: str | SamplerSpec,
    target: GaussianMixture,
    sigmas,
    *,
    denoiser: Callable | None = None,
    resolution: int = 16,
    quadrature_points: int = 1 << 17,
    monte_carlo_samples: int = 1 << 20,
    seed: int = 0,
    **options,
) -> ExactScore:
    """Output-law errors of ``sampler`` on the grid ``sigmas`` (ending at σ_K > 0) for a 1-D
    mixture or atom law, started from the exact law at σ_0 (see the module docstring).

    Args:
        sampler: a name in :data:`scorelab.samplers.SAMPLERS` or a :class:`SamplerSpec`.
        target: a 1-D :class:`~scorelab.targets.GaussianMixture` (a :class:`Discrete` gives
            ``kl_snapped`` too).
        denoiser: defaults to the target's exact denoiser (pass a perturbed one to study model
            error).
        resolution: grid points per kernel standard deviation (Markov route).
        quadrature_points: initial quantile points (deterministic samplers).
        monte_carlo_samples: samples for stochastic samplers with memory.
        options: passed to the sampler.
    """
    spec = _spec(sampler)
    s = _check_grid(sigmas).numpy()
    law = _Law1D.of(target)
    resolution = check_positive_int("resolution", resolution, minimum=2)
    denoiser = target if denoiser is None else denoiser
    atoms = isinstance(target, Discrete)
    sK = float(s[-1])

    def score(y: np.ndarray, mass: np.ndarray, kl_cont: float, method: str, **floors):
        snapped, q = _snapped(law, y, mass) if atoms else (float("nan"), None)
        return ExactScore(kl_cont, snapped, q, method, **floors)

    if spec.markov and _count_draws(spec, denoiser, torch.as_tensor(s[:2]), 1, **options) > 0:
        x, mass = _propagate_markov(spec, denoiser, law, s, resolution, options)
        return score(x, mass, _continuous_kl_grid(law, x, mass, sK), "markov-kernel")

    grid = torch.as_tensor(s)
    if _count_draws(spec, denoiser, grid, 1, **options) == 0:
        _check_reproducible(spec, denoiser, grid, 1, options)
        n = check_positive_int("quadrature_points", quadrature_points, minimum=64)
        pts, w = _exact_start(law, float(s[0]), n)
        y = spec.fn(denoiser, torch.as_tensor(pts)[:, None], grid, **options)[:, 0].numpy()
        kl = _continuous_kl_sorted(law, y, w, sK, 4, resolution)
        return score(y, w, kl, "quadrature")

    n = check_positive_int("monte_carlo_samples", monte_carlo_samples, minimum=64)
    gen = torch.Generator().manual_seed(seed)
    _, x0 = target.sample_noised(n, float(s[0]), gen, dtype=torch.float64)
    y = spec.fn(denoiser, x0.reshape(n, 1), grid, generator=gen, **options)[:, 0].numpy()
    ref = target.sample_noised(n, sK, gen, dtype=torch.float64)[1].reshape(-1).numpy()
    block, w = 64, np.full(n, 1.0 / n)
    floor_c = _continuous_kl_sorted(law, ref, w, sK, block, resolution)
    floor_s = _snapped(law, ref, w)[0] if atoms else float("nan")
    kl = _continuous_kl_sorted(law, y, w, sK, block, resolution)
    return score(y, w, kl, "monte-carlo", floor_continuous=floor_c, floor_snapped=floor_s)


def mmse_1d(target: GaussianMixture, sigma, *, resolution: int = 64) -> np.ndarray:
    """mmse(σ) = E Var(x0 | x_σ) of a 1-D mixture by quadrature on a fine grid (no sampling):
    mmse = within-component part + ∫ p_σ(x) Var_k(posterior mean of the component | x) dx."""
    law = _Law1D.of(target)
    sig = np.atleast_1d(np.asarray(sigma, dtype=np.float64))
    out = np.empty_like(sig)
    for i, s in enumerate(sig):
        lo, hi = law.support(s)
        h = float(law.std(s).min()) / resolution
        n = int(min(MAX_GRID_POINTS, math.ceil((hi - lo) / h) + 1))
        x = np.linspace(lo, hi, n)
        sd = law.std(s)
        z = (x[:, None] - law.means) / sd
        logc = np.log(np.where(law.weights > 0, law.weights, 1e-300)) - np.log(sd)
        a = logc - 0.5 * z * z
        a -= a.max(1, keepdims=True)
        post = np.exp(a)
        px = post.sum(1)
        post /= px[:, None]
        # component posterior means and variances
        shrink = law.variances / sd**2
        m_k = law.means + shrink * (x[:, None] - law.means)
        v_k = law.variances * s**2 / sd**2
        mean = (post * m_k).sum(1)
        var = (post * (v_k + m_k**2)).sum(1) - mean**2
        dens = law.pdf(x, s)
        out[i] = float((dens * np.maximum(var, 0.0)).sum() * (x[1] - x[0]))
    return out.reshape(np.shape(sigma))


def collinear_projection(target: GaussianMixture) -> tuple[GaussianMixture, Gaussian, int]:
    """Split a collinear isotropic mixture (see :func:`exact_output_collinear`) into its 1-D law
    along the line of means, the law N(0, v) of one orthogonal coordinate and their count d − 1.

    Raises ValueError for a mixture that is not isotropic with one shared variance, or whose
    means do not lie on one line through the origin (relative tolerance 1e-9)."""
    if not isinstance(target, GaussianMixture) or target.cov_kind != "isotropic":
        raise ValueError(
            "exact_output_collinear needs an isotropic GaussianMixture, got "
            f"{type(target).__name__} ({getattr(target, 'cov_kind', '?')})"
        )
    eig = target.component_eigvals()
    v = float(eig.max())
    if not np.allclose(eig, v, rtol=1e-9, atol=0.0):
        raise ValueError(f"components must share one variance, got {np.unique(eig)[:4]} ...")
    mu = target.means
    _, sv, vt = np.linalg.svd(mu, full_matrices=False)
    if sv.size > 1 and sv[1] > 1e-9 * max(float(sv[0]), 1e-300):
        raise ValueError(
            f"the component means must lie on one line through 0 (second singular value "
            f"{sv[1]:.3g} vs {sv[0]:.3g})"
        )
    u = vt[0]
    line = Discrete if isinstance(target, Discrete) else GaussianMixture
    proj = (mu @ u)[:, None]
    law = line(proj, target.weights) if line is Discrete else line(target.weights, proj, v)
    return law, Gaussian(np.zeros(1), max(v, 0.0)), target.dim - 1


def mmse_collinear(target: GaussianMixture, sigma) -> np.ndarray:
    """mmse(σ) of a collinear isotropic mixture (:func:`collinear_projection`): the 1-D law's
    :func:`mmse_1d` plus (d − 1)·v σ²/(v + σ²) from the orthogonal coordinates."""
    line, orth, count = collinear_projection(target)
    return mmse_1d(line, sigma) + count * orth.mmse(sigma)


def exact_output_collinear(
    sampler: str | SamplerSpec, target: GaussianMixture, sigmas, **options
) -> ExactScore:
    """Exact output-law errors of ``sampler`` on a collinear isotropic mixture in any d.

    For Σ_k w_k N(μ_k, v I) with every μ_k = a_k u on one unit vector u, the exact denoiser is
    D(x) = [m + v/(v + σ²)·(x·u − m)]·u + v/(v + σ²)·(x − (x·u)u) with m = E[a | x·u], i.e.
    its u-part depends on x·u alone and its orthogonal part is the linear N(0, v) denoiser. A
    sampler that moves the state by scalar coefficients with isotropic noise (all scorelab
    samplers; ``accel_sde`` only with ``clip=None``, its limiter is a per-sample norm) therefore
    runs independently on the projection (a 1-D mixture: :func:`exact_output_1d`) and on each
    of the d − 1 orthogonal coordinates (N(0, v): :func:`gaussian_output_kl`). Both the true law
    at σ_K and the output law factor the same way, so KL(p_{σ_K} ‖ output) = KL_line +
    (d − 1)·KL_orth (chain rule).
    For atoms (v = 0) the nearest atom depends on x·u only, so ``kl_snapped`` is the line's.

    ``options`` go to :func:`exact_output_1d` (its route options) and to the sampler.
    """
    line, orth, count = collinear_projection(target)
    route_keys = ("resolution", "quadrature_points", "monte_carlo_samples", "seed")
    route = {k: options.pop(k) for k in route_keys if k in options}
    r = exact_output_1d(sampler, line, sigmas, **route, **options)
    if count == 0:
        return r
    orth_kl = count * gaussian_output_kl(sampler, orth, sigmas, **options)
    return ExactScore(
        r.kl_continuous + orth_kl,
        r.kl_snapped,
        r.masses,
        f"{r.method}+gaussian-tracking",
        floor_continuous=r.floor_continuous,
        floor_snapped=r.floor_snapped,
    )


# --- the exact output law on a Gaussian surrogate of a loss curve ---

#: sampler options that make a sampler linear in its state, for coefficient tracking
#: (``accel_sde``'s limiter is a per-sample norm); read from each sampler's ``linear_with``
LINEAR_OPTIONS: dict[str, dict] = {
    name: dict(spec.linear_with) for name, spec in SAMPLERS.items() if spec.linear_with
}


def surrogate_output_kl(
    sampler: str | SamplerSpec, spectrum: GaussianSpectrum, sigmas, **options
) -> float:
    """Σ_j n_j KL_j (nats): the exact output KL at σ_K of ``sampler`` on the diagonal Gaussian
    surrogate ``spectrum`` (:func:`~scorelab.schedules.surrogate.fit_gaussian_spectrum`),
    n_j coordinates of variance v_j, by :func:`gaussian_output_law` on one coordinate per
    variance (a scalar-coefficient sampler keeps the coordinates independent). On a Gaussian
    target whose spectrum the fit recovers this is :func:`gaussian_output_kl`."""
    s = _check_grid(sigmas)
    v, n = spectrum.variances, spectrum.counts
    law = gaussian_output_law(sampler, Gaussian(np.zeros(v.size), v), s, **options)
    r = (v + float(s[-1]) ** 2) / np.diag(law.numpy())
    return float((n * 0.5 * (r - 1 - np.log(r))).sum())
