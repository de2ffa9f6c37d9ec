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

import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from .effort import EFFORT, effort_settings
from .loss_curve import LossCurve
from .schedules import LOSS_SCHEDULES
from .theory import InformationCurve

__all__ = [
    "EFFORT",
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
    cfg = meta["info"]["config"]
    data = torch.as_tensor(load_dataset(cfg["data"], "test", data_dir=cfg.get("data_dir")))
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
    effort: str = "full",
    status: Callable[[str], AbstractContextManager] = lambda message: nullcontext(),
) -> tuple[LossCurve | InformationCurve, float, float, dict]:
    """``(curve, σ_lo, σ_hi, meta)`` from exactly one curve source (module docstring): a loss
    curve file, a checkpoint's recorded loss (measured anew with ``measure``), or a built-in
    target's exact mmse curve (Monte Carlo). ``sigma_min``/``sigma_max`` None mean
    ``default_range``, narrowed for file and checkpoint curves to where the curve was observed;
    ``smooth`` > 0 smooths those in log-SNR; ``what`` names the caller in the error;
    ``effort`` (:data:`EFFORT`) sets the Monte-Carlo size of a target's curve."""
    if sum(a is not None for a in (loss_curve, model, target)) != 1:
        raise ValueError(
            f"{what} needs exactly one of --loss-curve FILE, --target NAME or --model CKPT"
        )
    lo = default_range[0] if sigma_min is None else sigma_min
    hi = default_range[1] if sigma_max is None else sigma_max
    if target is not None:
        from .targets import get_target
        from .theory import mmse_curve

        spend = effort_settings(effort)
        samples, points = spend["curve_samples"], spend["curve_points"]
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
    effort: str = "full",
    status: Callable[[str], AbstractContextManager] = lambda message: nullcontext(),
) -> CurveSchedule:
    """The ``name`` schedule (a key of ``LOSS_SCHEDULES``) with ``steps`` steps from exactly one
    curve source (:func:`loss_curve_of`).

    Args:
        sigma_min, sigma_max: the grid's range; None means ``default_range``, narrowed for file
            and checkpoint curves to where the curve was observed.
        smooth: smoothing width in log-SNR for file and checkpoint curves (0 = none).
        candidates: number of candidate levels of the optimiser.
        effort: ``full``, ``fast`` or ``smoke`` (:data:`EFFORT`): the Monte-Carlo size of a
            target's curve and, for a target, a cap on ``candidates``.
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
        return _oracle_las(steps, target, lo, hi, candidates, final_zero, effort, status)
    curve, lo, hi, meta = loss_curve_of(
        **source,
        measure=measure,
        sigma_min=sigma_min,
        sigma_max=sigma_max,
        default_range=default_range,
        smooth=smooth,
        what=name,
        effort=effort,
        status=status,
    )
    cap = effort_settings(effort)["candidates"]
    num_candidates = min(candidates, cap) if target is not None and cap else candidates
    sigmas = LOSS_SCHEDULES[name](
        steps, curve, lo, hi, num_candidates=num_candidates, final_zero=final_zero
    )
    return CurveSchedule(sigmas, curve, lo, hi, meta)


def _oracle_las(steps, target, lo, hi, candidates, final_zero, effort, status) -> CurveSchedule:
    from .schedules import oracle_las
    from .targets import get_target

    spend = effort_settings(effort)
    samples, points = spend["curve_samples"], spend["curve_points"]
    if spend["candidates"]:
        candidates = min(candidates, spend["candidates"])
    with status(
        f"oracle-LAS: the exact mmse curve of {target} ({samples} samples per level), then the DP"
    ):
        sigmas, curve = oracle_las(
            get_target(target),
            steps,
            lo,
            hi,
            num_candidates=candidates,
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
        cfg = meta["info"]["config"]
        data = load_dataset(cfg["data"], "train", data_dir=cfg.get("data_dir"))[:num_samples]
        return denoiser, torch.as_tensor(data), {"model": model}
    from .targets import get_target

    denoiser = get_target(target)
    return (
        denoiser,
        denoiser.sample(num_samples, torch.Generator().manual_seed(0)),
        {"target": target},
    )


def _model_range(path: str) -> tuple[float, float] | None:
    """The σ range a checkpoint was trained on (its configuration's sigma_min/sigma_max: 80 for
    the EDM models, 1e4 for flow models, which sample from t ≈ 1), or None if unreadable."""
    import json

    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            cfg = json.loads((f.metadata() or {})["info"])["config"]
        return float(cfg["sigma_min"]), float(cfg["sigma_max"])
    except Exception:  # unreadable or foreign files: load_checkpoint gives the one-line error
        return None


def _model_dim(path: str) -> int:
    """Coordinates of one sample of a checkpoint's model (from its metadata)."""
    import json

    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            shape = json.loads((f.metadata() or {})["sample_shape"])
    except Exception:  # unreadable or foreign files: load_checkpoint gives the one-line error
        return 0
    return math.prod(shape)


def ays_optimized_schedule(
    steps: int,
    *,
    model: str | None = None,
    target: str | None = None,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    num_samples: int | None = None,
    final_zero: bool = False,
    effort: str = "full",
    status: Callable[[str], AbstractContextManager] = lambda message: nullcontext(),
) -> CurveSchedule:
    """Align Your Steps optimised (:func:`scorelab.schedules.optimize_ays`) for a checkpoint
    (on ``num_samples`` points of its training data) or a built-in target (on as many of its
    exact samples); ``curve`` of the result holds the KLUB history (an array). ``effort``
    (:data:`EFFORT`) sets the samples (unless given), sweeps, candidates and nodes."""
    from .schedules import optimize_ays

    spend = effort_settings(effort)
    num_samples = num_samples or spend["ays_samples"]
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
            sweeps=spend["ays_sweeps"],
            candidates=spend["ays_candidates"],
            nodes=spend["ays_nodes"],
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
    final_zero: bool = True,
    proxy_samples: int | None = None,
    reference_steps: int | None = None,
    refine_sweeps: int = 1,
    refine_budget: int | None = None,
    surrogate_samples: int | None = None,
    effort: str = "full",
    status: Callable[[str], AbstractContextManager] = lambda message: nullcontext(),
    progress: Callable[[str], None] | None = None,
) -> CurveSchedule:
    """The grid ``scorelab schedule optimize`` recommends for ``sampler`` within ``nfe`` model
    calls (:func:`scorelab.grids.optimize_grid`), from one source:

    * a **checkpoint** (``model``): candidates measured on the model's own trajectories
      (:class:`~scorelab.grids.TrajectoryProxy`: RMSE to its converged solution from the same
      noise; ``proxy_samples`` noises, default 128; ``reference_steps`` levels, default 256);
    * a built-in **target** (``target``): candidates measured on a mixture surrogate fitted to
      4096 of its samples (:class:`~scorelab.grids.SurrogateProxy`, ``metric`` = continuous or
      snapped KL) when d ≤ 16, else on its trajectories as for a model;
    * a loss-curve **file** alone: no model to measure on, the rule
      :data:`~scorelab.grids.CURVE_ONLY`.

    The loss curve (recorded, measured or exact) adds scorelab's curve-built grids to the
    candidates. ``effort`` (:data:`EFFORT`) sets the proxy's sizes and the refinement budget;
    ``proxy_samples``, ``reference_steps``, ``refine_budget`` and ``surrogate_samples``
    override it. ``meta`` records the choice, K, the NFE, the proxy, its cost in model
    evaluations and every candidate's proxy error."""
    from .grids import optimize_grid, proxy_for, steps_within

    if metric not in ("continuous", "snapped"):
        raise ValueError(f"unknown metric {metric!r}; choose from ['continuous', 'snapped']")
    spend = effort_settings(effort)
    steps_within(sampler, nfe, final_zero=final_zero)  # validates sampler and budget early
    if model is not None:  # by default the grid spans the range the model was trained on
        default_range = _model_range(model) or default_range
    curve, lo, hi, source = loss_curve_of(
        loss_curve=loss_curve,
        model=model,
        target=target,
        sigma_min=sigma_min,
        sigma_max=sigma_max,
        default_range=default_range,
        what="schedule optimize",
        effort=effort,
        status=status,
    )
    proxy = None
    if model is not None and _model_dim(model) > 16:  # the model's trajectories: no data needed
        from .models import load_checkpoint

        denoiser = load_checkpoint(model)[0]
        data = torch.zeros(1, *denoiser.sample_shape)
    elif model is not None or target is not None:
        denoiser, data, _ = _denoiser_and_data(model, target, spend["data_samples"])
    if model is not None or target is not None:
        proxy = proxy_for(
            denoiser,
            torch.as_tensor(data),
            lo,
            hi,
            metric=metric,
            exact=target is not None,
            final_zero=final_zero,
            num_samples=proxy_samples or spend["proxy_samples"],
            reference_steps=reference_steps or spend["reference_steps"],
            surrogate_samples=surrogate_samples or spend["surrogate"],
            law_samples=spend["law_samples"],
            law_reference_steps=spend["law_reference_steps"],
        )
    with status(f"schedule optimize: {sampler}, {nfe} calls"):
        result = optimize_grid(
            sampler,
            nfe,
            lo,
            hi,
            proxy=proxy,
            curve=curve,
            final_zero=final_zero,
            refine_sweeps=refine_sweeps,
            refine_budget=spend["refine_budget"] if refine_budget is None else refine_budget,
            progress=progress,
        )
    meta = {**source, **result.meta(), "metric": metric}
    best = result.best_standard
    if best is not None:
        meta["best_standard"] = {"name": best[0], "proxy_error": best[1]}
    return CurveSchedule(result.sigmas, curve, lo, hi, meta)


def named_schedule(
    name: str,
    steps: int,
    *,
    sampler: str | None = None,
    nfe: int | None = None,
    metric: str = "continuous",
    loss_curve: str | None = None,
    model: str | None = None,
    target: str | None = None,
    measure: bool = False,
    sigma_min: float | None = None,
    sigma_max: float | None = None,
    rho: float | None = None,
    smooth: float = 0.0,
    candidates: int = 1000,
    final_zero: bool = False,
    effort: str = "full",
    status: Callable[[str], AbstractContextManager] = lambda message: nullcontext(),
    progress: Callable[[str], None] | None = None,
) -> tuple[torch.Tensor, dict, LossCurve | InformationCurve | None]:
    """Any schedule by name, from whatever source it needs — the one entry behind the CLI's
    ``scorelab schedule NAME``: ``optimize`` (the grid for ``sampler`` within ``nfe`` model
    calls, :func:`optimized_schedule`), ``ays-opt``, a loss-curve schedule
    (:func:`loss_curve_schedule`) or a standard one (:func:`scorelab.schedules.get_schedule`,
    ``rho`` for karras / polyexponential). ``effort`` (:data:`EFFORT`: full, fast, smoke) sets
    how much the builders measure.

    Returns:
        the σ grid (σ units, descending), its metadata (``name``, ``steps`` and what the
        builder reports), and the curve used when it is a target's exact mmse (else None).
    """
    from .schedules import get_schedule

    lo = 0.002 if sigma_min is None else sigma_min
    hi = 80.0 if sigma_max is None else sigma_max
    meta: dict = {"name": name, "steps": steps}
    sources = dict(loss_curve=loss_curve, model=model, target=target)
    if name == "optimize":
        if sampler is None or nfe is None:
            raise ValueError("optimize needs --sampler NAME and --nfe N")
        built = optimized_schedule(
            sampler,
            nfe,
            metric=metric,
            sigma_min=sigma_min,
            sigma_max=sigma_max,
            default_range=(lo, hi),
            final_zero=True,
            status=status,
            progress=progress,
            effort=effort,
            **sources,
        )
        meta.update(built.meta)
        return built.sigmas, meta, built.curve if target is not None else None
    if name == "ays-opt":
        built = ays_optimized_schedule(
            steps,
            model=model,
            target=target,
            sigma_min=lo,
            sigma_max=hi,
            final_zero=final_zero,
            effort=effort,
            status=status,
        )
        return built.sigmas, {**meta, **built.meta}, None
    if name in LOSS_SCHEDULES:
        built = loss_curve_schedule(
            name,
            steps,
            measure=measure,
            sigma_min=sigma_min,
            sigma_max=sigma_max,
            default_range=(lo, hi),
            smooth=smooth,
            candidates=candidates,
            final_zero=final_zero,
            effort=effort,
            status=status,
            **sources,
        )
        return built.sigmas, {**meta, **built.meta}, built.curve if target is not None else None
    options = {} if rho is None else {"rho": rho}
    grid = get_schedule(name, steps, sigma_min, sigma_max, final_zero=final_zero, **options)
    return grid, meta, None
