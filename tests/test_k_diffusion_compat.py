"""k-diffusion's samplers on scorelab targets, and scorelab's samplers on k-diffusion-style models.

k-diffusion is installed by CI with ``--no-deps``; its package import needs torchvision, so
:func:`scorelab.compat.k_diffusion.load_sampling` loads only ``sampling.py``. If that fails the
module is skipped with the reason shown by ``pytest -ra``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scorelab import processes
from scorelab.compat.k_diffusion import KDiffusionUnavailable, k_diffusion_sampler, load_sampling
from scorelab.methods import K_DIFFUSION_COUNTERPARTS
from scorelab.oracles import CountingOracle
from scorelab.samplers import SAMPLERS
from scorelab.schedules import karras
from scorelab.targets import Discrete, Gaussian

try:
    K = load_sampling()
except KDiffusionUnavailable as err:  # pragma: no cover - depends on the environment
    pytest.skip(f"k-diffusion unavailable: {err}", allow_module_level=True)

TARGET = Discrete.random_code(32, 6, scale=2.0, seed=0)
#: the deterministic counterparts of the method registry (same update, no noise)
PAIRS = [
    (ours, theirs, opts)
    for ours, (theirs, opts, their_opts) in K_DIFFUSION_COUNTERPARTS.items()
    if not their_opts and ours != "dpmpp_2m_sde"
]


@pytest.mark.parametrize(("ours", "theirs", "opts"), PAIRS)
def test_k_diffusion_sampler_on_scorelab_target_matches_ours(ours, theirs, opts):
    sigmas = torch.as_tensor(K.get_sigmas_karras(15, 0.01, 40.0, device="cpu"), dtype=torch.float64)
    x = torch.randn(256, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = x * sigmas[0]
    oracle = CountingOracle(TARGET)
    out_theirs = getattr(K, theirs)(oracle, x.clone(), sigmas, disable=True, **opts)
    out_ours = SAMPLERS[ours](TARGET, x.clone(), sigmas, **opts)
    assert torch.allclose(out_ours, out_theirs, rtol=1e-10, atol=1e-10)
    assert oracle.batch_calls == SAMPLERS[ours].nfe(sigmas)


def test_k_diffusion_schedules_match_ours():
    from scorelab.schedules import get_schedule

    for name, fn in (("karras", K.get_sigmas_karras), ("log-snr", K.get_sigmas_exponential)):
        theirs = fn(10, 0.02, 50.0, device="cpu").double()
        ours = get_schedule(name, 9, 0.02, 50.0, final_zero=True)
        assert torch.allclose(ours, theirs, rtol=1e-5)
    assert torch.allclose(
        get_schedule("polyexponential", 9, 0.02, 50.0, rho=2.0, final_zero=True),
        K.get_sigmas_polyexponential(10, 0.02, 50.0, rho=2.0).double(),
        rtol=1e-5,
    )


def test_stochastic_k_diffusion_sampler_runs_on_scorelab_target():
    sigmas = K.get_sigmas_karras(30, 0.01, 40.0).double()
    torch.manual_seed(0)
    x = torch.randn(400, 6, dtype=torch.float64) * sigmas[0]
    out = K.sample_dpmpp_2m_sde(TARGET, x, sigmas, disable=True)
    idx = TARGET.nearest_atom(out)
    dist = (out - torch.as_tensor(TARGET.atoms)[idx]).norm(dim=1)
    assert dist.median() < 0.05  # samples land on the atoms


def test_k_diffusion_sampler_wrapper_is_seeded_by_the_generator():
    """The wrapper takes scorelab's calling convention and seeds k-diffusion's global-RNG noise
    from ``generator``: the same seed reproduces, another seed differs."""
    sampler = k_diffusion_sampler("euler_ancestral")
    sigmas = K.get_sigmas_karras(10, 0.01, 40.0).double()
    x = torch.randn(50, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 40

    def run(seed: int) -> torch.Tensor:
        return sampler(TARGET, x, sigmas, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))
    assert torch.equal(
        k_diffusion_sampler("sample_euler")(TARGET, x, sigmas),
        K.sample_euler(TARGET, x, sigmas, disable=True),
    )
    with pytest.raises(ValueError, match="no sampler 'sample_warp_drive'"):
        k_diffusion_sampler("warp_drive")


class DiscreteEpsVPModel:
    """A k-diffusion-style wrapper of a discrete-time ε-prediction DDPM model (the semantics of
    k-diffusion's ``DiscreteEpsDDPMDenoiser``): called as ``model(x, sigma)`` in σ-space, it feeds
    c_in·x = x/sqrt(1+σ²) and the fractional timestep of σ to an ε-network and returns
    x − σ ε̂. The ε-network here is exact for a Gaussian target, so the wrapped model is exact."""

    def __init__(self, target: Gaussian, betas: np.ndarray) -> None:
        self.target = target
        self.sigmas = processes.ddpm_sigmas(betas)
        self.calls = 0

    def eps_network(self, x_vp: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        sigma = torch.as_tensor(processes.timestep_to_sigma(t, self.sigmas), dtype=x_vp.dtype)
        x = x_vp * torch.sqrt(1 + sigma**2)[:, None]
        return (x - self.target.denoise(x, sigma)) / sigma[:, None]

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, **extra) -> torch.Tensor:
        self.calls += 1
        c_in = 1 / torch.sqrt(1 + sigma**2)
        t = processes.sigma_to_timestep(sigma, self.sigmas)
        return x - sigma[:, None] * self.eps_network(x * c_in[:, None], t)


def test_scorelab_sampler_on_k_diffusion_style_model():
    target = Gaussian(np.zeros(4), np.array([0.2, 0.5, 1.0, 2.0]))
    model = DiscreteEpsVPModel(target, processes.ddpm_betas("linear", 1000))
    sigmas = karras(40, 0.02, 80.0, final_zero=True)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8000, 4, dtype=torch.float64, generator=gen) * sigmas[0]
    ours = SAMPLERS["heun"](model, x.clone(), sigmas)
    theirs = K.sample_heun(model, x.clone(), sigmas, disable=True)
    assert torch.allclose(ours, theirs, rtol=1e-10, atol=1e-10)
    cov = torch.cov(ours.T).numpy()
    assert np.allclose(cov, target.covariance, atol=0.05)


def test_bench_runs_k_diffusion_sde_peers_with_independent_increments(monkeypatch):
    """The bench's k-diffusion SDE peers draw independent Gaussian increments instead of the
    Brownian tree (which costs ~40 s per large cell): the tree is never built, and the output law
    is the tree's — on a Gaussian target the output variance of both runs agrees to within its
    Monte-Carlo error (20 000 samples; the same steps without their noise are far off)."""
    from scorelab.methods import KD_TREE_SAMPLERS, get_method

    target = Gaussian(np.zeros(4), np.array([0.25, 1.0, 4.0, 9.0]))
    n, nfe = 20_000, 8
    for name in sorted(KD_TREE_SAMPLERS):
        method = get_method(f"k-diffusion:{name}")
        plan = method.plan(nfe, "karras", 0.02, 40.0)
        with_tree = k_diffusion_sampler(name)
        x = torch.randn(n, 4, generator=torch.Generator().manual_seed(3)) * plan.sigmas[0]
        tree_out = with_tree(target, x, plan.sigmas, generator=torch.Generator().manual_seed(4))
        with monkeypatch.context() as patch:
            patch.setattr(K, "BrownianTreeNoiseSampler", None)  # calling it would raise
            fast_out = method.sample(target, (n, 4), plan, 5)
        tree_var, fast_var = tree_out.var(dim=0), fast_out.var(dim=0)
        se = tree_var * (2.0 * 2 / n) ** 0.5  # s.e. of the difference of two variance estimates
        assert ((fast_var - tree_var).abs() < 4 * se).all(), (name, tree_var, fast_var)
        # the check can fail: the same steps with the noise left out are far off
        zeros = torch.zeros_like(x)
        silent = with_tree(target, x, plan.sigmas, noise_sampler=lambda s, t, z=zeros: z)
        assert ((silent.var(dim=0) - tree_var).abs() > 10 * se).all(), name


def test_ipndm_v_is_k_diffusions_lms_before_the_final_step():
    """Variable-step Adams–Bashforth in σ is k-diffusion's LMS (order 4: its coefficients
    integrate the same Lagrange polynomials, by quadrature). They differ only in a last step to
    σ = 0, where ``ipndm_v`` returns D, so the grid here ends at σ > 0."""
    sigmas = torch.as_tensor(K.get_sigmas_karras(12, 0.01, 40.0, device="cpu"), dtype=torch.float64)
    sigmas = sigmas[:-1]
    x = torch.randn(256, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x = x * sigmas[0]
    theirs = K.sample_lms(TARGET, x.clone(), sigmas, disable=True, order=4)
    ours = SAMPLERS["ipndm_v"](TARGET, x.clone(), sigmas)
    assert torch.allclose(ours, theirs, rtol=1e-7, atol=1e-7)
