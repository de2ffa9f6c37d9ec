"""Align Your Steps, optimised: a σ grid minimising the KL upper bound (KLUB) of the stochastic
sampler, estimated from data samples and denoiser calls (Sabour, Fidler & Kreis 2024,
arXiv 2404.14507). This is **our** implementation of the published recipe as we read it (the
paper's code was not used): the objective, coordinate-wise search and subdivision follow the
paper; the quadrature and the search grid are ours.

KLUB (VE/EDM form, σ = t). The reverse SDE dx = −2σ ∇log p_σ dσ + √(2σ) dW, with the score frozen
at the start σ_i of each step, has by Girsanov

    KLUB(σ_0 > … > σ_K) = Σ_i ∫_{σ_{i+1}}^{σ_i} E ‖D(x_σ, σ) − D(x_{σ_i}, σ_i)‖² / σ³ dσ,

where, as in the paper, x_σ = x0 + σ ε and x_{σ_i} = x0 + σ_i ε share x0 (data samples) and ε
(common random numbers). Each interval is integrated by Gauss–Legendre quadrature in u = log σ
(∫ f(σ)/σ³ dσ = ∫ f(e^u) e^{−2u} du), ``nodes`` points per interval.

Optimisation: coordinate descent — each interior σ_i in turn is moved to the best of
``candidates`` log-spaced values strictly between its neighbours (the current value included, so
the objective never increases), for ``sweeps`` rounds or until no σ moves. Subdivision: grids of
more than ``base_steps`` steps are reached by optimising ``base_steps``, inserting the log-midpoint
of every step and re-optimising, doubling until the count is reached; a count that is not
``base_steps``·2^j is then met by the paper's log-linear resampling of the optimised grid.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import torch

from .._validation import check_positive_int, check_sigma_range
from .heuristic import _finish, align_your_steps, karras

__all__ = ["AysResult", "ays_klub", "optimize_ays"]


def _interval_terms(denoiser, x0, eps, hi: float, lo: float, nodes: int) -> float:
    """∫_lo^hi E‖D(x0+σε, σ) − D(x0+hi·ε, hi)‖²/σ³ dσ by Gauss–Legendre in log σ."""
    u_nodes, weights = np.polynomial.legendre.leggauss(nodes)
    a, b = np.log(lo), np.log(hi)
    u = 0.5 * (b - a) * u_nodes + 0.5 * (a + b)
    w = 0.5 * (b - a) * weights
    n = x0.shape[0]
    anchor = denoiser(x0 + hi * eps, torch.full((n,), hi, dtype=x0.dtype))
    total = 0.0
    for ui, wi in zip(u, w, strict=True):
        s = float(np.exp(ui))
        d = denoiser(x0 + s * eps, torch.full((n,), s, dtype=x0.dtype))
        gap = (d - anchor).reshape(n, -1).square().sum(1).mean()
        total += wi * float(gap) * float(np.exp(-2 * ui))
    return total


def ays_klub(denoiser, samples: torch.Tensor, sigmas, *, nodes: int = 4, seed: int = 0) -> float:
    """The KLUB of the grid ``sigmas`` (decreasing; a final 0 is ignored) estimated on
    ``samples`` (the data, one row per sample) with seeded common noise."""
    x0, eps = _common(samples, seed)
    s = [float(v) for v in torch.as_tensor(sigmas).tolist() if v > 0]
    with torch.no_grad():
        return sum(
            _interval_terms(denoiser, x0, eps, a, b, nodes) for a, b in itertools.pairwise(s)
        )


def _common(samples: torch.Tensor, seed: int):
    x0 = torch.as_tensor(samples).double()
    gen = torch.Generator().manual_seed(seed)
    return x0, torch.randn(x0.shape, generator=gen, dtype=torch.float64)


class AysResult:
    """The last stage's optimised grid (``sigmas``, float64, no final 0; before any log-linear
    resampling to the requested count) and the KLUB after each sweep of every stage
    (``history``, each stage starting with its initial grid's)."""

    def __init__(self, sigmas: np.ndarray, history: list[float]) -> None:
        self.sigmas, self.history = sigmas, history


def _descend(denoiser, x0, eps, grid: np.ndarray, *, sweeps, candidates, nodes) -> list[float]:
    """Coordinate descent on ``grid`` in place; returns the KLUB before and after each sweep."""
    cache: dict[tuple[float, float], float] = {}

    def term(hi: float, lo: float) -> float:
        key = (hi, lo)
        if key not in cache:
            cache[key] = _interval_terms(denoiser, x0, eps, hi, lo, nodes)
        return cache[key]

    def total() -> float:
        return sum(term(a, b) for a, b in itertools.pairwise(grid))

    history = [total()]
    for _ in range(sweeps):
        moved = False
        for i in range(1, len(grid) - 1):
            left, right = grid[i - 1], grid[i + 1]  # left > grid[i] > right
            options = np.exp(np.linspace(np.log(right), np.log(left), candidates + 2)[1:-1])
            options = np.append(options, grid[i])
            costs = [term(left, float(c)) + term(float(c), right) for c in options]
            best = float(options[int(np.argmin(costs))])
            if best != grid[i]:
                grid[i], moved = best, True
        history.append(total())
        if not moved:
            break
    return history


def optimize_ays(
    denoiser: Callable,
    samples: torch.Tensor,
    steps: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    base_steps: int = 10,
    sweeps: int = 12,
    candidates: int = 12,
    nodes: int = 4,
    seed: int = 0,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, AysResult]:
    """The AYS grid of ``steps`` steps for ``denoiser`` on the data ``samples`` (module
    docstring), started from EDM's ρ = 7 grid; returns ``(grid, result)``.

    Args:
        samples: data points x0 (N, ...), e.g. a few hundred from the training set or target.
        base_steps: the step count optimised first; larger counts come by subdivision.
        sweeps, candidates: coordinate-descent rounds per stage and values tried per σ_i.
        nodes: Gauss–Legendre points per interval of the KLUB quadrature.
    """
    steps = check_positive_int("steps", steps)
    lo, hi = check_sigma_range(sigma_min, sigma_max)
    x0, eps = _common(samples, seed)
    first = min(steps, base_steps)
    grid = karras(first, lo, hi).double().numpy().copy()
    history: list[float] = []
    with torch.no_grad():
        while True:
            opts = dict(sweeps=sweeps, candidates=candidates, nodes=nodes)
            history += _descend(denoiser, x0, eps, grid, **opts)
            if len(grid) - 1 >= steps:
                break
            mids = np.sqrt(grid[:-1] * grid[1:])  # subdivide: log-midpoints
            grid = np.insert(grid, np.arange(1, len(grid)), mids)
    result = AysResult(grid.copy(), history)  # the last stage's optimised grid
    if len(grid) - 1 != steps:
        grid = align_your_steps(steps, grid).numpy()
    sig = _finish(torch.as_tensor(grid), lo, hi, final_zero, dtype, "cpu")
    return sig, result
