"""``optimize``: the σ grid scorelab recommends for a sampler and a budget of model calls (ours).

Measured, not guessed. The candidates are the standard grids a practitioner would pick anyway
(:data:`STANDARD`) and, when a loss curve is given, scorelab's curve-built grids
(:data:`FROM_CURVE`), and on a model the teacher-trajectory DP ``gits``
(:meth:`~scorelab.grids.proxy.TrajectoryProxy.gits_grid`). With a proxy
(:class:`~scorelab.grids.proxy.TrajectoryProxy`: the user's
own model, floor-free), every candidate is run through the sampler itself and the best on the
proxy is kept (for ODE samplers on images, the best by RMSE among those whose law distance
passes :data:`LAW_SLACK`), then refined one level at a time on half of the proxy's noises;
the refined grid replaces it only if it is also better on the other half (a held-out check
against overfitting the proxy). So on the proxy the result is never worse than the best
standard grid (with the law guard: by RMSE, among grids within the slack of the best law). Without a
proxy (a loss curve alone), the choice is a fixed rule measured on the exact tables
(:data:`CURVE_ONLY`), and it says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..samplers import SAMPLERS
from ..samplers._common import largest_steps_within
from ..schedules import LOSS_SCHEDULES, SCHEDULES
from .proxy import SurrogateProxy, TrajectoryProxy

__all__ = [
    "CURVE_ONLY",
    "DENOISE_POINTS",
    "FROM_CURVE",
    "LAW_LEADERS",
    "LAW_SLACK",
    "STANDARD",
    "OptimizedGrid",
    "candidate_grids",
    "optimize_grid",
    "proxy_for",
    "steps_within",
]

#: grids practitioners pick without scorelab (``kl-optimal`` is the same grid as ``cosine``;
#: ``uniform-t`` joins when σ_max is inside the VP process' range)
STANDARD = ("karras", "log-snr", "cosine", "beta", "uniform-t")
#: what flow-matching users run (uniform flow time, shift 1 and SD3's 3): standard grids too when
#: the model is a flow model
FLOW_STANDARD = ("flow-t", "flow-t3")
#: scorelab's grids built from a loss curve
FROM_CURVE = ("info-las", "info-las-ms", "entropic", "gauss-step")
#: on a model, the standard grids are also tried with a later denoise point: the last level
#: before the final denoise at these multiples of σ_min (at low NFE a last model call at σ_min
#: is nearly wasted: there x̂0 ≈ x). RMSE rewards blur (a later denoise returns a posterior
#: mean), so on images ODE choices pass the law guard (:data:`LAW_SLACK`); SDE samplers judged
#: by law need none: the Fréchet distance sees a blurred law's lost variance
DENOISE_POINTS = (10.0, 25.0, 100.0)
#: the law guard of ODE samplers on images: of the :data:`LAW_LEADERS` lowest-RMSE candidates
#: and the lowest-RMSE standard grid, the one chosen has the lowest RMSE among those whose law
#: distance to the model's own law (``TrajectoryProxy.law_error``) is at most this factor
#: times the lowest law distance among them. RMSE to the converged solution is floor-free,
#: but at a few calls it can prefer a grid whose samples are off the law: UniPC at 4 calls on
#: the Fashion-MNIST model, "uniform-t to 0.0224", RMSE 4 % below Karras and FD 1.9× Karras's
#: (docs/design/optimize.md)
LAW_SLACK = 1.1
#: how many of the lowest-RMSE candidates the law guard measures first
LAW_LEADERS = 4
#: the grid used when only a loss curve is at hand (no model to measure on): on the exact tables
#: (docs/bench-schedules-surrogate.csv) log-SNR-uniform is the most robust standard grid for
#: every sampler (geometric mean 1.1–2.6× the best standard grid, against 2.0–5.6× for EDM
#: ρ = 7 and 3.9–22× for cosine)
CURVE_ONLY = "log-snr"


@dataclass
class OptimizedGrid:
    """A recommended grid with its provenance.

    ``scores`` maps every candidate measured to its proxy error; ``proxy`` says what was
    measured and ``proxy_evaluations`` what it cost (model evaluations, one per sample per
    call, reference solution included)."""

    sigmas: torch.Tensor
    sampler: str
    steps: int
    nfe: int
    chosen: str
    refined: bool = False
    proxy: str = "none (loss-curve rule)"
    proxy_evaluations: int = 0
    scores: dict = field(default_factory=dict)
    #: candidate -> its outputs' detail (high-frequency energy over the converged solution's),
    #: measured on models of images
    details: dict = field(default_factory=dict)
    #: candidate -> its law distance (the law guard's, :data:`LAW_SLACK`)
    laws: dict = field(default_factory=dict)

    @property
    def best_standard(self) -> tuple[str, float] | None:
        std = {k: v for k, v in self.scores.items() if k in STANDARD + FLOW_STANDARD}
        if not std:
            return None
        name = min(std, key=std.get)
        return name, std[name]

    def meta(self) -> dict:
        out = {
            "chosen": self.chosen + (" + refined" if self.refined else ""),
            "sampler": self.sampler,
            "steps": self.steps,
            "nfe": self.nfe,
            "proxy": self.proxy,
            "proxy_evaluations": self.proxy_evaluations,
        }
        if self.scores:
            out["proxy_scores"] = {k: float(v) for k, v in self.scores.items()}
            out["proxy_error"] = float(self.scores.get("optimize", min(self.scores.values())))
        if "optimize" in self.details:
            out["proxy_detail"] = float(self.details["optimize"])
        if "optimize" in self.laws:
            out["proxy_law_distance"] = float(self.laws["optimize"])
        return out


def steps_within(sampler: str, nfe: int, *, final_zero: bool = True) -> tuple[int, int]:
    """``(K, NFE)``: the largest step count whose grid (with the final 0 when ``final_zero``)
    ``sampler`` runs in at most ``nfe`` model calls, by its declared NFE formula."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose from {sorted(SAMPLERS)}")
    spec = SAMPLERS[sampler]

    def cost(k: int) -> int:
        grid = torch.linspace(2.0, 1.0, k + 1, dtype=torch.float64)
        return spec.nfe(torch.cat([grid, torch.zeros(1)]) if final_zero else grid)

    k = largest_steps_within(cost, nfe, sampler)
    return k, cost(k)


def candidate_grids(
    steps: int,
    sigma_min: float,
    sigma_max: float,
    *,
    curve=None,
    final_zero: bool = True,
    names: tuple[str, ...] | None = None,
) -> dict[str, torch.Tensor]:
    """The candidate grids (float64) by name: :data:`STANDARD`, plus :data:`FROM_CURVE` when a
    loss curve is given. A grid that cannot be built on this range is left out."""
    wanted = names or (STANDARD + (FROM_CURVE if curve is not None else ()))
    out: dict[str, torch.Tensor] = {}
    for name in wanted:
        try:
            if name in SCHEDULES:
                grid = SCHEDULES[name](steps, sigma_min=sigma_min, sigma_max=sigma_max)
            elif name in LOSS_SCHEDULES:
                if curve is None:
                    continue
                grid = LOSS_SCHEDULES[name](steps, curve, sigma_min, sigma_max)
            else:
                raise ValueError(f"unknown candidate grid {name!r}")
        except ValueError as err:
            if "unknown candidate" in str(err):
                raise
            continue  # e.g. uniform-t when σ_max exceeds the VP range
        grid = grid.double()
        grid = grid[grid > 0]
        if final_zero:
            grid = torch.cat([grid, grid.new_zeros(1)])
        out[name] = grid
    return out


def _refine(
    grid: torch.Tensor,
    objective: Callable[[torch.Tensor], float],
    prepare: Callable[[torch.Tensor], torch.Tensor],
    sweeps: int,
    fractions: tuple[float, ...] = (0.25, 0.4, 0.6, 0.75),
    budget: int | None = None,
) -> tuple[torch.Tensor, float]:
    """Coordinate descent on the interior levels in log σ: each level tries points between its
    neighbours (``fractions`` of the gap, shrinking towards it each sweep); a move is kept when
    it lowers ``objective``. ``prepare`` maps a trial grid to the grid actually run (snapping).
    ``budget`` caps the number of trial evaluations (None: no cap)."""
    best = grid.clone()
    best_value = objective(best)
    positive = int((best > 0).sum())
    trials = 0
    for sweep in range(sweeps):
        shrink = 0.5**sweep
        for i in range(1, positive - 1):
            lo, hi = math.log(float(best[i + 1])), math.log(float(best[i - 1]))
            here = (math.log(float(best[i])) - lo) / (hi - lo)
            for f in fractions:
                trial_f = here + shrink * (f - 0.5)
                if not 0.02 < trial_f < 0.98:
                    continue
                trial = best.clone()
                trial[i] = math.exp(lo + trial_f * (hi - lo))
                trial = prepare(trial)
                if trial.numel() != best.numel() or torch.equal(trial, best):
                    continue
                if budget is not None and trials >= budget:
                    return best, best_value
                trials += 1
                value = objective(trial)
                if value < best_value:
                    best, best_value = trial, value
    return best, best_value


def _later_denoise_points(sampler, steps, sigma_min, sigma_max, proxy, prepared, measured, say):
    """Try the standard grids with later denoise points (:data:`DENOISE_POINTS`), adding them
    to ``prepared`` and to ``measured`` (``(per_sample, scores, details)``)."""
    names = tuple(n for n in prepared if n in SCHEDULES)
    later = {}
    for factor in DENOISE_POINTS:
        last = sigma_min * factor
        if last >= sigma_max / 10:
            continue
        for name, grid in candidate_grids(steps, last, sigma_max, names=names).items():
            later[f"{name} to {last:.3g}"] = proxy.prepare(sampler, grid)
    prepared.update(later)
    for into, found in zip(measured, _measure_all(sampler, steps, proxy, later, say), strict=True):
        into.update(found)


def _law_guard(sampler, steps, proxy, prepared, scores, laws, say) -> str:
    """The lowest-RMSE candidate whose law distance is within :data:`LAW_SLACK` of the lowest
    measured. Measured (into ``laws``): the :data:`LAW_LEADERS` RMSE leaders and the lowest-RMSE
    standard grid, then down the RMSE ranking until no unmeasured candidate could be chosen."""
    ranked = sorted(scores, key=scores.get)

    def measure(name: str) -> None:
        if name not in laws:
            laws[name] = proxy.law_error(sampler, prepared[name])
            say(f"optimize {sampler} K={steps}: {name} law distance {laws[name]:.4g}")

    def choice() -> str:
        bar = LAW_SLACK * min(laws.values())
        return min((name for name in laws if laws[name] <= bar), key=scores.get)

    for name in ranked[:LAW_LEADERS] + [n for n in ranked if n in STANDARD + FLOW_STANDARD][:1]:
        measure(name)
    for name in ranked:
        if scores[name] >= scores[choice()]:
            break
        measure(name)
    return choice()


def optimize_grid(
    sampler: str,
    nfe: int | None,
    sigma_min: float,
    sigma_max: float,
    *,
    steps: int | None = None,
    proxy: TrajectoryProxy | SurrogateProxy | None = None,
    curve=None,
    final_zero: bool = True,
    refine_sweeps: int = 2,
    refine_budget: int | None = None,
    candidates: tuple[str, ...] | None = None,
    progress: Callable[[str], None] | None = None,
) -> OptimizedGrid:
    """The recommended grid for ``sampler`` within ``nfe`` model calls (module docstring).

    Args:
        sampler: a name of :data:`scorelab.samplers.SAMPLERS`.
        nfe: the budget of model calls per sample (the final denoise included); or None and
            ``steps`` (the number of grid intervals K) instead.
        sigma_min, sigma_max: the grid's range (σ units).
        proxy: measures candidates (the user's model); None: the loss-curve rule.
        curve: a loss curve (or exact mmse curve), for the curve-built candidates.
        final_zero: end the grid with the final denoise to σ = 0.
        refine_sweeps: coordinate-descent sweeps after the choice (0: none).
        refine_budget: at most this many trial grids in the refinement (None: no cap).
        candidates: names to consider instead of the defaults.
        progress: called with a line per measured candidate.
    """
    if (nfe is None) == (steps is None):
        raise ValueError("give exactly one of nfe (a budget of model calls) or steps (K)")
    if nfe is not None:
        steps, cost = steps_within(sampler, nfe, final_zero=final_zero)
    else:
        grid = torch.linspace(2.0, 1.0, steps + 1, dtype=torch.float64)
        cost = SAMPLERS[sampler].nfe(torch.cat([grid, grid.new_zeros(1)]) if final_zero else grid)
    say = progress or (lambda line: None)
    grids = _candidates(sampler, steps, sigma_min, sigma_max, proxy, curve, final_zero, candidates)
    if proxy is None:
        return OptimizedGrid(grids[CURVE_ONLY], sampler, steps, cost, CURVE_ONLY)
    start_evals = proxy.evaluations
    prepared = {name: proxy.prepare(sampler, grid) for name, grid in grids.items()}
    per_sample, scores, details = _measure_all(sampler, steps, proxy, prepared, say)
    law = isinstance(proxy, TrajectoryProxy) and not proxy.is_paired(sampler)
    guarded = bool(details) and not SAMPLERS[sampler].stochastic  # ODE samplers on images
    if final_zero and (guarded or law):
        _later_denoise_points(
            sampler,
            steps,
            sigma_min,
            sigma_max,
            proxy,
            prepared,
            (per_sample, scores, details),
            say,
        )
    laws: dict[str, float] = {}
    if guarded:
        chosen = _law_guard(sampler, steps, proxy, prepared, scores, laws, say)
    else:
        chosen = _choose(sampler, steps, proxy, prepared, scores, say)
    best, refined = prepared[chosen], False
    if refine_sweeps > 0 and steps >= 2:
        best, refined = _refine_choice(
            sampler,
            proxy,
            prepared[chosen],
            chosen,
            per_sample,
            scores,
            (details, laws),
            refine_sweeps,
            refine_budget,
        )
        say(f"optimize {sampler} K={steps}: refined={refined}")
    scores.setdefault("optimize", scores[chosen])
    for measured in (details, laws):
        if chosen in measured:
            measured.setdefault("optimize", measured[chosen])
    return OptimizedGrid(
        best,
        sampler,
        steps,
        cost,
        chosen,
        refined,
        proxy.describe(),
        proxy.evaluations - start_evals,
        scores,
        details,
        laws,
    )


def _candidates(sampler, steps, sigma_min, sigma_max, proxy, curve, final_zero, names):
    """The candidate grids by name: ``names``, or the defaults (on a flow model its users'
    shifted grids too), plus the teacher-trajectory DP when the proxy runs a model."""
    chosen_names = names
    if chosen_names is None and getattr(
        getattr(proxy, "denoiser", None), "parametrisation", ""
    ) == ("velocity"):  # a flow model: what its users run is a standard grid too
        chosen_names = STANDARD + FLOW_STANDARD + (FROM_CURVE if curve is not None else ())
    grids = candidate_grids(
        steps, sigma_min, sigma_max, curve=curve, final_zero=final_zero, names=chosen_names
    )
    if proxy is not None and hasattr(proxy, "gits_grid") and (names is None or "gits" in names):
        grids["gits"] = proxy.gits_grid(steps)  # the teacher-trajectory DP, on the same model
    return grids


#: how many of the best candidates a proxy with ``precise_error`` re-ranks
RACE = 3


def _choose(sampler, steps, proxy, prepared, scores, say) -> str:
    """The best-scoring candidate; on a proxy with ``precise_error`` (more samples, fresh
    numbers) the best of the :data:`RACE` leaders by that measure, so that near-ties are not
    decided by one draw's noise."""
    chosen = min(scores, key=scores.get)
    precise = getattr(proxy, "precise_error", None)
    if precise is None:
        return chosen
    leaders = sorted(scores, key=scores.get)[:RACE]
    again = {name: precise(sampler, prepared[name]) for name in leaders}
    say(
        f"optimize {sampler} K={steps}: re-measured "
        + ", ".join(f"{name} {value:.4g}" for name, value in again.items())
    )
    return min(again, key=again.get)


def _measure_all(sampler, steps, proxy, prepared, say):
    """Every prepared candidate measured on the proxy: ``(per-noise squared errors (paired
    proxies only), scores, details (image proxies only))``, each by name."""
    paired = hasattr(proxy, "is_paired") and proxy.is_paired(sampler)
    per_sample: dict[str, np.ndarray] = {}
    scores: dict[str, float] = {}
    details: dict[str, float] = {}
    measure = getattr(proxy, "measure", None) if paired else None
    for name, grid in prepared.items():
        if measure is not None:
            errors, detail = measure(sampler, grid)
            per_sample[name] = errors**2
            scores[name] = float(math.sqrt(per_sample[name].mean()))
            if detail is not None:
                details[name] = detail
        elif paired:
            per_sample[name] = proxy.per_sample_errors(sampler, grid) ** 2
            scores[name] = float(math.sqrt(per_sample[name].mean()))
        else:
            scores[name] = proxy.error(sampler, grid)
        say(f"optimize {sampler} K={steps}: {name} {scores[name]:.4g}")
    return per_sample, scores, details


def _refine_choice(
    sampler, proxy, best, chosen, per_sample, scores, measured, sweeps, budget
) -> tuple[torch.Tensor, bool]:
    """Coordinate descent from the chosen grid: on a paired proxy the trial is fitted on the
    even noises and kept only if the odd ones agree (and, where the choice passed the law
    guard, only if its law distance passes it too); else on the proxy's error, and kept only if
    it also wins on the proxy's fresh random numbers (``held_out_error``) when it has them.
    Records the kept trial's score (and detail and law distance) under ``"optimize"`` in
    ``scores`` and ``measured`` (``(details, laws)``); returns ``(grid, refined)``."""
    details, laws = measured
    paired = hasattr(proxy, "is_paired") and proxy.is_paired(sampler)
    if paired:
        fit_rows = np.arange(proxy.num_samples) % 2 == 0

        def objective(grid: torch.Tensor) -> float:
            return float((proxy.per_sample_errors(sampler, grid, rows=fit_rows) ** 2).mean())

    else:

        def objective(grid: torch.Tensor) -> float:
            return proxy.error(sampler, grid)

    trial, value = _refine(
        best, objective, lambda g: proxy.prepare(sampler, g), sweeps, budget=budget
    )
    if torch.equal(trial, best):
        return best, False
    if not paired:
        confirm = getattr(proxy, "held_out_error", None)  # fresh random numbers, if it has them
        if value < scores[chosen] and (
            confirm is None or confirm(sampler, trial) < confirm(sampler, best)
        ):
            scores["optimize"] = value
            return trial, True
        return best, False
    errors, detail = (
        proxy.measure(sampler, trial)
        if chosen in details
        else (proxy.per_sample_errors(sampler, trial), None)
    )
    trial_sq = errors**2
    held = ~fit_rows
    if trial_sq[held].mean() >= per_sample[chosen][held].mean():
        return best, False
    if chosen in laws:  # refining may not leave the law either
        law = proxy.law_error(sampler, trial)
        if law > LAW_SLACK * min(laws.values()):
            return best, False
        laws["optimize"] = law
    scores["optimize"] = float(math.sqrt(trial_sq.mean()))
    if detail is not None:
        details["optimize"] = detail
    return trial, True


#: data of at most this many coordinates is measured on a fitted mixture surrogate
SURROGATE_MAX_DIM = 16


def proxy_for(
    denoiser: Callable,
    data: torch.Tensor,
    sigma_min: float,
    sigma_max: float,
    *,
    metric: str = "continuous",
    exact: bool = False,
    final_zero: bool = True,
    num_samples: int = 128,
    reference_steps: int = 256,
    surrogate_samples: int = 1 << 14,
    law_samples: int | None = None,
    law_reference_steps: int | None = None,
) -> TrajectoryProxy | SurrogateProxy:
    """The proxy ``optimize`` measures on, from what is at hand: a denoiser and data samples.

    Low-dimensional data (≤ :data:`SURROGATE_MAX_DIM` coordinates) is measured on a mixture
    surrogate fitted to ``data`` (:class:`SurrogateProxy`, the ``metric`` the user asked for);
    anything larger on the denoiser's own trajectories (:class:`TrajectoryProxy`, float64 when
    ``exact`` — an exact target — else float32, the dtype of a network; ``law_samples`` and
    ``law_reference_steps`` size its law distance, None: the proxy's defaults)."""
    shape = tuple(data.shape[1:])
    if math.prod(shape) <= SURROGATE_MAX_DIM:
        return SurrogateProxy(
            data, sigma_min, sigma_max, metric=metric, num_samples=surrogate_samples
        )
    return TrajectoryProxy(
        denoiser,
        shape,
        sigma_min,
        sigma_max,
        num_samples=num_samples,
        reference_steps=reference_steps,
        final_zero=final_zero,
        dtype=torch.float64 if exact else torch.float32,
        law_samples=law_samples,
        law_reference_steps=law_reference_steps,
    )
