"""Exactness checks for every target: autograd score, Tweedie, MMSE, I-MMSE, moments, dtypes,
extreme noise levels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scorelab.targets import Discrete, Empirical, Gaussian, GaussianMixture
from scorelab.targets import mixture as mixture_module

from .conftest import TARGETS

SIGMAS = [0.02, 0.3, 1.0, 5.0]


def _noised(target, sigma, n=64, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return target.sample_noised(n, sigma, g, dtype=dtype)[1]


@pytest.mark.parametrize("sigma", SIGMAS)
def test_score_is_autograd_gradient_of_log_prob(target, sigma):
    x = _noised(target, sigma).requires_grad_(True)
    target.log_prob(x, sigma).sum().backward()
    score = target.score(x.detach(), sigma)
    scale = score.abs().max().item() + 1.0
    assert torch.allclose(x.grad, score, atol=1e-9 * scale, rtol=1e-8)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_tweedie(target, sigma):
    x = _noised(target, sigma)
    lhs = target.denoise(x, sigma)
    rhs = x + sigma**2 * target.score(x, sigma)
    assert torch.allclose(lhs, rhs, atol=1e-9 * (1 + x.abs().max().item()))


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(sorted(TARGETS)), log_sigma=st.floats(-4, 3), seed=st.integers(0, 999))
def test_score_autograd_property(name, log_sigma, seed):
    target = TARGETS[name]
    sigma = 10.0**log_sigma
    x = _noised(target, sigma, n=8, seed=seed).requires_grad_(True)
    target.log_prob(x, sigma).sum().backward()
    score = target.score(x.detach(), sigma)
    assert torch.isfinite(score).all()
    scale = score.abs().max().item() + 1.0
    assert torch.allclose(x.grad, score, atol=1e-7 * scale, rtol=1e-6)


def test_per_sample_sigma_matches_scalar(target):
    x = _noised(target, 0.5, n=6)
    sig = torch.tensor([0.1, 0.5, 2.0, 0.1, 7.0, 0.5], dtype=torch.float64)
    batched = target.denoise(x, sig)
    for i in range(6):
        single = target.denoise(x[i : i + 1], float(sig[i]))
        assert torch.allclose(batched[i : i + 1], single, atol=1e-12)
    lp = target.log_prob(x, sig)
    assert torch.allclose(lp[4], target.log_prob(x[4:5], 7.0)[0])


def test_sampling_moments(target, gen):
    n = 40_000
    x = target.sample(n, gen, dtype=torch.float64).reshape(n, -1)
    mean = torch.as_tensor(target.data_mean)
    # 6 standard errors per coordinate, from the sample's own spread
    se = x.std(0) / math.sqrt(n)
    assert ((x.mean(0) - mean).abs() <= 6 * se + 1e-12).all()
    m2 = x.square().sum(1)
    assert abs(m2.mean().item() - target.second_moment) <= 6 * m2.std().item() / math.sqrt(n) + 1e-9


@pytest.mark.parametrize("sigma", [0.3, 1.0])
def test_mmse_matches_monte_carlo(target, sigma):
    """Closed forms against a direct estimate; Monte-Carlo targets against an independent-seed
    estimate (two unbiased estimators agree within their combined standard errors)."""
    est = (
        target.mmse_estimate(sigma, num_samples=6000, seed=11) if not target.mmse_is_exact else None
    )
    g = torch.Generator().manual_seed(99)
    n = 6000
    x0 = target.sample(n, g, dtype=torch.float64)
    xs = x0 + sigma * torch.randn(x0.shape, generator=g, dtype=torch.float64)
    err = (x0 - target.denoise(xs, sigma)).reshape(n, -1).square().sum(1)
    mc, mc_se = err.mean().item(), err.std().item() / math.sqrt(n)
    value = float(target.mmse(sigma))
    tol = 5 * math.hypot(mc_se, 0.0 if est is None else float(est.stderr)) + 1e-12
    assert abs(value - mc) <= tol
    assert 0 <= value <= target.second_moment + 1e-9


def test_mmse_is_nonincreasing_and_bounded(target):
    sig = np.geomspace(1e-3, 1e3, 25)
    est = target.mmse_estimate(sig, num_samples=2000)
    m = est.value
    # increasing in σ (= non-increasing in γ); Monte-Carlo curves up to 4 standard errors
    assert np.all(np.diff(m) >= -1e-9 - 4 * np.hypot(est.stderr[1:], est.stderr[:-1]))
    # mmse(σ) ≤ min(Var-trace, dσ²) and ↑ trace of the covariance as σ → ∞
    x = target.sample(20000, torch.Generator().manual_seed(3), dtype=torch.float64)
    var_trace = x.reshape(len(x), -1).var(0).sum().item()
    assert m[-1] == pytest.approx(var_trace, rel=0.05)


# --- I-MMSE on 1-D targets by independent quadrature ---

ONE_D = {
    "gmm-1d": GaussianMixture([0.3, 0.7], [[-1.0], [1.5]], [0.1, 0.4]),
    "discrete-1d": Discrete([[-1.0], [0.2], [2.0]], [0.2, 0.5, 0.3]),
    "gaussian-1d": Gaussian([0.3], [[0.8]]),
}


def _quadrature(target, sigma):
    """mmse and I by quadrature on a fine grid: mmse = E x0² − ∫ p_σ m², I = h(x_σ) − h(x_σ|x0)."""
    grid = torch.linspace(-12 - 8 * sigma, 12 + 8 * sigma, 40001, dtype=torch.float64)[:, None]
    dx = float(grid[1, 0] - grid[0, 0])
    logp = target.log_prob(grid, sigma)
    p = logp.exp()
    m = target.denoise(grid, sigma)[:, 0]
    mmse = target.second_moment - float((p * m**2).sum() * dx)
    h = -float((p * logp).sum() * dx)
    mi = h - 0.5 * math.log(2 * math.pi * math.e * sigma**2)
    return mmse, mi, float(p.sum() * dx)


@pytest.mark.parametrize("name", sorted(ONE_D))
@pytest.mark.parametrize("sigma", [0.2, 0.7, 2.0])
def test_i_mmse_by_quadrature(name, sigma):
    target = ONE_D[name]
    mmse, mi, mass = _quadrature(target, sigma)
    assert mass == pytest.approx(1.0, abs=1e-8)
    # dI/dγ = mmse/2 with γ = 1/σ²: central difference in γ
    gamma, h = 1 / sigma**2, 1e-3 / sigma**2
    i_plus = _quadrature(target, (gamma + h) ** -0.5)[1]
    i_minus = _quadrature(target, (gamma - h) ** -0.5)[1]
    assert (i_plus - i_minus) / (2 * h) == pytest.approx(mmse / 2, rel=2e-3, abs=1e-7)
    # the target's own curves agree with quadrature (exact or within Monte-Carlo error)
    if target.mmse_is_exact:
        assert float(target.mmse(sigma)) == pytest.approx(mmse, rel=1e-6)
        assert float(target.mutual_information(sigma)) == pytest.approx(mi, rel=1e-6)
    else:
        est = target.mmse_estimate(sigma, num_samples=20000)
        assert abs(float(est.value) - mmse) <= 5 * float(est.stderr) + 1e-9
        mi_mc = float(target.mutual_information(sigma, num_samples=20000))
        assert mi_mc == pytest.approx(mi, abs=0.02)


@pytest.mark.parametrize("sigma", [0.5, 0.2, 0.1, 0.07])
def test_mmse_tail_by_importance_sampling_matches_quadrature(sigma):
    """Two atoms at distance 2 in R^5 reduce to a 1-D problem: tr Cov(x0|x) = p0 p1 D², so
    mmse = ∫ p_σ p0 p1 D² dx by quadrature. At σ = 0.07 the truth is ~4e-46, far beyond what
    plain sampling can see; the tilted estimator must agree within its stated error."""
    D = 2.0
    atoms5 = Discrete(np.array([[0.0] * 5, [D, 0, 0, 0, 0]]), [0.3, 0.7])
    line = Discrete(np.array([[0.0], [D]]), [0.3, 0.7])
    grid = torch.linspace(-10 * sigma - 1, D + 10 * sigma + 1, 200001, dtype=torch.float64)
    grid = grid[:, None]
    dx = float(grid[1, 0] - grid[0, 0])
    post = line.posterior(grid, sigma)
    exact = float((line.log_prob(grid, sigma).exp() * post[:, 0] * post[:, 1]).sum() * dx) * D**2
    est = atoms5.mmse_estimate(sigma, num_samples=20000)
    assert abs(float(est.value) - exact) <= 4 * float(est.stderr)
    assert float(est.stderr) < 0.1 * exact  # and it is informative, not just wide
    plain = atoms5.mmse_estimate(sigma, num_samples=20000, importance=False)
    if sigma <= 0.1:  # plain sampling misses the rare crossing entirely
        assert float(plain.value) < 1e-3 * exact


def test_discrete_mutual_information_limits():
    t = ONE_D["discrete-1d"]
    mi = t.mutual_information([1e-3, 1e3], num_samples=4000)
    assert mi[0] == pytest.approx(t.entropy(), abs=1e-6)  # I(σ→0) = H
    assert mi[1] == pytest.approx(0.0, abs=1e-4)


def test_gaussian_i_mmse_exact_derivative():
    g = TARGETS["gaussian-full"]
    sigma = np.geomspace(0.05, 20, 9)
    gamma = sigma**-2.0
    h = 1e-6 * gamma
    d_i = (
        g.mutual_information((gamma + h) ** -0.5) - g.mutual_information((gamma - h) ** -0.5)
    ) / (2 * h)
    assert np.allclose(d_i, g.mmse(sigma) / 2, rtol=1e-6)


# --- entropies ---


def test_discrete_entropies():
    w = np.array([0.5, 0.25, 0.125, 0.125])
    t = Discrete(np.eye(4), w)
    assert t.entropy() == pytest.approx(-(w * np.log(w)).sum())
    assert t.entropy(0.5) == pytest.approx(2 * np.log(np.sqrt(w).sum()))
    assert t.entropy(0.5) >= t.entropy()
    assert Discrete.hypercube(5).entropy() == pytest.approx(5 * math.log(2))


def test_gaussian_entropies_match_numeric_integral():
    g = Gaussian([0.0], [[2.0]])
    x = torch.linspace(-30, 30, 200001, dtype=torch.float64)[:, None]
    dx = float(x[1, 0] - x[0, 0])
    # log p_0 via a vanishing σ: ½·log(2π·2) etc.; compare with exact formulas
    logp = -0.5 * (x[:, 0] ** 2 / 2.0 + math.log(2 * math.pi * 2.0))
    p = logp.exp()
    assert g.entropy() == pytest.approx(-float((p * logp).sum() * dx), rel=1e-8)
    assert g.entropy(0.5) == pytest.approx(2 * math.log(float(p.sqrt().sum() * dx)), rel=1e-8)
    assert Gaussian(np.zeros(2), np.diag([1.0, 0.0])).entropy() == -math.inf


def test_mixture_latent_entropy_and_no_differential_entropy():
    t = TARGETS["gmm-iso"]
    w = t.weights
    assert t.latent_entropy() == pytest.approx(-(w * np.log(w)).sum())
    assert t.latent_entropy(0.5) == pytest.approx(2 * np.log(np.sqrt(w).sum()))
    with pytest.raises(NotImplementedError, match="latent_entropy"):
        t.entropy()


# --- dtypes, devices, extreme σ ---


@pytest.mark.parametrize("sigma", [1e-4, 0.1, 10.0, 1e4])
def test_float32_agrees_with_float64(target, sigma):
    x64 = _noised(target, sigma, n=32)
    x32 = x64.float()
    d64, d32 = target.denoise(x64, sigma), target.denoise(x32, sigma)
    assert d32.dtype == torch.float32
    scale = d64.abs().max().item() + 1.0
    assert torch.allclose(d32.double(), d64, atol=2e-4 * scale)
    lp64, lp32 = target.log_prob(x64, sigma), target.log_prob(x32, sigma)
    assert torch.allclose(lp32.double(), lp64, rtol=1e-3, atol=1e-2)


def test_small_sigma_denoises_to_the_clean_point(target):
    sigma = 1e-4
    g = torch.Generator().manual_seed(5)
    x0 = target.sample(32, g, dtype=torch.float64)
    x = x0 + sigma * torch.randn(x0.shape, generator=g, dtype=torch.float64)
    den = target.denoise(x, sigma)
    assert torch.isfinite(den).all() and torch.isfinite(target.score(x, sigma)).all()
    assert torch.isfinite(target.log_prob(x, sigma)).all()
    # atoms: the exact atom; continuous laws: within O(σ) of x0
    tol = 1e-10 if isinstance(target, Discrete) else 10 * sigma * math.sqrt(target.dim)
    assert (den - x0).abs().max().item() <= tol
    if isinstance(target, Discrete):  # float32 too: no cancellation amplified by 1/σ²
        den32 = target.denoise(x.float(), sigma)
        assert (den32.double() - x0).abs().max().item() <= 1e-5
        s32 = target.score(x.float(), sigma).double()
        s64 = target.score(x, sigma)
        assert torch.allclose(s32, s64, rtol=1e-3, atol=1e-3 * s64.abs().max().item())


def test_large_sigma_denoises_to_the_mean(target):
    sigma = 1e4
    x = _noised(target, sigma, n=32)
    den = target.denoise(x, sigma)
    mean = torch.as_tensor(target.data_mean).reshape(1, *target.event_shape)
    # deviation of E[x0|x] from E[x0] is O(‖x‖·Var/σ²) = O(1/σ)
    assert (den - mean).abs().max().item() < 50 * math.sqrt(target.second_moment + 1) / sigma
    s = target.score(x, sigma)
    assert torch.allclose(s, -(x - mean) / sigma**2, rtol=1e-3, atol=1e-9)
    lp = target.log_prob(x, sigma)
    ref = -0.5 * (
        (x - mean).reshape(32, -1).square().sum(1) / sigma**2
        + target.dim * math.log(2 * math.pi * sigma**2)
    )
    assert torch.allclose(lp, ref, rtol=1e-6)


def test_chunked_evaluation_matches_unchunked(monkeypatch):
    t = Discrete.random_code(300, 5, seed=3)
    x = _noised(t, 0.3, n=50)
    full = t.denoise(x, 0.3), t.log_prob(x, 0.3), t.score(x, 0.3)
    monkeypatch.setattr(mixture_module, "CHUNK_ELEMENTS", 600)  # 2 rows per chunk
    chunked = t.denoise(x, 0.3), t.log_prob(x, 0.3), t.score(x, 0.3)
    for a, b in zip(full, chunked, strict=True):
        assert torch.allclose(a, b, atol=1e-12)


def test_large_dimension_and_many_atoms():
    big_d = Discrete.random_code(200, 10_000, seed=1)
    x = _noised(big_d, 0.05, n=8, dtype=torch.float32)
    assert big_d.denoise(x, 0.05).shape == (8, 10_000)
    many = Discrete.random_code(100_000, 2, seed=2)
    x = _noised(many, 0.01, n=64, dtype=torch.float32)
    out = many.denoise(x, 0.01)
    assert torch.isfinite(out).all() and out.shape == (64, 2)
    gd = Gaussian(np.zeros(10_000), np.linspace(0.1, 2, 10_000))
    xg = gd.sample(4, torch.Generator().manual_seed(0))
    assert torch.isfinite(gd.log_prob(xg, 0.5)).all()


def test_empirical_digits_shape_and_entropy():
    d = Empirical.digits()
    assert d.event_shape == (1, 8, 8) and d.dim == 64
    assert d.num_points == 1797
    assert d.entropy() == pytest.approx(math.log(d.num_components), rel=1e-3)
    x = d.sample(5, torch.Generator().manual_seed(0))
    assert x.shape == (5, 1, 8, 8) and x.min() >= -1 and x.max() <= 1
    tr, te = Empirical.digits(split="train"), Empirical.digits(split="test")
    assert tr.num_points + te.num_points == 1797


def test_target_is_a_denoiser(target):
    x = _noised(target, 0.4, n=4)
    assert torch.equal(target(x, 0.4), target.denoise(x, 0.4))


def test_device_follows_input(target):
    x = _noised(target, 0.4, n=4).to("meta") if False else _noised(target, 0.4, n=4)
    assert target.denoise(x, 0.4).device == x.device


@pytest.mark.parametrize("sigma", [1e-4, 1e-2, 1.0, 1e4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_common_variance_mixture_denoiser_matches_the_per_component_formula(sigma, dtype):
    """The two-GEMM path for one shared variance, (1 − ρ) P M + ρ x, against the naive
    Σ_k P_k (μ_k + ρ(x − μ_k)) in float64."""
    from scorelab.targets import GaussianMixture

    rng = np.random.default_rng(0)
    K, d = 7, 5
    means = rng.normal(size=(K, d)) * 3
    target = GaussianMixture(rng.dirichlet(np.ones(K)), means, 0.3)
    x0 = target.sample(500, torch.Generator().manual_seed(0), dtype=torch.float64)
    x = x0 + sigma * torch.randn(
        x0.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    P = target.posterior(x, sigma)
    rho = 0.3 / (0.3 + sigma**2)
    M = torch.as_tensor(means)
    naive = (P[:, :, None] * (M[None] + rho * (x[:, None, :] - M[None]))).sum(1)
    got = target.denoise(x.to(dtype), sigma).double()
    tol = 1e-10 if dtype == torch.float64 else 2e-5 * (1 + float(naive.abs().max()))
    assert torch.allclose(got, naive, atol=tol, rtol=0), float((got - naive).abs().max())


@pytest.mark.parametrize("variance", [0.0, 0.05])
def test_tilted_fast_path_equals_the_general_estimator(variance):
    """The common-variance path (σ-independent work hoisted, posterior from the projections,
    row blocks) gives the general path's per-sample values on the same random numbers."""
    rng = np.random.default_rng(5)
    target = GaussianMixture(rng.dirichlet(np.ones(7)), rng.normal(size=(7, 3)), variance)
    gen = torch.Generator().manual_seed(3)
    n = 1500
    k = target.sample_components(n, gen)
    z = torch.randn((n, 3), generator=gen, dtype=torch.float64)
    u = torch.rand((n, 2), generator=gen, dtype=torch.float64)
    blocks = [(target._tilt_batch(k[r], z[r]), u[r]) for r in torch.arange(n).split(512)]
    for sigma in (30.0, 1.0, 0.2, 0.03):
        general = target._confusion_tilted(k, z, u, sigma)
        fast = torch.cat([target._confusion_tilted_common(b, ub, sigma) for b, ub in blocks])
        # equal up to rounding of the gap itself (≈ 1e-22 where the gap is ≈ 1e-11)
        torch.testing.assert_close(fast, general, rtol=1e-9, atol=1e-18)
        assert general.abs().max() > 0
