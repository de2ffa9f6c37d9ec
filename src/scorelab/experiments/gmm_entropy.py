"""Experiment ``gmm-entropy``: for Gaussian-mixture targets, is the number of steps governed by the
entropy H of the latent component, linearly, and only logarithmically by the second moment M₂,
whatever the ambient dimension d? (Aghapour–Bayraktar, "When Diffusion Model Can Ignore
Dimension: An Entropy-Based Theory", arXiv 2605.07969: step complexity O(H log M₂).)

Only the abstract of the paper could be read; the family, the split of D and the criterion below
are **ours**, built to test the stated property, not the paper's proof.

**Exact split of D.** The discretization term D of the frozen-x0 sampler is linear in the mmse
curve (``scorelab.theory``), and for a mixture the law of total variance splits the mmse into
the within-component part Σ_k w_k tr C_k(σ) (closed form) and the *latent* ("confusion") part
E‖m_K(x_σ) − E[x0|x_σ]‖² (Monte Carlo, :meth:`GaussianMixture.mmse_estimate`). Hence

    D = D_within + D_latent,   D_within = Σ_k w_k D_Gauss(eig Σ_k)  (closed form, exact).

D_latent is the part the latent label causes, the one the entropy claim is about; D_within is the
cost of the Gaussian components themselves — a Gaussian with r resolved directions costs ∝ r/K
on any fixed grid — which no entropy can remove.

Family (all seeded): n = ⌈c·e^H⌉ components with weights ∝ e^{−βi} of Shannon entropy exactly H;
means i.i.d. N(0, s²/d · I) (a random code, E‖μ‖² = s², so the latent geometry changes with d);
within-component covariance either

* ``isotropic``: ς² I_d with ς = ``within_std`` (full rank: every coordinate is resolved), or
* ``lowrank``: f² U_k U_kᵀ + ς₀² I_d, U_k a random orthonormal d×r frame (r = ``rank``) and a
  floor ς₀ = ``floor_std`` below σ_min (a compact latent representation).

One-factor-at-a-time sweeps around a base point (H, d, s, c): the entropy H, the component count
at fixed H (factor c), the dimension d and the mean scale s (M₂ over several decades). Grids run
from σ_max = ``sigma_max_factor``·√M₂ (so the prior error is the same for every M₂) to a fixed
σ_min, so the log-SNR range L = log(σ_max²/σ_min²) grows like log M₂.

Measured per target: the fewest log-SNR-uniform steps K* with D_latent ≤ δ and with D ≤ δ
(bisection on the exact D), the same for the LAS grid (its K → ∞ optimum D ≈ J²/4K, so
K*_LAS = J²/4δ), and, as the check that "D_latent ≤ δ" means what it says, the DDPM sampler at
K*_latent with the exact denoiser: the TV between the law of its output's component label
(argmax posterior at σ_min) and the weights, next to the same TV for exact samples (the floor:
finite samples plus misclassification). Fits: log K* = a + b_H log H + b_L log L + b_d log d
(least squares with 95 % intervals; the claim is b_H ≈ 1, b_L ≈ 1 — that is K* ∝ H log M₂ — and
b_d = 0), and per sweep the log-log slope of K* in its factor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

from ..samplers import SAMPLERS
from ..schedules import log_snr_uniform
from ..targets import GaussianMixture
from ..theory import (
    InformationCurve,
    asymptotic_optimal_discretization,
    discretization_error,
    gaussian_discretization_error,
)
from ._registry import Experiment, register
from ._text import summary_text_rows
from .dimension_free import entropy_weights, fewest_log_snr_steps
from .figures import pyplot

__all__ = [
    "EXPERIMENT",
    "GmmEntropyConfig",
    "fit_power_law",
    "gmm_entropy_figure",
    "latent_label_tv",
    "mixture_target",
    "run_gmm_entropy",
    "split_discretization_error",
    "summarize",
    "summary_rows",
]

SWEEPS = ("entropy", "components", "dimension", "moment")


@dataclass
class GmmEntropyConfig:
    """Args:
    base: the base point (H in nats, d, mean scale s, component factor c).
    entropies, component_factors, dims, scales: the values of each one-factor sweep.
    covariances: ``"isotropic"`` and/or ``"lowrank"`` (see the module docstring).
    lowrank_max_dim: the low-rank components have no importance sampler for their latent mmse
        (plain Monte Carlo, cost ∝ d), so their dimension sweep stops here.
    delta: the target D in nats.
    """

    base: tuple[float, int, float, float] = (2.0, 64, 4.0, 2.0)
    entropies: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0)
    component_factors: tuple[float, ...] = (2.0, 8.0, 32.0)
    dims: tuple[int, ...] = (8, 64, 512, 4096)
    scales: tuple[float, ...] = (1.0, 4.0, 16.0, 64.0, 256.0)
    covariances: tuple[str, ...] = ("isotropic", "lowrank")
    lowrank_max_dim: int = 512
    within_std: float = 0.05
    rank: int = 2
    factor_scale: float = 0.5
    floor_std: float = 2e-4
    sigma_min: float = 2e-3
    sigma_max_factor: float = 20.0
    delta: float = 0.1
    mmse_points: int = 201
    mmse_samples: int = 1000
    samples: int = 4000
    max_steps: int = 2**17
    seed: int = 0

    @classmethod
    def fast(cls) -> GmmEntropyConfig:
        """CI-sized: H ≤ 4, d ≤ 512 (low-rank d ≤ 64), fewer Monte-Carlo samples."""
        return cls(
            entropies=(1.0, 2.0, 3.0, 4.0),
            component_factors=(2.0, 8.0),
            dims=(8, 64, 512),
            scales=(1.0, 4.0, 16.0, 64.0),
            lowrank_max_dim=64,
            mmse_points=121,
            mmse_samples=600,
            samples=2000,
        )


def mixture_target(
    cov: str, entropy: float, dim: int, scale: float, factor: float, cfg: GmmEntropyConfig
) -> GaussianMixture:
    """The family's member (see the module docstring); seeded by ``cfg.seed``."""
    n = math.ceil(factor * math.exp(entropy))
    w = entropy_weights(n, entropy)
    rng = np.random.default_rng(cfg.seed)
    means = rng.normal(0.0, scale / math.sqrt(dim), size=(n, dim))
    if cov == "isotropic":
        return GaussianMixture(w, means, cfg.within_std**2)
    if cov == "lowrank":
        if not cfg.rank < dim:
            raise ValueError(f"rank {cfg.rank} must be < d = {dim}")
        frames = np.linalg.qr(rng.normal(size=(n, dim, cfg.rank)))[0] * cfg.factor_scale
        return GaussianMixture(w, means, cfg.floor_std**2, cov_kind="lowrank", factors=frames)
    raise ValueError(f"unknown covariance {cov!r}; expected 'isotropic' or 'lowrank'")


def split_discretization_error(target: GaussianMixture, latent: InformationCurve, sigmas):
    """(D_within, D_latent) in nats for the grid ``sigmas``: the closed-form Gaussian part and the
    latent part from its mmse curve (module docstring)."""
    eig = target.component_eigvals()
    unique, inverse = np.unique(eig, axis=0, return_inverse=True)
    w = np.bincount(inverse.reshape(-1), weights=target.weights, minlength=len(unique))
    within = sum(
        wk * gaussian_discretization_error(e, sigmas) for wk, e in zip(w, unique, strict=True)
    )
    return float(within), discretization_error(sigmas, latent)


def _latent_curve(target: GaussianMixture, sigma_max: float, cfg: GmmEntropyConfig):
    sig = np.geomspace(sigma_max, cfg.sigma_min, cfg.mmse_points)
    est = target.mmse_estimate(sig, num_samples=cfg.mmse_samples, seed=cfg.seed)
    latent = np.clip(est.value - target.within_component_mmse(sig), 0.0, None)
    return InformationCurve.from_sigmas(sig, latent)


def _fewest_steps(error, cfg: GmmEntropyConfig, sigma_max: float) -> int | None:
    """Smallest log-SNR-uniform K with error ≤ δ, None beyond max_steps."""
    k = fewest_log_snr_steps(error, cfg.delta, cfg.sigma_min, sigma_max, cfg.max_steps)
    if k < cfg.max_steps:
        return k
    grid = log_snr_uniform(k, cfg.sigma_min, sigma_max).numpy()
    return k if error(grid) <= cfg.delta else None  # the limit itself: met, or missed


def _las_steps(curve: InformationCurve, cfg: GmmEntropyConfig) -> float:
    """K*_LAS = J²/4δ from the LAS optimum D ≈ J²/4K (so K* = D(K = 1)/δ)."""
    return asymptotic_optimal_discretization(curve, 1) / cfg.delta


def latent_label_tv(samples: torch.Tensor, target: GaussianMixture, sigma: float) -> float:
    """TV between the law of argmax_k p(k | x_σ) over ``samples`` and the weights."""
    label = target.posterior(samples.double(), sigma).argmax(1)
    hist = np.bincount(label.numpy(), minlength=target.num_components) / samples.shape[0]
    return 0.5 * float(np.abs(hist - target.weights).sum())


def _ddpm_check(target, steps: int, sigma_max: float, cfg: GmmEntropyConfig) -> tuple[float, float]:
    """(label TV of DDPM's output, label TV of exact samples at σ_min): float32 sampling, the
    labels in float64."""
    sig = log_snr_uniform(steps, cfg.sigma_min, sigma_max, dtype=torch.float32)
    gen = torch.Generator().manual_seed(cfg.seed + 7)
    x = torch.randn(cfg.samples, target.dim, generator=gen) * sigma_max
    out = SAMPLERS["ddpm"](target, x, sig, generator=gen)
    _, exact = target.sample_noised(cfg.samples, cfg.sigma_min, gen)
    sigma = cfg.sigma_min
    return latent_label_tv(out, target, sigma), latent_label_tv(exact, target, sigma)


def _points(cfg: GmmEntropyConfig):
    """(sweep, cov, H, d, s, c) of every target, the base point once per covariance."""
    h0, d0, s0, c0 = cfg.base
    seen = set()
    for cov in cfg.covariances:
        for sweep in SWEEPS:
            values = {
                "entropy": [(h, d0, s0, c0) for h in cfg.entropies],
                "components": [(h0, d0, s0, c) for c in cfg.component_factors],
                "dimension": [(h0, d, s0, c0) for d in cfg.dims],
                "moment": [(h0, d0, s, c0) for s in cfg.scales],
            }[sweep]
            for h, d, s, c in values:
                if cov == "lowrank" and d > cfg.lowrank_max_dim:
                    continue
                key = (cov, h, d, s, c)
                yield sweep, cov, h, d, s, c, key in seen
                seen.add(key)


def run_gmm_entropy(cfg: GmmEntropyConfig, on_row=None) -> list[dict]:
    """One row per (sweep, target); a target shared by two sweeps is computed once."""
    rows, done = [], {}
    for sweep, cov, h, d, s, c, repeat in _points(cfg):
        key = (cov, h, d, s, c)
        if repeat:
            row = {**done[key], "sweep": sweep}
        else:
            target = mixture_target(cov, h, d, s, c, cfg)
            m2 = target.second_moment
            sigma_max = cfg.sigma_max_factor * math.sqrt(m2)
            latent = _latent_curve(target, sigma_max, cfg)
            within = InformationCurve(
                latent.log_snr, target.within_component_mmse(np.exp(-0.5 * latent.log_snr))
            )
            total = InformationCurve(latent.log_snr, latent.values + within.values)

            def latent_d(g, latent=latent):
                return discretization_error(g, latent)

            def total_d(g, target=target, latent=latent):
                return sum(split_discretization_error(target, latent, g))

            k_lat = _fewest_steps(latent_d, cfg, sigma_max)
            k_tot = _fewest_steps(total_d, cfg, sigma_max)
            row = {
                "sweep": sweep,
                "covariance": cov,
                "entropy": target.latent_entropy(),
                "components": target.num_components,
                "dim": d,
                "scale": s,
                "second_moment": m2,
                "log_snr_range": 2 * math.log(sigma_max / cfg.sigma_min),
                "steps_latent": k_lat,
                "steps_total": k_tot,
                "las_steps_latent": _las_steps(latent, cfg),
                "las_steps_total": _las_steps(total, cfg),
                "delta": cfg.delta,
                "tv": None,
                "tv_floor": None,
            }
            if k_lat is not None:
                grid = log_snr_uniform(k_lat, cfg.sigma_min, sigma_max).numpy()
                row["within_d_at_latent_steps"], row["latent_d"] = split_discretization_error(
                    target, latent, grid
                )
                row["tv"], row["tv_floor"] = _ddpm_check(target, k_lat, sigma_max, cfg)
            done[key] = row
        rows.append(row)
        if on_row:
            on_row(row)
    return rows


def fit_power_law(y, factors: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """log y = a + Σ_f b_f log x_f by least squares: {f: (b_f, half-width of its 95 % interval)}
    (t quantile on n − p degrees of freedom; the width is inf when n ≤ p)."""
    y = np.log(np.asarray(y, dtype=np.float64))
    design = np.column_stack([np.ones_like(y)] + [np.log(v) for v in factors.values()])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = len(y) - design.shape[1]
    if dof <= 0:
        return {f: (float(b), math.inf) for f, b in zip(factors, coef[1:], strict=True)}
    resid = y - design @ coef
    cov = (resid @ resid / dof) * np.linalg.pinv(design.T @ design)
    half = stats.t.ppf(0.975, dof) * np.sqrt(np.diag(cov))
    return {f: (float(b), float(w)) for f, b, w in zip(factors, coef[1:], half[1:], strict=True)}


def _fmt(fit: tuple[float, float]) -> str:
    return f"{fit[0]:.2f} ± {fit[1]:.2f}"


_SWEEP_FACTOR = {
    "entropy": ("H", "entropy"),
    "components": ("n", "components"),
    "dimension": ("d", "dim"),
    "moment": ("M₂", "second_moment"),
}


def summarize(rows: list[dict]) -> dict:
    """Per covariance and criterion (latent, total): the joint fit of log K* in log H, log L,
    log d; per sweep the slope of log K* in its factor; the DDPM check."""
    out: dict = {}
    unique = {
        (r["covariance"], r["entropy"], r["components"], r["dim"], r["scale"]): r for r in rows
    }.values()
    for cov in dict.fromkeys(r["covariance"] for r in rows):
        for crit in ("latent", "total"):
            pts = [r for r in unique if r["covariance"] == cov and r[f"steps_{crit}"] is not None]
            res: dict = {}
            if len(pts) >= 5:
                fit = fit_power_law(
                    [r[f"steps_{crit}"] for r in pts],
                    {
                        "H": np.array([r["entropy"] for r in pts]),
                        "L": np.array([r["log_snr_range"] for r in pts]),
                        "d": np.array([r["dim"] for r in pts]),
                    },
                )
                res["K* ∝ H^a L^b d^c: a (H)"] = _fmt(fit["H"])
                res["K* ∝ H^a L^b d^c: b (L = log-SNR range)"] = _fmt(fit["L"])
                res["K* ∝ H^a L^b d^c: c (d)"] = _fmt(fit["d"])
            for sweep, (label, key) in _SWEEP_FACTOR.items():
                sw = sorted(
                    (r[key], r[f"steps_{crit}"])
                    for r in rows
                    if r["covariance"] == cov and r["sweep"] == sweep
                )
                if not sw:
                    continue
                text = " ".join(f"{_short(x)}:{k if k is not None else '>max'}" for x, k in sw)
                res[f"K* over {label}"] = text
                ok = [(x, k) for x, k in sw if k is not None]
                if len(ok) >= 3:
                    x, k = np.array(ok, dtype=np.float64).T
                    res[f"slope of log K* in log {label}"] = _fmt(
                        fit_power_law(k, {label: x})[label]
                    )
            if crit == "latent":
                las = [r["las_steps_latent"] / r["steps_latent"] for r in pts]
                if las:
                    res["K*_LAS / K*_log-SNR (median)"] = f"{np.median(las):.2f}"
                checked = [r for r in unique if r["covariance"] == cov and r["tv"] is not None]
                if checked:
                    excess = [r["tv"] - r["tv_floor"] for r in checked]
                    res["DDPM at K*: label TV − floor, max"] = f"{max(excess):.3f}"
                    res["Pinsker √(δ/2)"] = f"{math.sqrt(max(r['delta'] for r in checked) / 2):.3f}"
            out[f"{cov}, D_{crit} ≤ δ"] = res
    return out


def _short(x: float) -> str:
    return f"{x:.3g}" if x < 1e4 else f"{x:.1e}"


summary_rows = summary_text_rows


def gmm_entropy_figure(rows: list[dict], path) -> object:
    """One panel per sweep: K* (log-SNR grid) against its factor, latent (solid) and total
    (dashed) criteria, one colour per covariance."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
    colors = {"isotropic": "C0", "lowrank": "C1"}
    for ax, (sweep, (label, key)) in zip(axes, _SWEEP_FACTOR.items(), strict=True):
        for cov in dict.fromkeys(r["covariance"] for r in rows):
            sw = sorted((r[key], r) for r in rows if r["covariance"] == cov and r["sweep"] == sweep)
            for crit, style in (("latent", "-o"), ("total", "--s")):
                pts = [(x, r[f"steps_{crit}"]) for x, r in sw if r[f"steps_{crit}"] is not None]
                if pts:
                    x, k = np.array(pts, dtype=np.float64).T
                    ax.plot(x, k, style, ms=4, color=colors.get(cov), label=f"{cov}, D_{crit}")
        ax.set(xscale="log", yscale="log", xlabel=label, ylabel="K* (D ≤ δ)")
        ax.set_title(f"{sweep} sweep", fontsize=9)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


EXPERIMENT = register(
    Experiment(
        name="gmm-entropy",
        config=GmmEntropyConfig,
        run=run_gmm_entropy,
        summarize=summarize,
        summary_rows=summary_rows,
        figure=gmm_entropy_figure,
        label=lambda r: (
            f"{r['sweep']} {r['covariance']} H={r['entropy']:.2f} n={r['components']} "
            f"d={r['dim']} M2={r['second_moment']:.3g} K*={r['steps_latent']}"
        ),
        claim="for Gaussian mixtures the steps grow linearly in the latent entropy H and only "
        "logarithmically in the second moment, not with d (2605.07969)",
    )
)
