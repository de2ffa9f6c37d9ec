"""Curve sources for the loss-curve schedules (``LOSS_SCHEDULES``: las, info-las, entropic,
sat-info): where the per-level loss comes from, and the grid built on it.

Three sources, exactly one per call:

* a loss-curve **file** (:meth:`LossCurve.load`: JSON or ``σ,loss`` text);
* a scorelab **checkpoint**: the curve recorded during training, or, with ``measure=True``, the
  x0-MSE measured on the held-out split at 64 log-uniform levels;
* a built-in **target**: its exact mmse (the oracle curve; for ``las`` this is oracle-LAS).

File and checkpoint curves are made monotone (isotonic, as an mmse must be), optionally smoothed
in log-SNR, and by default the grid stays inside the σ range where the curve was observed (no
extrapolation). The CLI's ``scorelab schedule NAME --loss-curve|--model|--target`` is a thin
wrapper around :func:`loss_curve_schedule`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from ._smoke import smoke_scaled
from .loss_curve import LossCurve
from .schedules import LOSS_SCHEDULES
from .theory import InformationCurve

__all__ = [
    "CurveSchedule",
    "ays_optimized_schedule",
    "loss_curve_schedule",
    "model_loss_curve",
    "optimized_schedule",
]


@dataclass(frozen=True)
class CurveSchedule:
    """A loss-curve schedule with the curve it was built on (to report D on that very curve,
    when it is a target's exact mmse) and what to record about its source."""

    sigmas: torch.Tensor
    curve: LossCurve | InformationCurve
    sigma_min: float
    sigma_max: float
    meta: dict


def model_loss_curve(path: str, measure: bool, sigma_min: float, sigma_max: float) -> LossCurve:
    """The loss curve of a checkpoint: recorded in training, or measured on held-out data."""
    from .data import load_dataset
    from .loss_curve import measure_loss_curve
    from .models import load_checkpoint

    denoiser, meta = load_checkpoint(path)
    if not measure:
        if "loss_curve" not in meta:
            raise ValueError(f"{path} has no recorded loss curve; use --measure")
        return meta["loss_curve"]
    data = torch.as_tensor(load_dataset(meta["info"]["config"]["data"], "test"))
    return measure_loss_curve(
        denoiser,
        data,
        np.geomspace(sigma_min, sigma_max, 64),
        samples_per_level=512,
        progress=True,
    )


def loss_curve_of(
    *,
    loss_curve: str | None = None,
    model: str | None = None,
    target: str | None = None,
    measure: bool = False,
    sigma_min: float | None = None,
    sigma_max: float | None = None,
    default_range: tuple[float, float] = (0.002, 80.0),
    smooth: float = 0.0,
    what: str = "this schedule",
    status: Callable[[str], AbstractContextManager] = lambda message: nullcontext(),
) -> tuple[LossCurve | InformationCurve, float, float, dict]:
    """``(curve, σ_lo, σ_hi, meta)`` from exactly one curve source (module docstring): a loss
    curve file, a checkpoint's recorded loss (measured anew with ``measure``), or a built-in
    target's exact mmse curve (Monte Carlo). ``sigma_min``/``sigma_max`` None mean
    ``default_range``, narrowed for file and checkpoint curves to where the curve was observed;
    ``smooth`` > 0 smooths those in log-SNR; ``what`` names the caller in the error."""
    if sum(a is not None for a in (loss_curve, model, target)) != 1:
        raise ValueError(
            f"{what} needs exactly one of --loss-curve FILE, --target NAME or --model CKPT"
        )
    lo = default_range[0] if sigma_min is None else sigma_min
    hi = default_range[1] if sigma_max is None else sigma_max
    if target is not None:
        from .targets import get_target
        from .theory import mmse_curve

        samples, points = smoke_scaled(20_000, 256), smoke_scaled(2001, 101)
        with status(f"the exact mmse curve of {target} ({samples} samples per level)"):
            curve = mmse_curve(get_target(target), lo, hi, num_points=points, num_samples=samples)
        return curve, lo, hi, {"oracle_target": target}
    meta: dict = {}
    if model is not None:
        curve = model_loss_curve(model, measure, lo, hi).monotone()
        meta.update(model=model, loss_curve_source="measured" if measure else "recorded")
    else:
        curve = LossCurve.load(loss_curve).monotone()
        meta["loss_curve"] = loss_curve
    # by default the grid stays where the curve was observed
    if sigma_min is None:
        lo = max(lo, float(curve.sigma[0]))
    if sigma_max is None:
        hi = min(hi, float(curve.sigma[-1]))
    if smooth > 0:
        curve = curve.smoothed(smooth).monotone()
    return curve, lo, hi, meta


def loss_curve_schedule(
    name: str,
    steps: int,
    *,
    loss_curve: str | None = None,
    model: str | None = None,
    target: str | None = None,
    measure: bool = False,
    sigma_min: float | None = None,
    sigma_max: float | None = None,
    default_range: tuple[float, float] = (0.002, 80.0),
    smooth: float = 0.0,
    candidates: int = 1000,
    final_zero: bool = False,
    status: Callable[[str], AbstractContextManager] = lambda message: nullcontext(),
) -> CurveSchedule:
    """The ``name`` schedule (a key of ``LOSS_SCHEDULES``) with ``steps`` steps from exactly one
    curve source (:func:`loss_curve_of`).

    Args:
        sigma_min, sigma_max: the grid's range; None means ``default_range``, narrowed for file
            and checkpoint curves to where the curve was observed.
        smooth: smoothing width in log-SNR for file and checkpoint curves (0 = none).
        candidates: number of candidate levels of the optimiser.
        status: ``status(message)`` → a context manager shown while a slow step runs (the CLI
            passes rich's spinner).
    """
    if name not in LOSS_SCHEDULES:
        raise ValueError(
            f"unknown loss-curve schedule {name!r}; choose from {list(LOSS_SCHEDULES)}"
        )
    source = {"loss_curve": loss_curve, "model": model, "target": target}
    if name == "las" and target is not None and sum(v is not None for v in source.values()) == 1:
        lo = default_range[0] if sigma_min is None else sigma_min
        hi = default_range[1] if sigma_max is None else sigma_max
        return _oracle_las(steps, target, lo, hi, candidates, final_zero, status)
    curve, lo, hi, meta = loss_curve_of(
        **source,
        measure=measure,
        sigma_min=sigma_min,
        sigma_max=sigma_max,
        default_range=default_range,
        smooth=smooth,
        what=name,
        status=status,
    )
    num_candidates = smoke_scaled(candidates, 100) if target is not None else candidates
    sigmas = LOSS_SCHEDULES[name](
        steps, curve, lo, hi, num_candidates=num_candidates, final_zero=final_zero
    )
    return CurveSchedule(sigmas, curve, lo, hi, meta)


def _oracle_las(steps, target, lo, hi, candidates, final_zero, status) -> CurveSchedule:
    from .schedules import oracle_las
    from .targets import get_target

    samples, points = smoke_scaled(20_000, 256), smoke_scaled(2001, 101)
    with status(
        f"oracle-LAS: the exact mmse curve of {target} ({samples} samples per level), then the DP"
    ):
        sigmas, curve = oracle_las(
            get_target(target),
            steps,
            lo,
            hi,
            num_candidates=smoke_scaled(candidates, 100),
            num_points=points,
            num_samples=samples,
            final_zero=final_zero,
            return_curve=True,
        )
    return CurveSchedule(sigmas, curve, lo, hi, {"oracle_target": target})


def _denoiser_and_data(model: str | None, target: str | None, num_samples: int):
    """``(denoiser, x0, source)``: a checkpoint with ``num_samples`` points of its training data,
    or a built-in target with as many exact samples (seed 0)."""
    if model is not None:
        from .data import load_dataset
        from .models import load_checkpoint

        denoiser, meta = load_checkpoint(model)
        data = load_dataset(meta["info"]["config"]["data"], "train")[:num_samples]
        return denoiser, torch.as_tensor(data), {"model": model}
    from .targets import get_target

    denoiser = get_target(target)
    return (
        denoiser,
        denoiser.sample(num_samples, torch.Generator().manual_seed(0)),
        {"target": target},
    )


def ays_optimized_schedule(
    steps: int,
    *,
    model: str | None = None,
    target: str | None = None,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    num_samples: int = 512,
    final_zero: bool = False,
    status: Callable[[str], AbstractContextManager] = lambda message: nullcontext(),
) -> CurveSchedule:
    """Align Your Steps optimised (:func:`scorelab.schedules.optimize_ays`) for a checkpoint
    (on ``num_samples`` points of its training data) or a built-in target (on as many of its
    exact samples); ``curve`` of the result holds the KLUB history (an array)."""
    from .schedules import optimize_ays

    num_samples = smoke_scaled(num_samples, 64)
    if (model is None) == (target is None):
        raise ValueError("ays-opt needs exactly one of --target NAME or --model CKPT")
    denoiser, samples, source = _denoiser_and_data(model, target, num_samples)
    with status(f"Align Your Steps: KLUB coordinate descent on {num_samples} samples"):
        sigmas, result = optimize_ays(
            denoiser,
            samples,
            steps,
            sigma_min,
            sigma_max,
            sweeps=smoke_scaled(12, 1),
            candidates=smoke_scaled(12, 3),
            nodes=smoke_scaled(4, 2),
            final_zero=final_zero,
        )
    meta = {**source, "klub_history": [float(h) for h in result.history]}
    return CurveSchedule(sigmas, np.asarray(result.history), sigma_min, sigma_max, meta)


def optimized_schedule(
    sampler: str,
    nfe: int,
    *,
    metric: str = "continuous",
    loss_curve: str | None = None,
    model: str | None = None,
    target: str | None = None,
    sigma_min: float | None = None,
    sigma_max: float | None = None,
    default_range: tuple[float, float] = (0.002, 80.0),
    candidates: int | None = None,
    final_zero: bool = True,
    status: Callable[[str], AbstractContextManager] = lambda message: nullcontext(),
) -> CurveSchedule:
    """The grid ``scorelab schedule optimize`` recommends for ``sampler`` within ``nfe`` model
    calls, from one curve source (:func:`loss_curve_of`); ``candidates`` sets the loss-curve
    optimisers' candidate levels (None: each schedule's default, as benchmarked).

    K is the largest step count whose grid (with the final σ = 0 when ``final_zero``) the sampler
    runs in at most ``nfe`` calls, by its declared NFE formula. The schedule is
    :func:`~scorelab.schedules.recommend.recommended_schedule`'s: chosen from the sampler's kind,
    the metric (``"continuous"``: the law at σ_min; ``"snapped"``: after a final denoise onto
    discrete data) and whether the curve is resolved before σ_min. ``meta`` records the
    choice, K, the NFE and the predicted cost: for ``gauss-opt`` (a curve still continuous at
    σ_min) the sampler's exact output KL at σ_min on the curve's Gaussian surrogate
    (:func:`~scorelab.exact.surrogate_output_kl`), for another grid on such a curve the summed
    single-step output KL on that surrogate
    (:func:`~scorelab.schedules.surrogate.single_step_costs`), for a resolved one the path KL D
    of the frozen-x0 sampler on the curve (nats)."""
    from .exact import LINEAR_OPTIONS, gauss_opt_builder, surrogate_output_kl
    from .samplers import SAMPLERS
    from .samplers._common import largest_steps_within
    from .schedules.information import _info_las_costs, loss_at
    from .schedules.recommend import (
        METRICS,
        RESOLVED_THRESHOLD,
        recommended_schedule,
        sampler_kind,
        surrogate_step,
    )
    from .schedules.surrogate import fit_gaussian_spectrum, single_step_costs

    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose from {sorted(SAMPLERS)}")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {list(METRICS)}")
    spec = SAMPLERS[sampler]

    def cost(k: int) -> int:
        grid = torch.linspace(2.0, 1.0, k + 1, dtype=torch.float64)
        return spec.nfe(torch.cat([grid, torch.zeros(1)]) if final_zero else grid)

    steps = largest_steps_within(cost, nfe, sampler)
    curve, lo, hi, source = loss_curve_of(
        loss_curve=loss_curve,
        model=model,
        target=target,
        sigma_min=sigma_min,
        sigma_max=sigma_max,
        default_range=default_range,
        what="schedule optimize",
        status=status,
    )
    kind = sampler_kind(sampler, spec.stochastic)
    data = None
    if model is not None or target is not None:  # Align Your Steps needs data and a denoiser

        def data():
            return _denoiser_and_data(model, target, smoke_scaled(512, 64))[:2]

    with status(f"schedule optimize: {sampler} ({kind}), K = {steps}"):
        name, sigmas, resolved = recommended_schedule(
            steps,
            curve,
            lo,
            hi,
            kind=kind,
            metric=metric,
            samples=data,
            sampler_optimizer=gauss_opt_builder(sampler),
            num_candidates=candidates,
            final_zero=final_zero,
        )
    grid = sigmas.double().numpy()
    grid = grid[grid > 0]
    spectrum = fit_gaussian_spectrum(curve, lo, hi) if resolved < RESOLVED_THRESHOLD else None
    if name == "gauss-opt":  # the sampler's own exact output KL on the Gaussian surrogate
        options = LINEAR_OPTIONS.get(sampler, {})
        predicted = surrogate_output_kl(sampler, spectrum, torch.as_tensor(grid), **options)
        what = "output KL at sigma_min, Gaussian surrogate"
    elif spectrum is not None:  # continuous at σ_min: the surrogate's step costs
        steps_kl = single_step_costs(grid, spectrum, surrogate_step(kind))
        predicted, what = float(np.diag(steps_kl, 1).sum()), "single-step KL, Gaussian surrogate"
    else:  # resolved: the path KL D of the frozen-x0 sampler on the curve
        gammas = 1 / grid**2
        D = _info_las_costs(gammas, loss_at(curve, grid), 0.0)
        predicted, what = float(np.diag(D, 1).sum()), "path KL D"
    meta = {
        **source,
        "chosen": name,
        "sampler": sampler,
        "steps": steps,
        "nfe": cost(steps),
        "metric": metric,
        "resolved_fraction": resolved,
        "predicted_cost": predicted,
        "predicted_cost_kind": what,
    }
    return CurveSchedule(sigmas, curve, lo, hi, meta)
