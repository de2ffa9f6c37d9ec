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

__all__ = ["CurveSchedule", "ays_optimized_schedule", "loss_curve_schedule", "model_loss_curve"]


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
    curve source (module docstring).

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
    if sum(a is not None for a in (loss_curve, model, target)) != 1:
        raise ValueError(
            f"{name} needs exactly one of --loss-curve FILE, --target NAME or --model CKPT"
        )
    build = LOSS_SCHEDULES[name]
    lo = default_range[0] if sigma_min is None else sigma_min
    hi = default_range[1] if sigma_max is None else sigma_max
    meta: dict = {}
    if target is not None:
        return _target_schedule(name, steps, target, lo, hi, candidates, final_zero, status)
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
    sigmas = build(steps, curve, lo, hi, num_candidates=candidates, final_zero=final_zero)
    return CurveSchedule(sigmas, curve, lo, hi, meta)


def _target_schedule(name, steps, target, lo, hi, candidates, final_zero, status):
    from .schedules import oracle_las
    from .targets import get_target
    from .theory import mmse_curve

    tgt = get_target(target)
    samples, points = smoke_scaled(20_000, 256), smoke_scaled(2001, 101)
    num_candidates = smoke_scaled(candidates, 100)
    if name == "las":
        with status(
            f"oracle-LAS: the exact mmse curve of {target} ({samples} samples per level), "
            "then the DP"
        ):
            sigmas, curve = oracle_las(
                tgt,
                steps,
                lo,
                hi,
                num_candidates=num_candidates,
                num_points=points,
                num_samples=samples,
                final_zero=final_zero,
                return_curve=True,
            )
    else:
        with status(f"{name}: the exact mmse curve of {target}, then the grid"):
            curve = mmse_curve(tgt, lo, hi, num_points=points, num_samples=samples)
            sigmas = LOSS_SCHEDULES[name](
                steps, curve, lo, hi, num_candidates=num_candidates, final_zero=final_zero
            )
    return CurveSchedule(sigmas, curve, lo, hi, {"oracle_target": target})


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
    if model is not None:
        from .data import load_dataset
        from .models import load_checkpoint

        denoiser, meta = load_checkpoint(model)
        data = load_dataset(meta["info"]["config"]["data"], "train")[:num_samples]
        samples, source = torch.as_tensor(data), {"model": model}
    else:
        from .targets import get_target

        denoiser = get_target(target)
        samples = denoiser.sample(num_samples, torch.Generator().manual_seed(0))
        source = {"target": target}
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
