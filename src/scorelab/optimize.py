"""One call from what a user has to the schedule scorelab recommends:
:func:`optimize_schedule` ``(source, sampler=…, nfe=…) -> Schedule``.

The ``source`` decides the proxy the candidates are measured on (``docs/design/optimize.md``):

=====================================  =========================================================
source                                 measured on
=====================================  =========================================================
a scorelab checkpoint (.safetensors)   the model's own trajectories (EDM and flow models alike)
a diffusers model folder               the model's own trajectories (DDPM-type or flow-matching)
a denoiser callable + ``data``         a mixture surrogate of ``data`` (≤ 16 coordinates) or the
                                       denoiser's trajectories (``data`` or ``sample_shape``)
a built-in target name                 its surrogate or trajectories, as for a denoiser
a loss curve / loss-curve file         nothing to run: the measured-best standard rule
=====================================  =========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from .effort import EFFORT, effort_settings
from .schedules.schedule import Schedule

__all__ = ["EFFORT", "optimize_schedule"]


def _schedule(result, info: dict) -> Schedule:
    meta = result.meta()
    best = result.best_standard
    if best is not None:
        meta["best_standard"] = {"name": best[0], "proxy_error": best[1]}
    return Schedule(
        result.sigmas.double().numpy(),
        sampler=result.sampler,
        nfe=result.nfe,
        name=f"optimize → {meta['chosen']}",
        info={**info, **meta},
    )


def optimize_schedule(
    source,
    *,
    sampler: str,
    nfe: int,
    data: torch.Tensor | None = None,
    sample_shape: tuple[int, ...] | None = None,
    sigma_min: float | None = None,
    sigma_max: float | None = None,
    metric: str = "continuous",
    effort: str = "full",
    proxy_samples: int | None = None,
    reference_steps: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Schedule:
    """The grid scorelab recommends for ``sampler`` within ``nfe`` model calls on ``source``.

    Args:
        source: a checkpoint path, a diffusers model folder, a target name, a loss curve
            (:class:`~scorelab.loss_curve.LossCurve` or its file), or a denoiser
            ``D(x, sigma) -> x0_hat`` (then ``data`` or ``sample_shape`` is needed).
        sampler: a name of :data:`scorelab.samplers.SAMPLERS`.
        nfe: the budget of model calls per sample, the final denoise included.
        data: samples of the data (N, *shape), for a denoiser source.
        sample_shape: the shape of one sample, for a denoiser source without data.
        sigma_min, sigma_max: the grid's range (σ units); default the source's own, else
            (0.002, 80).
        metric: for surrogate proxies: ``continuous`` or ``snapped`` KL.
        effort: ``full``, ``fast`` or ``smoke`` (:data:`EFFORT`): how many noises, reference
            levels and refinement trials the measurement spends.
        proxy_samples: noises the trajectory proxy runs (one model call each per step);
            overrides the effort's.
        reference_steps: levels of the converged reference solution; overrides the effort's.
        progress: called with a line per measured candidate.

    Returns:
        a :class:`~scorelab.schedules.Schedule` whose ``info`` names the chosen grid, the proxy,
        its cost in model evaluations and every candidate's score.
    """
    from .grids import optimize_grid, steps_within
    from .loss_curve import LossCurve

    steps_within(sampler, nfe)  # the sampler and budget, validated first
    spend = dict(effort_settings(effort))
    spend["proxy_samples"] = proxy_samples or spend["proxy_samples"]
    spend["reference_steps"] = reference_steps or spend["reference_steps"]
    if isinstance(source, LossCurve):
        curve = source.monotone()
        lo = max(sigma_min or 0.002, float(curve.sigma[0]))
        hi = min(sigma_max or 80.0, float(curve.sigma[-1]))
        result = optimize_grid(sampler, nfe, lo, hi, curve=curve, progress=progress)
        return _schedule(result, {"source": "loss curve"})
    if callable(source):
        return _from_denoiser(
            source,
            {"source": type(source).__name__},
            sampler=sampler,
            nfe=nfe,
            data=data,
            sample_shape=sample_shape,
            lo=sigma_min or getattr(source, "sigma_min", 0.002),
            hi=sigma_max or getattr(source, "sigma_max", 80.0),
            metric=metric,
            spend=spend,
            progress=progress,
        )
    if not isinstance(source, (str, Path)):
        raise TypeError(
            "source must be a checkpoint or loss-curve path, a diffusers folder, a target "
            f"name, a LossCurve or a denoiser, got {type(source).__name__}"
        )
    return _from_path(
        Path(source),
        sampler=sampler,
        nfe=nfe,
        sigma_min=sigma_min,
        sigma_max=sigma_max,
        metric=metric,
        effort=effort,
        spend=spend,
        progress=progress,
    )


def _from_path(
    path: Path, *, sampler, nfe, sigma_min, sigma_max, metric, effort, spend, progress
) -> Schedule:
    """A diffusers model folder, a checkpoint, a loss-curve file or a target name."""
    if path.is_dir():
        from .models.diffusers import load_diffusers_model

        denoiser, shape = load_diffusers_model(path)
        lo = sigma_min or denoiser.sigma_min * (1 + 1e-4)
        hi = sigma_max or denoiser.sigma_max * (1 - 1e-4)
        return _from_denoiser(
            denoiser,
            {"source": str(path)},
            sampler=sampler,
            nfe=nfe,
            sample_shape=shape,
            lo=lo,
            hi=hi,
            metric=metric,
            spend=spend,
            progress=progress,
        )
    from .curves import optimized_schedule
    from .targets.presets import PRESETS

    kind = (
        "target"
        if str(path) in PRESETS
        else "model"
        if path.suffix == ".safetensors"
        else "loss_curve"
    )
    if kind != "target" and not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path} (and not a target name)")
    built = optimized_schedule(
        sampler,
        nfe,
        metric=metric,
        sigma_min=sigma_min,
        sigma_max=sigma_max,
        proxy_samples=spend["proxy_samples"],
        reference_steps=spend["reference_steps"],
        effort=effort,
        progress=progress,
        **{kind: str(path)},
    )
    meta = dict(built.meta)
    return Schedule(
        built.sigmas.double().numpy(),
        sampler=sampler,
        nfe=meta.get("nfe", nfe),
        name=f"optimize → {meta.get('chosen', '?')}",
        info=meta,
    )


def _from_denoiser(
    denoiser,
    info: dict,
    *,
    sampler: str,
    nfe: int,
    lo: float,
    hi: float,
    data=None,
    sample_shape=None,
    metric: str,
    spend: dict,
    progress,
) -> Schedule:
    from .grids import optimize_grid, proxy_for

    if data is None and sample_shape is None:
        raise ValueError("a denoiser source needs data= (samples) or sample_shape=")
    if data is None:
        data = torch.zeros(1, *sample_shape)
    proxy = proxy_for(
        denoiser,
        torch.as_tensor(data),
        lo,
        hi,
        metric=metric,
        num_samples=spend["proxy_samples"],
        reference_steps=spend["reference_steps"],
        surrogate_samples=spend["surrogate"],
        law_samples=spend["law_samples"],
        law_reference_steps=spend["law_reference_steps"],
    )
    result = optimize_grid(
        sampler, nfe, lo, hi, proxy=proxy, refine_budget=spend["refine_budget"], progress=progress
    )
    return _schedule(result, info)
