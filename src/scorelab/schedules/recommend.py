"""Which loss-curve schedule to use, for a sampler kind, a metric and a curve (ours).

The rule behind ``scorelab schedule optimize`` (``docs/design/schedules.md`` §4 and §7), measured
with exact output laws by ``benchmarks/schedules_surrogate.py``. Its inputs are only what a user
has: the sampler's kind (:func:`sampler_kind`), which error matters (``"continuous"``: the law
at σ_min; ``"snapped"``: after a final denoise onto discrete-like data) and the loss curve, through
:func:`~scorelab.schedules.surrogate.resolved_fraction` (is the data resolved before σ_min?);
optionally data samples with a denoiser, for Align Your Steps.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import torch

from ..theory import Curve
from .ays import optimize_ays
from .heuristic import log_snr_uniform
from .information import (
    entropic_schedule,
    information_las_schedule,
    multistep_information_las_schedule,
)
from .surrogate import gaussian_step_schedule, resolved_fraction

__all__ = [
    "FALLBACK",
    "KINDS",
    "METRICS",
    "NEEDS",
    "POSTERIOR_STEP_SAMPLERS",
    "RECOMMENDED",
    "RESOLVED_THRESHOLD",
    "recommended_name",
    "recommended_schedule",
    "sampler_kind",
    "surrogate_step",
]

METRICS = ("continuous", "snapped")
#: "posterior": every step samples the frozen-x0 posterior (DDPM; gauss-step's costs are exact
#: for it); "stochastic": other SDE samplers; "deterministic": ODE solvers.
KINDS = ("posterior", "stochastic", "deterministic")
POSTERIOR_STEP_SAMPLERS = frozenset({"ddpm"})

#: (data still continuous at σ_min?, sampler kind, metric) → schedule name. Measured on DDPM
#: (posterior), accel_sde (stochastic) and DPM-Solver++(2M) (deterministic) with exact output
#: laws; other samplers follow their kind. ``gauss-opt`` needs the sampler itself (it is
#: optimised on the sampler's exact output law on the Gaussian surrogate:
#: :func:`scorelab.grids.gaussian_optimized_schedule`), ``ays-opt`` data samples and a denoiser;
#: without them :data:`FALLBACK` applies.
RECOMMENDED: dict[tuple[bool, str, str], str] = {
    (True, "posterior", "continuous"): "gauss-opt",
    (True, "posterior", "snapped"): "gauss-opt",
    (True, "stochastic", "continuous"): "gauss-opt",
    (True, "stochastic", "snapped"): "gauss-opt",
    (True, "deterministic", "continuous"): "gauss-opt",
    (True, "deterministic", "snapped"): "gauss-opt",
    (False, "posterior", "continuous"): "info-las",
    (False, "posterior", "snapped"): "entropic",
    (False, "stochastic", "continuous"): "info-las",
    (False, "stochastic", "snapped"): "entropic",
    (False, "deterministic", "continuous"): "info-las-ms",
    (False, "deterministic", "snapped"): "ays-opt",
}
#: name → what it needs beyond the loss curve (a keyword of :func:`recommended_schedule`)
NEEDS = {"ays-opt": "samples", "gauss-opt": "sampler_optimizer"}
#: (name, sampler kind) → the choice when what the name needs is not given (the previous rule,
#: measured in the same benchmark)
FALLBACK: dict[tuple[str, str], str] = {
    ("ays-opt", "deterministic"): "log-snr",
    ("gauss-opt", "posterior"): "gauss-step",
    ("gauss-opt", "stochastic"): "log-snr",
    ("gauss-opt", "deterministic"): "log-snr",
}

#: resolved_fraction at or above this counts as resolved (atom-like). The Gaussian surrogate
#: behind gauss-step is exact only for data that stays continuous down to σ_min (fraction ≈ 0);
#: partial resolution already breaks it (atoms5-clusters ×0.1 has fraction 0.15 and gauss-step
#: there is 11–28× worse than info-las, docs/bench-schedules-surrogate.csv), so the bar is low.
#: Chosen on the same exact laws the benchmark reports (not held out).
RESOLVED_THRESHOLD = 0.1

_BUILDERS: dict[str, Callable[..., torch.Tensor]] = {
    "gauss-step": gaussian_step_schedule,
    "info-las": information_las_schedule,
    "info-las-ms": multistep_information_las_schedule,
    "entropic": entropic_schedule,
}


def surrogate_step(kind: str) -> str:
    """The :data:`~scorelab.schedules.surrogate.STEP_KINDS` entry whose single-step costs stand
    for a sampler of this :data:`KINDS` kind: ``"deterministic"`` for ODE solvers (a DDIM step),
    ``"posterior"`` for the rest (a DDPM step; exact only for the posterior kind)."""
    return "deterministic" if kind == "deterministic" else "posterior"


def sampler_kind(name: str, stochastic: bool) -> str:
    """The :data:`KINDS` entry of the sampler ``name`` (``stochastic``: it injects noise)."""
    if name in POSTERIOR_STEP_SAMPLERS:
        return "posterior"
    return "stochastic" if stochastic else "deterministic"


def recommended_name(
    loss: Callable | Curve,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    kind: str,
    metric: str = "continuous",
    available: Collection[str] = (),
) -> tuple[str, float]:
    """``(name, resolved_fraction)``: the :data:`RECOMMENDED` schedule's name for this sampler
    kind, metric and loss curve, without building it. ``available`` names the :data:`NEEDS`
    that are at hand (``"samples"``, ``"sampler_optimizer"``); a choice whose need is missing
    becomes its :data:`FALLBACK`."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {list(METRICS)}")
    if kind not in KINDS:
        raise ValueError(f"unknown sampler kind {kind!r}; choose from {list(KINDS)}")
    resolved = resolved_fraction(loss, sigma_min, sigma_max)
    name = RECOMMENDED[(resolved < RESOLVED_THRESHOLD, kind, metric)]
    if name in NEEDS and NEEDS[name] not in available:
        name = FALLBACK[(name, kind)]
    return name, resolved


def recommended_schedule(
    steps: int,
    loss: Callable | Curve,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    kind: str,
    metric: str = "continuous",
    samples: Callable[[], tuple[Callable, torch.Tensor]] | None = None,
    sampler_optimizer: Callable[..., torch.Tensor] | None = None,
    num_candidates: int | None = None,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> tuple[str, torch.Tensor, float]:
    """``(name, sigmas, resolved_fraction)``: the :data:`RECOMMENDED` schedule of ``steps``
    steps for this sampler kind, metric and loss curve (σ units).

    Args:
        kind: a :data:`KINDS` entry (:func:`sampler_kind`).
        metric: ``"continuous"`` or ``"snapped"`` (see the module docstring).
        samples: a function returning ``(denoiser, x0)``, called only when the choice needs
            data (``ays-opt``: the KLUB is estimated on x0 with that denoiser); without it such
            choices become :data:`FALLBACK`'s.
        sampler_optimizer: ``f(steps, loss, sigma_min, sigma_max, final_zero=...) -> sigmas``
            for ``gauss-opt``: the grid optimised on the sampler's exact output law on the
            loss curve's Gaussian surrogate (:func:`scorelab.grids.gauss_opt_builder` of the
            sampler's name; this layer cannot import samplers). Without it, the
            :data:`FALLBACK`.
        num_candidates: the optimiser's candidate levels; ``None`` keeps each schedule's own
            default, as measured in the benchmark.
    """
    given = {"samples": samples, "sampler_optimizer": sampler_optimizer}
    available = [k for k, v in given.items() if v is not None]
    name, resolved = recommended_name(
        loss, sigma_min, sigma_max, kind=kind, metric=metric, available=available
    )
    if name == "gauss-opt":
        sigmas = sampler_optimizer(steps, loss, sigma_min, sigma_max, final_zero=final_zero)
        return name, sigmas.to(dtype=dtype, device=device), resolved
    if name == "log-snr":
        sigmas = log_snr_uniform(steps, sigma_min, sigma_max, final_zero=final_zero)
        return name, sigmas.to(dtype=dtype, device=device), resolved
    if name == "ays-opt":
        denoiser, x0 = samples()
        sigmas, _ = optimize_ays(
            denoiser, x0, steps, sigma_min, sigma_max, final_zero=final_zero, dtype=dtype
        )
        return name, sigmas.to(device=device), resolved
    options: dict = {"final_zero": final_zero, "dtype": dtype, "device": device}
    if num_candidates is not None:
        options["num_candidates"] = num_candidates
    if name == "gauss-step":
        options["step"] = surrogate_step(kind)
    return name, _BUILDERS[name](steps, loss, sigma_min, sigma_max, **options), resolved
