"""Loss-curve schedules: the DP is exact, entropic time matches its definition."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from scorelab.schedules import las_schedule
from scorelab.schedules.information import (
    cumulative_information,
    entropic_schedule,
    information_las_schedule,
    path_dp,
    saturating_costs,
    saturating_schedule,
)
from scorelab.theory import InformationCurve

S = np.array([0.1, 0.5, 2.0])  # Gaussian eigenvalues: mmse(γ) = Σ s/(1 + sγ), I = ½ Σ log(1+sγ)


def gaussian_curve(lo=0.002, hi=80.0, n=4001) -> InformationCurve:
    sig = np.geomspace(hi, lo, n)
    g = 1 / sig**2
    return InformationCurve.from_sigmas(sig, (S / (1 + S * g[:, None])).sum(1))


def gaussian_info(gamma) -> np.ndarray:
    return 0.5 * np.log1p(S * np.asarray(gamma)[..., None]).sum(-1)


@pytest.mark.parametrize("seed", range(4))
def test_path_dp_is_exact_by_brute_force(seed):
    rng = np.random.default_rng(seed)
    M, K = 8, 3
    cost = rng.exponential(size=(M, M))
    idx = path_dp(cost, K)
    best = min(
        sum(cost[a, b] for a, b in itertools.pairwise((0, *mid, M - 1)))
        for mid in itertools.combinations(range(1, M - 1), K - 1)
    )
    assert sum(cost[a, b] for a, b in itertools.pairwise(idx)) == pytest.approx(best, rel=1e-12)
    assert idx[0] == 0 and idx[-1] == M - 1 and np.all(np.diff(idx) > 0)


def test_cumulative_information_is_the_i_mmse_integral():
    curve = gaussian_curve()
    g = np.exp(curve.log_snr)
    info = cumulative_information(g, curve.values)
    np.testing.assert_allclose(info, gaussian_info(g) - gaussian_info(g[0]), rtol=1e-5, atol=1e-9)


def test_entropic_time_steps_are_equal_in_information():
    sig = entropic_schedule(12, gaussian_curve(), 0.002, 80.0).numpy()
    gains = np.diff(gaussian_info(1 / sig**2))
    np.testing.assert_allclose(gains, gains.mean(), rtol=1e-3)
    assert sig[0] == pytest.approx(80.0) and sig[-1] == pytest.approx(0.002)


def test_saturating_cost_is_below_both_the_path_kl_and_the_unresolved_information():
    curve = gaussian_curve(n=200)
    g = np.exp(curve.log_snr)
    c = saturating_costs(g, curve.values)
    info = cumulative_information(g, curve.values)
    D = 0.5 * (g[None] - g[:, None]) * curve.values[:, None] - (info[None] - info[:, None])
    upper = np.triu(np.ones_like(c, dtype=bool), 1)
    U = (info[-1] - info)[:, None] * np.ones_like(c)
    assert np.all(c[upper] <= D[upper] + 1e-12)
    assert np.all(c[upper] <= U[upper] + 1e-12)
    small = upper & (D < 1e-3 * U)  # D ≪ U: the cost is D itself
    np.testing.assert_allclose(c[small], D[small], rtol=2e-3)


def test_loss_schedules_do_not_depend_on_the_loss_units():
    # D/U and ΔI/I are ratios: a loss in other units (or summed vs averaged over d) is the same
    curve = gaussian_curve()
    scaled = InformationCurve(curve.log_snr, curve.values * 37.0)
    for build in (saturating_schedule, entropic_schedule):
        np.testing.assert_allclose(build(8, curve).numpy(), build(8, scaled).numpy(), rtol=1e-9)


def test_schedules_reject_bad_curves():
    with pytest.raises(ValueError, match="finite values >= 0"):
        saturating_schedule(5, lambda s: -np.ones_like(s))
    with pytest.raises(ValueError, match="no information"):
        entropic_schedule(5, lambda s: np.zeros_like(s))
    with pytest.raises(ValueError, match="steps"):
        path_dp(np.ones((3, 3)), 5)


def test_information_las_spans_las_and_entropic_time():
    curve = gaussian_curve()
    kw = dict(num_candidates=400)
    las = las_schedule(8, curve, 0.002, 80.0, **kw).numpy()
    zero = information_las_schedule(8, curve, 0.002, 80.0, spread=0.0, **kw).numpy()
    np.testing.assert_allclose(zero, las, rtol=1e-12)
    wide = information_las_schedule(8, curve, 0.002, 80.0, spread=1e6, **kw).numpy()
    gains = np.diff(gaussian_info(1 / wide**2))
    gains_las = np.diff(gaussian_info(1 / las**2))
    spread, spread_las = gains.std() / gains.mean(), gains_las.std() / gains_las.mean()
    assert spread < 0.05 and spread < 0.5 * spread_las  # nearly equal information per step
