"""Experiment `gmm-entropy`: on Gaussian mixtures the latent part of D needs steps linear in the
latent entropy H, logarithmic in the second moment and flat in d; the Gaussian components' own
part does not (a documented finding)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scorelab.experiments import EXPERIMENTS
from scorelab.experiments.gmm_entropy import (
    GmmEntropyConfig,
    fit_power_law,
    mixture_target,
    run_gmm_entropy,
    split_discretization_error,
    summarize,
)
from scorelab.schedules import karras
from scorelab.theory import InformationCurve, discretization_error


def test_fit_power_law_recovers_exponents_and_covers_them():
    rng = np.random.default_rng(0)
    h, d = rng.uniform(1, 5, 40), rng.uniform(8, 4096, 40)
    y = 3.0 * h**0.9 * d**0.0 * np.exp(rng.normal(0, 0.05, 40))
    fit = fit_power_law(y, {"H": h, "d": d})
    assert abs(fit["H"][0] - 0.9) < fit["H"][1] < 0.1
    assert abs(fit["d"][0]) < fit["d"][1] < 0.05
    # two points, two unknowns: no interval
    assert fit_power_law([1.0, 2.0], {"x": np.array([1.0, 2.0])})["x"][1] == math.inf


@pytest.mark.parametrize("cov", ["isotropic", "lowrank"])
def test_family_has_the_stated_entropy_and_covariance(cov):
    cfg = GmmEntropyConfig()
    t = mixture_target(cov, 2.0, 32, 4.0, 2.0, cfg)
    assert t.num_components == math.ceil(2 * math.exp(2.0))
    assert t.latent_entropy() == pytest.approx(2.0, abs=1e-10)
    eig = t.component_eigvals()
    if cov == "isotropic":
        assert np.allclose(eig, cfg.within_std**2)
    else:  # rank-r frames of scale f on an isotropic floor below σ_min
        top = np.sort(eig, axis=1)[:, ::-1]
        assert np.allclose(top[:, : cfg.rank], cfg.factor_scale**2 + cfg.floor_std**2)
        assert np.allclose(top[:, cfg.rank :], cfg.floor_std**2)
    with pytest.raises(ValueError, match="covariance"):
        mixture_target("full", 2.0, 32, 4.0, 2.0, cfg)


def test_split_of_d_is_exact_linearity():
    """D_within (closed form) + D_latent (its curve) = D of the total mmse curve."""
    cfg = GmmEntropyConfig()
    t = mixture_target("isotropic", 1.0, 16, 4.0, 2.0, cfg)
    sig = np.geomspace(80.0, cfg.sigma_min, 4001)
    within = t.within_component_mmse(sig)
    latent = InformationCurve.from_sigmas(sig, 0.5 * within + 1.0)  # any curve
    total = InformationCurve.from_sigmas(sig, latent.at_sigma(sig) + within)
    grid = karras(12, cfg.sigma_min, 80.0).numpy()
    d_within, d_latent = split_discretization_error(t, latent, grid)
    assert d_latent == pytest.approx(discretization_error(grid, latent))
    assert d_within + d_latent == pytest.approx(discretization_error(grid, total), rel=2e-3)


@pytest.fixture(scope="module")
def small_run():
    cfg = GmmEntropyConfig(
        base=(2.0, 16, 4.0, 2.0),
        entropies=(1.0, 3.0),
        component_factors=(2.0, 8.0),
        dims=(8, 64),
        scales=(1.0, 32.0),
        lowrank_max_dim=16,
        mmse_points=61,
        mmse_samples=200,
        samples=800,
    )
    rows = run_gmm_entropy(cfg)
    return rows, summarize(rows)


FACTOR = {"entropy": "entropy", "components": "components", "dimension": "dim"}


def _steps(rows, cov, sweep, crit="latent"):
    return {
        r[FACTOR.get(sweep, "second_moment")]: r[f"steps_{crit}"]
        for r in rows
        if r["covariance"] == cov and r["sweep"] == sweep
    }


@pytest.mark.slow
@pytest.mark.parametrize("cov", ["isotropic", "lowrank"])
def test_latent_steps_linear_in_entropy_log_in_moment_flat_in_dimension(small_run, cov):
    rows, _ = small_run
    by_h = _steps(rows, cov, "entropy")
    k1, k3 = (by_h[h] for h in sorted(by_h))
    assert 2.2 < k3 / k1 < 3.6  # H tripled: K* ∝ H, not H² (9×) and not flat
    by_n = list(_steps(rows, cov, "components").values())
    assert max(by_n) / min(by_n) < 1.1  # 4× the components at the same H: same K*
    by_m = _steps(rows, cov, "moment")
    (m_lo, k_lo), (m_hi, k_hi) = sorted(by_m.items())
    assert m_hi / m_lo > 300 and 1.0 < k_hi / k_lo < 1.6  # M₂ × 300+: K* grows like log M₂
    if cov == "isotropic":
        by_d = list(_steps(rows, cov, "dimension").values())
        assert max(by_d) / min(by_d) < 1.1  # d = 8 … 64


@pytest.mark.slow
def test_ddpm_label_law_is_within_the_floor_at_the_latent_steps(small_run):
    rows, _ = small_run
    for r in rows:
        assert r["latent_d"] <= r["delta"]
        assert r["tv"] - r["tv_floor"] < 0.05, r


@pytest.mark.slow
def test_finding_full_rank_components_cost_steps_in_proportion_to_d(small_run):
    """The Gaussian components' own D (every coordinate resolved) needs K* ∝ d; low-rank
    components on a floor below σ_min do not."""
    rows, summary = small_run
    by_d = _steps(rows, "isotropic", "dimension", "total")
    (d_lo, k_lo), (d_hi, k_hi) = sorted(by_d.items())
    assert k_hi / k_lo == pytest.approx(d_hi / d_lo, rel=0.25)
    low = _steps(rows, "lowrank", "entropy", "total")
    iso = _steps(rows, "isotropic", "entropy", "total")
    assert all(low[h] < iso[h] / 2 for h in low)
    assert "isotropic, D_latent ≤ δ" in summary and "lowrank, D_total ≤ δ" in summary


@pytest.mark.slow
def test_registered_with_a_figure(small_run, tmp_path):
    rows, _ = small_run
    exp = EXPERIMENTS["gmm-entropy"]
    assert exp.config.fast().dims[-1] >= 512
    path = exp.figure(rows, tmp_path / "g.png")
    assert path.stat().st_size > 10_000
