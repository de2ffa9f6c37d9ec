"""Every metric on a case with a known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from scorelab.metrics import (
    atom_histogram_metrics,
    energy_distance,
    gaussian_fit_kl,
    gaussian_kl,
    mixture_metrics,
    mmd_rbf,
    sliced_wasserstein2,
)
from scorelab.targets import Discrete, Gaussian, GaussianMixture


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_atom_histogram_known_answers():
    t = Discrete(np.array([[0.0, 0.0], [10.0, 0.0]]), [0.25, 0.75])
    # all samples near atom 0: p̂ = (1, 0) → TV = 0.75, KL = log(1/0.25)
    x = torch.tensor([[0.1, 0.0], [-0.1, 0.0], [0.0, 0.2], [0.0, -0.2]], dtype=torch.float64)
    m = atom_histogram_metrics(x, t)
    assert m.tv == pytest.approx(0.75) and m.kl == pytest.approx(math.log(4))
    assert m.off_support == pytest.approx(0.15)
    exact = t.sample(20000, _gen())
    m = atom_histogram_metrics(exact, t)
    assert m.off_support == 0 and m.tv < 4 * m.tv_floor


def test_gaussian_kl_closed_form_and_fit_floor():
    # 1-D: KL(N(0,1) ‖ N(1,4)) = log 2 + (1 + 1)/8 − ½
    assert gaussian_kl([0.0], [[1.0]], [1.0], [[4.0]]) == pytest.approx(math.log(2) + 2 / 8 - 0.5)
    g = Gaussian(np.zeros(4), np.array([0.5, 1.0, 1.5, 2.0]))
    kls = [gaussian_fit_kl(g.sample(4000, _gen(s), dtype=torch.float64), g) for s in range(20)]
    mean_kl = np.mean([k for k, _ in kls])
    assert mean_kl == pytest.approx(kls[0][1], rel=0.3)  # E[KL] ≈ d(d+3)/(4n)


def test_mixture_metrics_known_answers():
    means = np.array([[-5.0, 0.0], [5.0, 0.0]])
    gmm = GaussianMixture([0.3, 0.7], means, [0.5, 0.5])
    exact = gmm.sample(20000, _gen(), dtype=torch.float64)
    m = mixture_metrics(exact, gmm)
    assert m.weight_tv < 4 * m.weight_tv_floor and m.components_fitted == 2
    assert m.moment_kl < 0.01
    # samples all from component 0 with doubled variance: TV = 0.7, moment KL of comp 0 known
    wrong = torch.as_tensor(means[0]) + math.sqrt(1.0) * torch.randn(
        20000, 2, generator=_gen(1), dtype=torch.float64
    )
    m = mixture_metrics(wrong, gmm)
    assert m.weight_tv == pytest.approx(0.7, abs=1e-3)
    expected = gaussian_kl(np.zeros(2), np.eye(2), np.zeros(2), 0.5 * np.eye(2))
    assert m.moment_kl == pytest.approx(expected, rel=0.05)


@pytest.mark.slow
def test_sliced_wasserstein_known_answer():
    d, shift = 5, 2.0
    x = torch.randn(20000, d, generator=_gen(0), dtype=torch.float64)
    y = torch.randn(20000, d, generator=_gen(1), dtype=torch.float64)
    y[:, 0] += shift
    # SW₂² between N(0,I) and N(m,I) is E_θ (θ·m)² = ‖m‖²/d
    sw = sliced_wasserstein2(x, y, num_projections=2000)
    assert sw**2 == pytest.approx(shift**2 / d, rel=0.05)
    assert sliced_wasserstein2(x, x) == 0.0
    # unequal sample sizes use exact quantile matching
    assert sliced_wasserstein2(x[:3000], y[:7000], num_projections=1000) ** 2 == pytest.approx(
        shift**2 / d, rel=0.1
    )


@pytest.mark.slow
def test_mmd_known_answer():
    d, s, ell, delta = 3, 1.0, 2.0, 1.5
    x = s * torch.randn(4000, d, generator=_gen(0), dtype=torch.float64)
    y = s * torch.randn(4000, d, generator=_gen(1), dtype=torch.float64)
    y[:, 0] += delta
    c = (ell**2 / (ell**2 + 2 * s**2)) ** (d / 2)
    expected = 2 * c * (1 - math.exp(-(delta**2) / (2 * (ell**2 + 2 * s**2))))
    assert mmd_rbf(x, y, bandwidth=ell) == pytest.approx(expected, rel=0.1)
    same = mmd_rbf(
        x, s * torch.randn(4000, d, generator=_gen(2), dtype=torch.float64), bandwidth=ell
    )
    assert abs(same) < 0.1 * expected  # unbiased: ≈ 0 for equal laws
    with pytest.raises(ValueError, match="bandwidth"):
        mmd_rbf(x, y, bandwidth=0.0)


def test_energy_distance_known_answer():
    m = 1.0
    x = torch.randn(6000, 1, generator=_gen(0), dtype=torch.float64)
    y = torch.randn(6000, 1, generator=_gen(1), dtype=torch.float64) + m

    def folded_mean(mu, sd):  # E|Z|, Z ~ N(mu, sd²)
        return sd * math.sqrt(2 / math.pi) * math.exp(-(mu**2) / (2 * sd**2)) + mu * (
            1 - 2 * norm.cdf(-mu / sd)
        )

    expected = 2 * folded_mean(m, math.sqrt(2)) - 2 * folded_mean(0.0, math.sqrt(2))
    assert energy_distance(x, y) == pytest.approx(expected, rel=0.1)


def test_metric_input_validation():
    x = torch.randn(10, 3)
    with pytest.raises(ValueError, match="different dimensions"):
        energy_distance(x, torch.randn(10, 4))
    with pytest.raises(ValueError, match="n >= 2"):
        sliced_wasserstein2(torch.randn(1, 3), x)
    with pytest.raises(TypeError, match="GaussianMixture"):
        mixture_metrics(x, Gaussian(np.zeros(3), 1.0))
    with pytest.raises(TypeError, match="Discrete"):
        atom_histogram_metrics(x, Gaussian(np.zeros(3), 1.0))


def test_queries_to_reach_inverts_a_power_law():
    from scorelab.metrics import queries_to_reach

    nfe = np.array([4, 6, 9, 14, 20, 30, 45, 64])
    err = 3.0 * nfe**-2.0
    for eps in (0.05, 0.01, 2e-3):
        assert queries_to_reach(nfe, err, eps) == pytest.approx((3.0 / eps) ** 0.5, rel=1e-9)
    assert queries_to_reach(nfe, err, 1e-6) == float("inf")
    assert queries_to_reach(nfe, err, 1.0) == 4.0  # already reached: no extrapolation
    # a non-monotone ladder: the first crossing counts; the order of the input does not matter
    bumpy = np.array([1.0, 0.2, 0.5, 0.05])
    assert queries_to_reach([4, 8, 16, 32], bumpy, 0.3) == pytest.approx(
        np.exp(np.log(4) + (np.log(0.3) - 0) / np.log(0.2) * np.log(2))
    )
    assert queries_to_reach([32, 16, 8, 4], bumpy[::-1], 0.3) == queries_to_reach(
        [4, 8, 16, 32], bumpy, 0.3
    )
    with pytest.raises(ValueError, match="distinct"):
        queries_to_reach([4, 4], [1.0, 0.5], 0.6)


def test_fewest_queries_is_the_best_ladders_crossing():
    """Over several ladders: the smallest NFE*, its label, whether it was reached at that
    ladder's first point (then a bound), the first label on a tie, inf when none reaches."""
    from scorelab.metrics import fewest_queries

    ladders = {
        "slow": [(4, 1.0), (8, 0.5), (16, 0.1)],
        "fast": [(8, 0.2), (4, 0.4)],  # unsorted points are fine
        "twin": [(4, 0.4), (8, 0.2)],
    }
    n_star, label, at_start = fewest_queries(ladders, 0.3)
    assert label == "fast" and not at_start
    assert n_star == pytest.approx(np.exp(np.log(4) + np.log(0.3 / 0.4) / np.log(0.5) * np.log(2)))
    assert fewest_queries(ladders, 0.5) == (4.0, "fast", True)
    assert fewest_queries(ladders, 0.05) == (float("inf"), "slow", False)
    assert fewest_queries({}, 0.1) == (float("inf"), None, False)


def test_gaussian_output_kl_with_a_final_denoise_compares_with_the_data_law():
    from scorelab.exact import gaussian_output_kl
    from scorelab.schedules import karras

    target = Gaussian(np.zeros(2), np.array([0.3, 1.5]))
    coarse = gaussian_output_kl("dpmpp_2m", target, karras(4, 0.01, 80.0, final_zero=True))
    fine = gaussian_output_kl("dpmpp_2m", target, karras(64, 0.01, 80.0, final_zero=True))
    assert fine < coarse and fine < 1e-3
