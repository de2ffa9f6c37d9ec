"""Experiment ``dimension-free``: does the number of steps depend on the data's entropy H rather
than on the ambient dimension d? (Aghapour–Bayraktar–Zhang, arXiv 2601.21943: KL ≈ H²/K up to
endpoint factors; "When Diffusion Model Can Ignore Dimension", 2026.)

Targets: discrete laws with a prescribed Shannon entropy H of the weights (n = ⌈2e^H⌉ atoms,
weights ∝ e^{−β i}, β solved so that the entropy is exactly H) in two geometries:

* ``random-code`` — atoms i.i.d. N(0, (s²/d) I_d), E‖a‖² = s² = 16 for every d. The mmse curve
  *does* change with d (atoms become near-orthogonal and equidistant as d grows), so a flat
  dependence on d is a genuine measurement;
* ``subspace`` — atoms drawn in an 8-dimensional subspace, embedded isometrically in R^d. Here
  the mmse curve is exactly the same for every d (the orthogonal complement carries no signal),
  so d-independence of D holds *by construction*: this geometry checks the code, not the claim.

For each target: the exact discretization term D (``scorelab.theory``; mmse by Monte Carlo with
common random numbers) for log-SNR-uniform and oracle-LAS grids at each K, the smallest
log-SNR-uniform K with D ≤ ``d_target`` (steps-to-error), and the empirical atom-histogram TV of
the DDPM-posterior sampler on the LAS grid (with its finite-sample floor). Fits: K·D = c·H² and
K·D = c·H_{1/2}² (least squares through the origin, with R²), and the log-log slope of
steps-to-error in d (0 = dimension-free) and in H.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import brentq

from ..metrics import atom_histogram_metrics
from ..samplers import SAMPLERS
from ..schedules import las_schedule, log_snr_uniform
from ..targets import Discrete
from ..theory import discretization_error, mmse_curve
from ._registry import Experiment, register
from ._text import summary_text_rows
from .figures import pyplot

__all__ = [
    "EXPERIMENT",
    "DimensionFreeConfig",
    "dimension_free_figure",
    "entropy_weights",
    "fewest_log_snr_steps",
    "run_dimension_free",
    "steps_table",
    "summarize",
    "summary_rows",
]


@dataclass
class DimensionFreeConfig:
    entropies: tuple[float, ...] = (1.0, 2.0, 4.0, 6.0)
    dims: tuple[int, ...] = (8, 64, 512, 4096)
    steps: tuple[int, ...] = (5, 10, 20, 50)
    geometries: tuple[str, ...] = ("random-code", "subspace")
    scale: float = 4.0
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    mmse_samples: int = 2000
    mmse_points: int = 301
    samples: int = 4000
    d_target: float = 0.1
    seed: int = 0

    @classmethod
    def fast(cls) -> DimensionFreeConfig:
        """CI-sized: H ∈ {1, 2, 4}, d ∈ {8, 64, 512}, fewer Monte-Carlo samples."""
        return cls(
            entropies=(1.0, 2.0, 4.0),
            dims=(8, 64, 512),
            steps=(5, 10, 20),
            mmse_samples=1000,
            mmse_points=201,
            samples=2000,
        )


def entropy_weights(num_atoms: int, entropy: float) -> np.ndarray:
    """Weights w_i ∝ e^{−β i} on ``num_atoms`` atoms with Shannon entropy exactly ``entropy``."""
    if not 0 < entropy < math.log(num_atoms):
        raise ValueError(f"entropy must be in (0, log {num_atoms}), got {entropy}")
    i = np.arange(num_atoms)

    def weights(beta: float) -> np.ndarray:
        logits = -beta * i
        w = np.exp(logits - logits.max())
        return w / w.sum()

    def gap(beta: float) -> float:
        w = weights(beta)
        return float(-(w * np.log(np.clip(w, 1e-300, None))).sum()) - entropy

    return weights(brentq(gap, 0.0, 50.0, xtol=1e-14))


def _target(geometry: str, entropy: float, dim: int, cfg: DimensionFreeConfig) -> Discrete:
    n = math.ceil(2 * math.exp(entropy))
    w = entropy_weights(n, entropy)
    if geometry == "random-code":
        return Discrete.random_code(n, dim, scale=cfg.scale, seed=cfg.seed, weights=w)
    if geometry == "subspace":
        return Discrete.on_subspace(n, min(8, dim), dim, scale=cfg.scale, seed=cfg.seed, weights=w)
    raise ValueError(f"unknown geometry {geometry!r}; expected 'random-code' or 'subspace'")


def fewest_log_snr_steps(
    error, target: float, sigma_min: float, sigma_max: float, limit: int
) -> int:
    """Smallest K (bisection; ``error`` of the log-SNR-uniform K-step grid decreases in K) with
    error ≤ ``target``; ``limit`` when even ``limit`` steps miss it."""

    def ok(k: int) -> bool:
        return error(log_snr_uniform(k, sigma_min, sigma_max).numpy()) <= target

    if not ok(limit):
        return limit
    lo, hi = 1, limit
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid + 1, hi)
    return lo


def _steps_to(curve, cfg: DimensionFreeConfig, limit: int = 4096) -> int:
    """Smallest K with D(log-SNR-uniform K) ≤ d_target."""
    return fewest_log_snr_steps(
        lambda g: discretization_error(g, curve), cfg.d_target, cfg.sigma_min, cfg.sigma_max, limit
    )


def run_dimension_free(cfg: DimensionFreeConfig, on_row=None) -> list[dict]:
    """All rows of the experiment (``on_row`` is called with each as it is finished)."""
    rows = []
    for geometry in cfg.geometries:
        for entropy in cfg.entropies:
            for dim in cfg.dims:
                target = _target(geometry, entropy, dim, cfg)
                curve = mmse_curve(
                    target,
                    cfg.sigma_min,
                    cfg.sigma_max,
                    num_points=cfg.mmse_points,
                    num_samples=cfg.mmse_samples,
                    seed=cfg.seed,
                )
                base = {
                    "geometry": geometry,
                    "entropy": target.entropy(1.0),
                    "renyi_half": target.entropy(0.5),
                    "dim": dim,
                }
                k_star = _steps_to(curve, cfg)
                row = {**base, "grid": "log-snr", "steps": 0, "exact_d": cfg.d_target}
                row.update(steps_to_target=k_star, tv=None, floor=None)
                rows.append(row)
                if on_row:
                    on_row(row)
                for k in cfg.steps:
                    grids = {
                        "log-snr": log_snr_uniform(k, cfg.sigma_min, cfg.sigma_max),
                        "las": las_schedule(k, curve, cfg.sigma_min, cfg.sigma_max),
                    }
                    for name, sig in grids.items():
                        row = {**base, "grid": name, "steps": k, "steps_to_target": None}
                        row["exact_d"] = discretization_error(sig.numpy(), curve)
                        row["tv"], row["floor"] = None, None
                        if name == "las":
                            gen = torch.Generator().manual_seed(cfg.seed + k)
                            s32 = torch.cat([sig, sig.new_zeros(1)]).float()
                            x = torch.randn(cfg.samples, dim, generator=gen) * s32[0]
                            out = SAMPLERS["ddpm"](target, x, s32, generator=gen)
                            m = atom_histogram_metrics(out, target)
                            row["tv"], row["floor"] = m.tv, m.tv_floor
                        rows.append(row)
                        if on_row:
                            on_row(row)
    return rows


def _fit_through_origin(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    c = float((x * y).sum() / (x * x).sum())
    resid = y - c * x
    r2 = 1 - float((resid**2).sum() / ((y - y.mean()) ** 2).sum())
    return c, r2


def summarize(rows: list[dict]) -> dict:
    """Fitted constants and slopes (see the module docstring)."""
    out: dict = {}
    for geometry in sorted({r["geometry"] for r in rows}):
        g = [r for r in rows if r["geometry"] == geometry]
        res: dict = {}
        for grid in ("log-snr", "las"):
            pts = [r for r in g if r["grid"] == grid and r["steps"] > 0]
            kd = np.array([r["steps"] * r["exact_d"] for r in pts])
            h = np.array([r["entropy"] for r in pts])
            hh = np.array([r["renyi_half"] for r in pts])
            res[f"{grid}: K·D = c·H²"] = _fit_through_origin(h**2, kd)
            res[f"{grid}: K·D = c·H_½²"] = _fit_through_origin(hh**2, kd)
            # joint power law D = C · H^a · K^b · d^c over all (H, K, d)
            design = np.stack(
                [
                    np.ones(len(pts)),
                    np.log(h),
                    np.log([r["steps"] for r in pts]),
                    np.log([r["dim"] for r in pts]),
                ],
                1,
            )
            coef, *_ = np.linalg.lstsq(design, np.log([r["exact_d"] for r in pts]), rcond=None)
            res[f"{grid}: D ∝ H^a K^b d^c, (a, b, c)"] = (
                f"({coef[1]:.2f}, {coef[2]:.2f}, {coef[3]:.2f})"
            )
        star = [r for r in g if r["steps_to_target"] is not None]
        ld = np.log([r["dim"] for r in star])
        lk = np.log([r["steps_to_target"] for r in star])
        lh = np.log([r["entropy"] for r in star])
        # joint fit log K* = a + b log d + e log H
        design = np.stack([np.ones_like(ld), ld, lh], 1)
        coef, *_ = np.linalg.lstsq(design, lk, rcond=None)
        res["steps-to-error slope in d"] = float(coef[1])
        res["steps-to-error slope in H"] = float(coef[2])
        out[geometry] = res
    return out


summary_rows = summary_text_rows


def steps_table(rows: list[dict]) -> str:
    """Markdown table: steps K for D ≤ target on the log-SNR grid, per geometry, H and d."""
    star = [r for r in rows if r["steps_to_target"] is not None]
    dims = sorted({r["dim"] for r in star})
    lines = ["| geometry | H | " + " | ".join(f"d={d}" for d in dims) + " |"]
    lines.append("|---|---|" + "---|" * len(dims))
    for geometry in dict.fromkeys(r["geometry"] for r in star):
        for h in sorted({round(r["entropy"], 6) for r in star if r["geometry"] == geometry}):
            ks = {
                r["dim"]: r["steps_to_target"]
                for r in star
                if r["geometry"] == geometry and abs(r["entropy"] - h) < 1e-6
            }
            cells = " | ".join(str(ks.get(d, "—")) for d in dims)
            lines.append(f"| {geometry} | {h:g} | {cells} |")
    target = star[0]["exact_d"] if star else float("nan")
    return f"Steps K for D ≤ {target:g} nats on the log-SNR-uniform grid:\n\n" + "\n".join(lines)


def dimension_free_figure(rows: list[dict], path: str | Path) -> Path:
    """Left: steps to reach D ≤ target (log-SNR grid) vs d, one line per H and geometry.
    Right: K·D of the LAS grid vs H², per K."""
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for geometry, style in (("random-code", "-o"), ("subspace", "--s")):
        g = [r for r in rows if r["geometry"] == geometry and r["steps_to_target"] is not None]
        for h in sorted({round(r["entropy"], 6) for r in g}):
            pts = sorted((r["dim"], r["steps_to_target"]) for r in g if round(r["entropy"], 6) == h)
            if pts:
                d, k = np.array(pts).T
                a.plot(d, k, style, ms=4, label=f"{geometry}, H={h:.0f}")
        las = [r for r in rows if r["geometry"] == geometry and r["grid"] == "las"]
        for k in sorted({r["steps"] for r in las}):
            pts = [(r["entropy"] ** 2, k * r["exact_d"]) for r in las if r["steps"] == k]
            x, y = np.array(pts).T
            b.plot(x, y, style[-1], ms=4, label=f"{geometry}, K={k}")
    a.set(xscale="log", yscale="log", xlabel="ambient dimension d", ylabel="K with D ≤ target")
    a.set_title("log-SNR-uniform grid: steps to reach the target D", fontsize=9)
    b.set(xlabel="H² (nats²)", ylabel="K·D (LAS grid)")
    b.set_title("LAS: K·D against H²", fontsize=9)
    a.legend(fontsize=6, ncol=2)
    b.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


EXPERIMENT = register(
    Experiment(
        name="dimension-free",
        config=DimensionFreeConfig,
        run=run_dimension_free,
        summarize=summarize,
        summary_rows=summary_rows,
        figure=dimension_free_figure,
        label=lambda r: f"{r['geometry']} H={r['entropy']:.2f} d={r['dim']} {r['grid']}",
        claim="steps to a fixed error scale with the entropy H, not the dimension d (2601.21943)",
        extra_table=steps_table,
    )
)
