"""Exact discretization error D, approximation term A, KL_init and bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scorelab.schedules import get_schedule, las_schedule, log_snr_uniform, oracle_las
from scorelab.targets import Discrete, Gaussian
from scorelab.theory import (
    InformationCurve,
    approximation_error,
    asymptotic_optimal_discretization,
    discretization_error,
    gaussian_discretization_error,
    gaussian_frozen_x0_path_kl,
    kl_init,
    log_snr_uniform_bound,
    mmse_curve,
    rectangle_bound,
    renyi_half_rate,
)

EIG = np.array([0.05, 0.25, 0.25, 1.0, 3.0])


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(["karras", "log-snr", "cosine", "uniform-t", "quad-t"]),
    steps=st.integers(1, 60),
    lo=st.floats(1e-3, 0.5),
    ratio=st.floats(2, 1e4),
)
def test_d_equals_exact_gaussian_path_kl(name, steps, lo, ratio):
    hi = min(lo * ratio, 150.0)
    s = get_schedule(name, steps, lo, hi).numpy()
    d = gaussian_discretization_error(EIG, s)
    kl = gaussian_frozen_x0_path_kl(EIG, s)
    assert d == pytest.approx(kl, rel=1e-6, abs=1e-300)
    assert d >= 0


def test_design_note_1d_reference_value():
    """las.md §2 quotes 1.583780 for 1-D Gaussian data on a 5-step grid; we check the structural
    claim (path KL = D, and adding the excess-error term A for a wrong denoiser) on such a grid."""
    s = log_snr_uniform(5, 0.01, 10.0).numpy()
    eig = np.array([1.0])
    assert gaussian_frozen_x0_path_kl(eig, s) == pytest.approx(
        gaussian_discretization_error(eig, s), rel=1e-10
    )


@pytest.mark.parametrize("shrink", [0.5, 0.9, 1.1])
def test_path_kl_equals_a_plus_d_with_denoiser_error(shrink):
    s = get_schedule("karras", 12, 0.01, 50.0).numpy()

    def gain(sig):
        return shrink * EIG / (EIG + sig**2)

    def excess(sig):  # E‖m − m̂‖² = (1−shrink)² Σ (s/(s+σ²))² (s+σ²)
        sig = np.asarray(sig)[:, None]
        return ((1 - shrink) ** 2 * (EIG / (EIG + sig**2)) ** 2 * (EIG + sig**2)).sum(1)

    total = gaussian_frozen_x0_path_kl(EIG, s, gain)
    parts = gaussian_discretization_error(EIG, s) + approximation_error(s, excess)
    assert total == pytest.approx(parts, rel=1e-9)


def test_d_decreases_under_refinement():
    g = Gaussian(np.zeros(5), EIG)
    coarse = log_snr_uniform(8, 0.01, 20.0).numpy()
    d0 = discretization_error(coarse, g)
    # insert midpoints (in log σ) repeatedly: every refinement lowers D
    grid = coarse
    for _ in range(4):
        mid = np.sqrt(grid[:-1] * grid[1:])
        grid = np.sort(np.concatenate([grid, mid]))[::-1]
        d1 = discretization_error(grid, g)
        assert 0 <= d1 < d0
        d0 = d1
    # and D ~ 1/K asymptotically for a uniform log-SNR grid
    d_a = discretization_error(log_snr_uniform(200, 0.01, 20.0).numpy(), g)
    d_b = discretization_error(log_snr_uniform(400, 0.01, 20.0).numpy(), g)
    assert d_a / d_b == pytest.approx(2.0, rel=0.02)


def test_curve_quadrature_matches_closed_form():
    g = Gaussian(np.zeros(5), EIG)
    curve = mmse_curve(g, 0.002, 80.0, num_points=3001)
    for k in (5, 20):
        s = get_schedule("karras", k).numpy()
        assert discretization_error(s, curve) == pytest.approx(discretization_error(s, g), rel=1e-4)
        per_step = discretization_error(s, curve, per_step=True)
        assert per_step.shape == (k,) and np.all(per_step >= 0)


def test_final_zero_is_ignored():
    g = Gaussian(np.zeros(5), EIG)
    s = get_schedule("karras", 10).numpy()
    assert discretization_error(np.append(s, 0.0), g) == discretization_error(s, g)


def test_discrete_target_d_and_oracle_las_is_lowest():
    t = Discrete.random_code(16, 4, scale=2.0, seed=1)
    curve = mmse_curve(t, 0.002, 80.0, num_points=401, num_samples=3000)
    las = las_schedule(10, curve, num_candidates=400).numpy()
    d_las = discretization_error(las, curve)
    for name in ("karras", "log-snr", "cosine", "uniform-t"):
        assert d_las < discretization_error(get_schedule(name, 10).numpy(), curve)


def test_oracle_las_beats_heuristics_on_gaussian_exactly():
    g = Gaussian(np.zeros(64), 0.25)
    for k in (5, 20):
        d_las = discretization_error(oracle_las(g, k, num_candidates=600).numpy(), g)
        for name in ("karras", "log-snr", "cosine", "uniform-t"):
            assert d_las < discretization_error(get_schedule(name, k).numpy(), g)


def test_kl_init_ve_matches_gaussian_closed_form():
    g = Gaussian(np.ones(3), np.array([0.5, 1.0, 2.0]))
    s = 5.0
    value = kl_init(g.second_moment, float(g.mutual_information(s)), s)
    # direct: KL(N(μ, Σ+s²I) ‖ N(0, s²I))
    from scorelab.metrics import gaussian_kl

    direct = gaussian_kl(g.mean, g.covariance + s**2 * np.eye(3), np.zeros(3), s**2 * np.eye(3))
    assert value == pytest.approx(direct, rel=1e-10)
    # VP: x = α x0 + s z against N(0, I)
    a = 1 / math.sqrt(1 + s**2)
    vp = kl_init(g.second_moment, float(g.mutual_information(s)), s, dim=3, process="vp")
    direct_vp = gaussian_kl(
        a * g.mean, a**2 * (g.covariance + s**2 * np.eye(3)), np.zeros(3), np.eye(3)
    )
    assert vp == pytest.approx(direct_vp, rel=1e-10)
    with pytest.raises(ValueError, match="needs dim"):
        kl_init(1.0, 0.1, 5.0, process="vp")


@pytest.mark.slow
def test_bounds_hold():
    p = 0.5
    t = Discrete(np.array([[-1.0], [1.0]]), [p, 1 - p])
    curve = mmse_curve(t, 0.05, 100.0, num_points=1501, num_samples=4000)
    for k in (10, 50, 100):
        s = log_snr_uniform(k, 0.05, 100.0).numpy()
        d = discretization_error(s, curve)
        assert d <= rectangle_bound(s, curve) + 1e-12
        bound = log_snr_uniform_bound(k, 0.05, 100.0, entropy=t.entropy(), variance=1.0)
        assert d <= bound
    # the K → ∞ optimum J²/(4K) is approached by the DP-optimal grid
    k = 200
    las = las_schedule(k, curve, 0.05, 100.0, num_candidates=1500).numpy()
    ratio = discretization_error(las, curve) / asymptotic_optimal_discretization(curve, k)
    assert 0.8 < ratio < 1.3
    assert renyi_half_rate(t.entropy(0.5), 100) == pytest.approx(3 * math.log(2) ** 2 / 100)


def test_information_curve_validation():
    with pytest.raises(ValueError, match="strictly increasing"):
        InformationCurve(np.array([0.0, 0.0]), np.array([1.0, 0.5]))
    c = InformationCurve(np.array([0.0, 1.0]), np.array([1.0, 0.5]))
    with pytest.raises(ValueError, match="outside the curve's range"):
        c(2.0)
    with pytest.raises(ValueError, match="strictly decreasing"):
        discretization_error(np.array([1.0, 2.0]), c)


def test_grid_gammas_uses_the_shared_grid_check():
    """One σ-grid check everywhere: theory's grids fail with the samplers' messages."""
    from scorelab.theory import grid_gammas

    with pytest.raises(
        ValueError, match=r"strictly decreasing; sigmas\[0\]=1.0 <= sigmas\[1\]=2.0"
    ):
        grid_gammas([1.0, 2.0, 0.5])
    with pytest.raises(ValueError, match="finite"):
        grid_gammas([1.0, float("nan"), 0.5])
    with pytest.raises(ValueError, match="at least two positive"):
        grid_gammas([1.0, 0.0])
    assert np.allclose(grid_gammas([2.0, 1.0, 0.0]), [0.25, 1.0])
