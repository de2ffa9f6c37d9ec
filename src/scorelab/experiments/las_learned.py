"""Experiment ``las-learned``: LAS built from a *measured* loss curve against the heuristic
schedules, on an exact target whose denoiser carries a known, structured error.

The question (arXiv 2601.21943, LAS): a schedule optimised from nothing but the model's
per-level loss — should it beat EDM ρ = 7, log-SNR-uniform, cosine and uniform-t when the model is
imperfect? A trained network is one way to get an imperfect model (``benchmarks/digits_model.py``
runs that comparison on the trained digits model); here the imperfection is controlled, so the
true law is still known exactly:

* target: an exact discrete law (default ``atoms64-r8``: 64 atoms in R^8), scored by atom
  histogram TV with its finite-sample floor;
* model: the exact denoiser plus a smooth deterministic error field of RMS size ε_D(σ) in
  x0-space (:class:`~scorelab.oracles.ErrorInjectedDenoiser`, ``kind="bias"``), with profile

  - ``small-noise``: ε_D(σ) = a·√d·σσ_c/√(σ² + σ_c²) — proportional to σ below σ_c, like a network
    that cannot resolve structure finer than the noise (the digits model's x0-MSE ≈ 64σ²);
  - ``mid-bump``: ε_D(σ) = a·√d·exp(−ln²(σ/σ_c)/2) — worst at intermediate noise;

* measured loss: L(σ) = E‖x0 − D̂(x0 + σz)‖² by Monte Carlo at ``loss_levels`` log-spaced σ
  (:func:`~scorelab.loss_curve.measure_loss_curve`), made monotone, then LAS
  (:func:`~scorelab.schedules.las_schedule`). Since the error field depends on x_σ only,
  L = mmse + ε_D² exactly in expectation: the measured curve carries the error's structure.

Grids: ``las-measured`` (from the measured curve), ``las-oracle`` (from the exact mmse; what LAS
would do with a perfect model), ``info-las-measured`` and ``entropic-measured`` (ours and
entropic time, from the measured curve), ``optimize-measured`` (what ``scorelab schedule
optimize --metric snapped`` picks for the sampler from the measured curve,
:func:`~scorelab.schedules.recommended_schedule`), ``karras`` (ρ = 7), ``log-snr``, ``cosine``,
``uniform-t``; all from σ_max to σ_min, then a final step to 0. Samplers: ``ddpm`` (the
frozen-x0 sampler for which the LAS objective is exact) and ``dpmpp_2m``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..grids import gauss_opt_builder
from ..loss_curve import measure_loss_curve
from ..metrics import atom_histogram_metrics
from ..oracles import ErrorInjectedDenoiser
from ..samplers import SAMPLERS
from ..schedules import (
    append_zero,
    entropic_schedule,
    get_schedule,
    information_las_schedule,
    las_objective,
    las_schedule,
    recommended_schedule,
)
from ..schedules.recommend import sampler_kind
from ..targets import Discrete, get_target
from ..theory import discretization_error, mmse_curve
from ._registry import Experiment, register
from ._text import summary_text_rows
from .figures import log_ticks, pyplot

__all__ = [
    "EXPERIMENT",
    "LasLearnedConfig",
    "error_profile",
    "las_learned_figure",
    "run_las_learned",
    "summarize",
    "summary_rows",
]

HEURISTICS = ("karras", "log-snr", "cosine", "uniform-t")
#: the grids built from a loss curve, each compared with the best heuristic
LOSS_GRIDS = (
    "las-measured",
    "las-oracle",
    "info-las-measured",
    "entropic-measured",
    "optimize-measured",
)


@dataclass
class LasLearnedConfig:
    target: str = "atoms64-r8"
    #: name -> (profile, amplitude a, σ_c)
    errors: dict[str, tuple[str, float, float]] = field(
        default_factory=lambda: {
            "none (exact model)": ("small-noise", 0.0, 1.0),
            "small-noise a=0.5": ("small-noise", 0.5, 1.0),
            "mid-bump a=0.2": ("mid-bump", 0.2, 1.0),
        }
    )
    steps: tuple[int, ...] = (5, 10, 20, 50)
    samplers: tuple[str, ...] = ("ddpm", "dpmpp_2m")
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    loss_levels: int = 48
    loss_samples: int = 2000
    mmse_samples: int = 4000
    samples: int = 8000
    seed: int = 0

    @classmethod
    def fast(cls) -> LasLearnedConfig:
        """CI-sized: K ∈ {5, 10, 20}, fewer samples."""
        return cls(steps=(5, 10, 20), loss_samples=1000, mmse_samples=2000, samples=4000)


def error_profile(profile: str, amplitude: float, sigma_c: float, dim: int):
    """ε_D(σ) of the named profile (see the module docstring) as a NumPy function of σ."""
    if amplitude < 0 or not math.isfinite(amplitude):
        raise ValueError(f"amplitude must be finite and >= 0, got {amplitude}")
    if not sigma_c > 0:
        raise ValueError(f"sigma_c must be > 0, got {sigma_c}")
    scale = amplitude * math.sqrt(dim)
    if profile == "small-noise":
        return lambda s: scale * s * sigma_c / np.sqrt(s**2 + sigma_c**2)
    if profile == "mid-bump":
        return lambda s: scale * np.exp(-0.5 * np.log(s / sigma_c) ** 2)
    raise ValueError(f"unknown error profile {profile!r}; expected 'small-noise' or 'mid-bump'")


def _grids(k: int, cfg: LasLearnedConfig, measured, exact) -> dict[str, torch.Tensor]:
    lo, hi = cfg.sigma_min, cfg.sigma_max
    grids = {
        "las-measured": las_schedule(k, measured, lo, hi),
        "las-oracle": las_schedule(k, exact, lo, hi),
        # ours and entropic time, from the same measured curve (docs/design/schedules.md)
        "info-las-measured": information_las_schedule(k, measured, lo, hi),
        "entropic-measured": entropic_schedule(k, measured, lo, hi),
    }
    for name in HEURISTICS:
        grids[name] = get_schedule(name, k, lo, hi)
    return {name: append_zero(g.double()) for name, g in grids.items()}


def run_las_learned(cfg: LasLearnedConfig, on_row=None) -> list[dict]:
    """All rows: one per (error profile, K, grid, sampler)."""
    target = get_target(cfg.target)
    if not isinstance(target, Discrete):
        raise ValueError(f"las-learned needs a discrete target (atom TV), got {cfg.target!r}")
    exact = mmse_curve(
        target,
        cfg.sigma_min,
        cfg.sigma_max,
        num_points=201,
        num_samples=cfg.mmse_samples,
        seed=cfg.seed,
    )
    levels = np.geomspace(cfg.sigma_min, cfg.sigma_max, cfg.loss_levels)
    rows = []
    for label, (profile, amplitude, sigma_c) in cfg.errors.items():
        eps = error_profile(profile, amplitude, sigma_c, target.dim)
        model = ErrorInjectedDenoiser(target, eps, kind="bias", space="denoiser", seed=cfg.seed)
        raw = measure_loss_curve(
            model, target, levels, samples_per_level=cfg.loss_samples, seed=cfg.seed + 1
        )
        measured = raw.monotone()

        def data(model=model):  # what a user has for Align Your Steps: 512 points, the model
            return model, target.sample(512, torch.Generator().manual_seed(cfg.seed + 2)).double()

        # the measured loss should be mmse + ε_D² (the cross term vanishes in expectation);
        # compared where the expected loss is not negligible (mmse → 0 at small σ for atoms)
        expected = exact.at_sigma(levels) + eps(levels) ** 2
        keep = expected > 1e-3 * expected.max()
        loss_gap = float(np.median(np.abs(raw.loss_x0[keep] - expected[keep]) / expected[keep]))
        for k in cfg.steps:
            shared = _grids(k, cfg, measured, exact)
            for sampler in cfg.samplers:
                # what `scorelab schedule optimize --metric snapped` picks for this sampler
                chosen, best, _ = recommended_schedule(
                    k,
                    measured,
                    cfg.sigma_min,
                    cfg.sigma_max,
                    kind=sampler_kind(sampler, SAMPLERS[sampler].stochastic),
                    metric="snapped",
                    samples=data,
                    sampler_optimizer=gauss_opt_builder(sampler),
                )
                grids = {**shared, "optimize-measured": append_zero(best.double())}
                for grid, sig in grids.items():
                    d_exact = discretization_error(sig[:-1].numpy(), exact)
                    r_measured = las_objective(sig.numpy(), measured)
                    gen = torch.Generator().manual_seed(cfg.seed + 7919 * k)
                    s32 = sig.float()
                    _, x = target.sample_noised(cfg.samples, float(s32[0]), gen)
                    out = SAMPLERS[sampler](model, x, s32, generator=gen)
                    m = atom_histogram_metrics(out, target)
                    row = {
                        "error": label,
                        "profile": profile,
                        "amplitude": amplitude,
                        "steps": k,
                        "grid": grid,
                        "sampler": sampler,
                        "tv": m.tv,
                        "floor": m.tv_floor,
                        "exact_d": d_exact,
                        "las_objective": r_measured,
                        "loss_gap": loss_gap,
                        "chosen": chosen if grid == "optimize-measured" else "",
                    }
                    rows.append(row)
                    if on_row:
                        on_row(row)
    return rows


def summarize(rows: list[dict]) -> dict:
    """Per (error, sampler) and loss-curve grid (LAS from the measured and the exact curve, and
    info-las / entropic time from the measured one): in how many K it beats every heuristic, and
    its TV ratio to the best heuristic."""
    out: dict = {}
    keys = sorted({(r["error"], r["sampler"]) for r in rows})
    for error, sampler in keys:
        sel = [r for r in rows if r["error"] == error and r["sampler"] == sampler]
        res: dict = {}
        ks = sorted({r["steps"] for r in sel})
        for las in LOSS_GRIDS:
            wins, ratios = 0, []
            for k in ks:
                at = {r["grid"]: r["tv"] for r in sel if r["steps"] == k}
                best = min(at[h] for h in HEURISTICS)
                ratios.append(at[las] / best)
                wins += at[las] <= best
            res[f"{las}: K where it beats every heuristic"] = f"{wins}/{len(ks)}"
            res[f"{las}: TV / best heuristic TV, per K"] = " ".join(
                f"K={k}:{q:.2f}" for k, q in zip(ks, ratios, strict=True)
            )
            res[f"{las}: geometric-mean ratio"] = float(np.exp(np.mean(np.log(ratios))))
        res["optimize-measured: schedule chosen"] = ", ".join(
            sorted({r["chosen"] for r in sel if r["grid"] == "optimize-measured"})
        )
        out[f"{error} / {sampler}"] = res
    return out


summary_rows = summary_text_rows


def las_learned_figure(rows: list[dict], path: str | Path) -> Path:
    """Atom TV against K per grid: one panel per (error profile, sampler); the finite-sample
    floor as a dotted line."""
    plt = pyplot()
    cases = sorted({(r["error"], r["sampler"]) for r in rows})
    errors = sorted({c[0] for c in cases})
    samplers = sorted({c[1] for c in cases})
    fig, axes = plt.subplots(
        len(samplers), len(errors), figsize=(3.6 * len(errors), 3.0 * len(samplers)), squeeze=False
    )
    for i, sampler in enumerate(samplers):
        for j, error in enumerate(errors):
            ax = axes[i][j]
            sel = [r for r in rows if r["error"] == error and r["sampler"] == sampler]
            for grid in dict.fromkeys(r["grid"] for r in sel):
                pts = sorted((r["steps"], r["tv"]) for r in sel if r["grid"] == grid)
                k, tv = np.array(pts).T
                style = "-o" if grid.startswith("las") else "--."
                ax.plot(k, tv, style, ms=4, label=grid)
            ax.axhline(sel[0]["floor"], color="gray", ls=":", lw=1)
            ax.set(xscale="log", yscale="log", xlabel="steps K", ylabel="atom TV")
            log_ticks(ax, [r["steps"] for r in sel])
            ax.set_title(f"{error}, {sampler}", fontsize=8)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


EXPERIMENT = register(
    Experiment(
        name="las-learned",
        config=LasLearnedConfig,
        run=run_las_learned,
        summarize=summarize,
        summary_rows=summary_rows,
        figure=las_learned_figure,
        label=lambda r: f"{r['error']} K={r['steps']} {r['grid']} {r['sampler']}",
        claim="LAS from the measured loss curve beats the heuristic schedules (2601.21943)",
    )
)
