"""Noise-level schedules: decreasing σ grids σ_max = σ_0 > … > σ_K = σ_min (+ optional final 0).

Heuristics (``heuristic``), the Loss-Adaptive Schedule (``las``), entropic time and the
saturating-information schedule (``information``), Align Your Steps optimised on samples
(``ays``: :func:`optimize_ays`), the Gaussian-surrogate step schedule (``surrogate``), the rule
that picks one for a sampler (``recommend``: :func:`recommended_schedule`) and import/export
(``export``).
:data:`SCHEDULES` maps names to the heuristic schedules (:func:`get_schedule` builds one by name),
:data:`LOSS_SCHEDULES` to the schedules built from a loss curve.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .ays import ays_klub, optimize_ays
from .export import load_schedule, save_schedule, to_diffusers, to_k_diffusion
from .heuristic import (
    AYS_SD15_SIGMAS,
    align_your_steps,
    append_zero,
    beta_schedule,
    check_sigmas,
    cosine,
    ddpm_respaced,
    ddpm_respaced_timesteps,
    flow_time,
    karras,
    kl_optimal,
    log_snr_uniform,
    polyexponential,
    quadratic_vp_time,
    theory_learning_rate,
    uniform_vp_time,
)
from .information import (
    entropic_schedule,
    information_las_schedule,
    multistep_information_las_schedule,
    path_dp,
    saturating_schedule,
)
from .las import las_dp, las_objective, las_schedule, oracle_las
from .recommend import RECOMMENDED, recommended_schedule
from .schedule import Schedule
from .surrogate import gaussian_step_schedule


def _respaced(spacing: str) -> Callable[..., torch.Tensor]:
    def build(steps: int, sigma_min=None, sigma_max=None, **kw) -> torch.Tensor:
        if sigma_min is not None or sigma_max is not None:
            raise ValueError("DDPM respacing takes its endpoints from the model's betas")
        return ddpm_respaced(steps, spacing=spacing, **kw)

    build.__doc__ = f"DDPM respacing with spacing={spacing!r} (see :func:`ddpm_respaced`)."
    build.__wrapped__ = ddpm_respaced  # type: ignore[attr-defined]
    return build


def _theory(steps: int, sigma_min=None, sigma_max=None, **kw) -> torch.Tensor:
    if sigma_min is not None or sigma_max is not None:
        raise ValueError("the theory learning-rate schedule sets its endpoints from (T, c0, c1)")
    return theory_learning_rate(steps, **kw)


_theory.__wrapped__ = theory_learning_rate  # type: ignore[attr-defined]


def _ays(steps: int, sigma_min=None, sigma_max=None, **kw) -> torch.Tensor:
    if sigma_min is not None or sigma_max is not None:
        raise ValueError("align-your-steps takes its endpoints from the reference sigmas")
    return align_your_steps(steps, **kw)


_ays.__wrapped__ = align_your_steps  # type: ignore[attr-defined]


def _flow_time_shift3(steps: int, sigma_min=0.002, sigma_max=80.0, **kw) -> torch.Tensor:
    """:func:`flow_time` with shift 3 (SD3's default)."""
    return flow_time(steps, sigma_min, sigma_max, shift=3.0, **kw)


_flow_time_shift3.__wrapped__ = flow_time  # type: ignore[attr-defined]


#: name -> function(steps, sigma_min, sigma_max, **options) returning a decreasing σ grid
SCHEDULES: dict[str, Callable[..., torch.Tensor]] = {
    "uniform-t": uniform_vp_time,
    "quad-t": quadratic_vp_time,
    "cosine": cosine,
    "karras": karras,
    "log-snr": log_snr_uniform,
    "kl-optimal": kl_optimal,
    "beta": beta_schedule,
    "flow-t": flow_time,
    "flow-t3": _flow_time_shift3,
    "polyexponential": polyexponential,
    "ddpm-uniform": _respaced("uniform"),
    "ddpm-leading": _respaced("leading"),
    "ddpm-trailing": _respaced("trailing"),
    "ays": _ays,
    "li-theory": _theory,
}
#: name -> function(steps, loss_curve, sigma_min, sigma_max, *, num_candidates, final_zero):
#: schedules built from a per-level loss (or exact mmse) curve
LOSS_SCHEDULES: dict[str, Callable[..., torch.Tensor]] = {
    "las": las_schedule,
    "info-las": information_las_schedule,
    "info-las-ms": multistep_information_las_schedule,
    "entropic": entropic_schedule,
    "sat-info": saturating_schedule,
    "gauss-step": gaussian_step_schedule,
}
#: k-diffusion's names for the same grids
ALIASES = {"vp": "uniform-t", "exponential": "log-snr", "edm": "karras"}


def get_schedule(name: str, steps: int, sigma_min=None, sigma_max=None, **options) -> torch.Tensor:
    """Build the heuristic schedule ``name`` (see :data:`SCHEDULES`, :data:`ALIASES`)."""
    key = ALIASES.get(name, name)
    if key not in SCHEDULES:
        raise ValueError(
            f"unknown schedule {name!r}; choose from {sorted(SCHEDULES) + sorted(ALIASES)} "
            "(LAS: scorelab.schedules.las_schedule)"
        )
    fn = SCHEDULES[key]
    if key.startswith("ddpm-") or key in ("ays", "li-theory"):
        return fn(steps, sigma_min, sigma_max, **options)
    kw = {k: v for k, v in (("sigma_min", sigma_min), ("sigma_max", sigma_max)) if v is not None}
    return fn(steps, **kw, **options)


__all__ = [
    "ALIASES",
    "AYS_SD15_SIGMAS",
    "LOSS_SCHEDULES",
    "RECOMMENDED",
    "SCHEDULES",
    "Schedule",
    "align_your_steps",
    "append_zero",
    "ays_klub",
    "beta_schedule",
    "check_sigmas",
    "cosine",
    "ddpm_respaced",
    "ddpm_respaced_timesteps",
    "entropic_schedule",
    "flow_time",
    "gaussian_step_schedule",
    "get_schedule",
    "information_las_schedule",
    "karras",
    "kl_optimal",
    "las_dp",
    "las_objective",
    "las_schedule",
    "load_schedule",
    "log_snr_uniform",
    "multistep_information_las_schedule",
    "optimize_ays",
    "oracle_las",
    "path_dp",
    "polyexponential",
    "quadratic_vp_time",
    "recommended_schedule",
    "saturating_schedule",
    "save_schedule",
    "theory_learning_rate",
    "to_diffusers",
    "to_k_diffusion",
    "uniform_vp_time",
]
