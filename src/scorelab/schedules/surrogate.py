"""Gaussian-surrogate step schedule (ours): single-step output costs that are exact on a Gaussian
fitted to the loss curve. ``docs/design/schedules.md`` §7.

Units: σ (noise std), SNR γ = 1/σ². The curve L(σ) is the total x0-loss (or exact mmse) over
all dimensions.

1. **Surrogate.** A centred Gaussian with n_j ≥ 0 dimensions of variance v_j (v_j log-spaced,
   n_j fractional) has mmse Σ_j n_j σ² v_j / (σ² + v_j), which is *linear* in n. The n_j are
   fitted by non-negative least squares to L at log-spaced σ, in relative error, with one more
   non-negative constant: the part of L that stays flat as σ → 0. A true mmse is at most d σ²,
   so that part is model error; no step placement removes it, and the step costs leave it out
   (:func:`fit_gaussian_spectrum`). On a Gaussian target the fit recovers its spectrum.
2. **Exact single-step costs.** One step σ_a → σ_b of the sampler, started from the exact law
   at σ_a with the exact denoiser D_a(x) = x v/(v + σ_a²), maps each coordinate linearly:
   x_b = c x_a + s ξ. Its output variance q = c²(v + σ_a²) + s² against the true v + σ_b² gives
   the KL added by that one step, ½ Σ_j n_j (r − 1 − log r), r = (v_j + σ_b²)/q_j
   (:func:`single_step_costs`):

   * ``"posterior"`` (DDPM / frozen-x0): t = σ_b²/σ_a², c = t + (1 − t) w, s² = σ_b²(1 − t);
   * ``"deterministic"`` (DDIM, the first step of DPM-Solver++): t = σ_b/σ_a, c = t + (1 − t) w,
     s = 0;  with w = v/(v + σ_a²);
   * ``"accelerated"`` (one ``accel_sde`` step with no history: the posterior move
     m = c_p x_a + s_p ξ of the first kind, then the correction with a second query at (m, σ_b),
     x_b = m + ½(1 − t)(w_b m − w x_a), w_b = v/(v + σ_b²), t = σ_b²/σ_a²; no clipping).
3. **Schedule.** The exact shortest K-edge path over candidate levels with these edge costs
   (:func:`~scorelab.schedules.information.path_dp`): the issue's "isolated-step" yardstick, but
   computed from the loss curve through the surrogate instead of from the target.

Unlike LAS's path KL D, these costs vanish for steps far below the data's scale (a Gaussian has no
structure at σ ≪ √v, and the output law at σ_min does not see those steps), which is why LAS and
info-las lose on Gaussians and this schedule does not. It knows nothing of atoms: on laws that are
resolved before σ_min (mmse ≪ σ² there) it is poor, see :func:`resolved_fraction`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import nnls

from .._validation import check_positive_int, check_sigma_range
from ..theory import Curve
from .information import _finish, loss_at, path_dp

__all__ = [
    "STEP_KINDS",
    "GaussianSpectrum",
    "fit_gaussian_spectrum",
    "gaussian_step_schedule",
    "refine_grid",
    "resolved_fraction",
    "single_step_costs",
]

STEP_KINDS = ("posterior", "deterministic", "accelerated")


@dataclass(frozen=True)
class GaussianSpectrum:
    """n[j] dimensions of variance v[j] (a diagonal centred Gaussian; n may be fractional), and
    the part of the loss that does not vanish as σ → 0 (``floor``): model error, since a true
    mmse is at most d σ²."""

    variances: np.ndarray
    counts: np.ndarray
    floor: float = 0.0

    def mmse(self, sigma) -> np.ndarray:
        """Σ_j n_j σ² v_j/(σ² + v_j) + floor at each σ (the fitted loss curve)."""
        s2 = np.asarray(sigma, dtype=np.float64)[..., None] ** 2
        v = self.variances
        return (self.counts * s2 * v / (s2 + v)).sum(-1) + self.floor


def fit_gaussian_spectrum(
    loss: Callable | Curve,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    num_variances: int = 64,
    num_points: int = 240,
) -> GaussianSpectrum:
    """The Gaussian surrogate of a loss curve (module docstring, 1): NNLS in relative error at
    ``num_points`` log-spaced σ in [σ_min, σ_max], over ``num_variances`` variances log-spaced
    from σ_min² to (10 σ_max)² and one constant (the floor). Structure finer than σ_min cannot
    change the law at σ_min, so it is not modelled; a loss that stays flat down to σ_min (a
    model's error floor) goes to ``floor`` instead of to a huge count of tiny variances, and the
    step costs ignore it. Values below 1e-9 of the curve's maximum are floored there (a resolved
    law's mmse is exponentially small)."""
    lo, hi = check_sigma_range(sigma_min, sigma_max)
    J = check_positive_int("num_variances", num_variances, minimum=2)
    P = check_positive_int("num_points", num_points, minimum=2)
    s = np.geomspace(lo, hi, P)
    L = loss_at(loss, s)
    if not L.max() > 0:
        raise ValueError("the loss curve is 0 everywhere: no surrogate to fit")
    L = np.maximum(L, 1e-9 * L.max())
    v = np.geomspace(lo**2, (hi * 10) ** 2, J)
    basis = s[:, None] ** 2 * v[None, :] / (s[:, None] ** 2 + v[None, :])
    basis = np.concatenate([basis, np.ones((P, 1))], axis=1) / L[:, None]
    coef, _ = nnls(basis, np.ones(P))
    n, floor = coef[:-1], float(coef[-1])
    keep = n > 0
    return GaussianSpectrum(v[keep], n[keep], floor)


def single_step_costs(sigmas, spectrum: GaussianSpectrum, step: str = "posterior") -> np.ndarray:
    """KL (nats) added to the output by one step σ_a → σ_b, all else exact, on the surrogate:
    an (M, M) array for the decreasing candidate σ's, entry [a, b] for a < b (others 0). See the
    module docstring, 2."""
    if step not in STEP_KINDS:
        raise ValueError(f"unknown step kind {step!r}; choose from {STEP_KINDS}")
    cand = np.asarray(sigmas, dtype=np.float64)
    sa, sb = cand[:, None, None], cand[None, :, None]
    v, n = spectrum.variances, spectrum.counts
    M = cand.size
    upper = np.triu(np.ones((M, M), dtype=bool), 1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w = v / (v + sa**2)
        if step == "posterior":
            t = (sb / sa) ** 2
            q = (t + (1 - t) * w) ** 2 * (v + sa**2) + sb**2 * (1 - t)
        elif step == "accelerated":
            t = (sb / sa) ** 2
            lift = 1 + 0.5 * (1 - t) * v / (v + sb**2)
            gain = lift * (t + (1 - t) * w) - 0.5 * (1 - t) * w
            q = gain**2 * (v + sa**2) + lift**2 * sb**2 * (1 - t)
        else:
            t = sb / sa
            q = (t + (1 - t) * w) ** 2 * (v + sa**2)
        r = (v + sb**2) / q
        kl = (n * 0.5 * (r - 1 - np.log(r))).sum(-1)
    return np.where(upper, kl, 0.0)


def resolved_fraction(loss: Callable | Curve, sigma_min: float, sigma_max: float) -> float:
    """1 − [L(σ)/σ²]_{σ_min} / max_σ L(σ)/σ²: near 0 for continuous data (a Gaussian's L/σ² is
    largest as σ → 0), near 1 for a law that is resolved before σ_min (atoms: L ≪ σ² there).
    On 240 log-spaced levels."""
    lo, hi = check_sigma_range(sigma_min, sigma_max)
    s = np.geomspace(lo, hi, 240)
    ratio = loss_at(loss, s) / s**2
    return float(1 - ratio[0] / max(ratio.max(), 1e-300))


def gaussian_step_schedule(
    steps: int,
    loss: Callable | Curve,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    step: str = "posterior",
    num_candidates: int = 256,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Gaussian-surrogate step schedule (ours; module docstring): K steps minimising the summed
    exact single-step output KL of ``step`` (``"posterior"``: DDPM, ``"deterministic"``: DDIM)
    on the Gaussian fitted to ``loss``, over ``num_candidates`` log-SNR-uniform levels."""
    steps = check_positive_int("steps", steps)
    lo, hi = check_sigma_range(sigma_min, sigma_max)
    M = check_positive_int("num_candidates", num_candidates, minimum=2)
    cand = np.geomspace(hi, lo, M)
    costs = single_step_costs(cand, fit_gaussian_spectrum(loss, lo, hi), step)
    return _finish(cand[path_dp(costs, steps)], final_zero, dtype, device)


def refine_grid(
    grid,
    objective: Callable[[np.ndarray], float],
    *,
    sweeps: int = 4,
    candidates: int = 10,
) -> tuple[np.ndarray, float]:
    """Coordinate descent on the interior levels of a decreasing σ ``grid`` (ends fixed):
    each σ_i in turn moves to the best of ``candidates`` log-spaced values strictly between its
    neighbours or stays (so the objective never increases); stops after ``sweeps`` rounds or a
    round without a move. Returns ``(grid, objective(grid))``."""
    g = np.array(grid, dtype=np.float64)
    sweeps = check_positive_int("sweeps", sweeps)
    candidates = check_positive_int("candidates", candidates, minimum=2)
    best = float(objective(g))
    for _ in range(sweeps):
        moved = False
        for i in range(1, g.size - 1):
            for value in np.geomspace(g[i + 1], g[i - 1], candidates + 2)[1:-1]:
                trial = g.copy()
                trial[i] = value
                f = float(objective(trial))
                if f < best:
                    best, g, moved = f, trial, True
        if not moved:
            break
    return g, best
