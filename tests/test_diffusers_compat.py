"""diffusers schedulers driven by a scorelab denoiser presented as a DDPM ε-model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scorelab.compat.diffusers import diffusers_nfe, sample_with_diffusers
from scorelab.metrics import gaussian_fit_kl
from scorelab.oracles import CountingOracle
from scorelab.targets import Gaussian

pytest.importorskip("diffusers", reason="diffusers not installed (pip install diffusers)")

TARGET = Gaussian(np.zeros(4), np.array([0.2, 0.5, 1.0, 2.0]))


@pytest.mark.parametrize(
    ("name", "schedule"),
    [
        ("DPMSolverMultistep", "karras"),
        ("UniPCMultistep", "default"),
        ("UniPCMultistepBH1", "karras"),
        ("UniPCMultistep3", "default"),
        ("DEISMultistep", "default"),
        ("DEISMultistep", "exponential"),
        ("Euler", "exponential"),
        ("Heun", "default"),
        ("EulerAncestral", "default"),
        ("DPMSolverMultistepSDE", "karras"),
    ],
)
def test_adapter_samples_the_exact_law_with_enough_steps(name, schedule):
    oracle = CountingOracle(TARGET)
    out = sample_with_diffusers(
        name,
        schedule,
        oracle,
        (4000, 4),
        50,
        generator=torch.Generator().manual_seed(0),
        dtype=torch.float64,
    )
    assert oracle.batch_calls == diffusers_nfe(name, 50)
    kl, floor = gaussian_fit_kl(out, TARGET)
    assert kl < 10 * floor + 0.03


def test_bad_names():
    with pytest.raises(ValueError, match="unknown diffusers scheduler"):
        sample_with_diffusers("PNDM", "default", TARGET, (2, 4), 5)
    with pytest.raises(ValueError, match="no 'karras'"):
        sample_with_diffusers("DDIM", "karras", TARGET, (2, 4), 5)


def test_given_latents_are_the_start_and_must_match_the_shape():
    """``latents`` replace the generator's draws (so a run is a function of them: the exact-law
    tracking feeds the identity); a wrong shape is refused."""
    target = Gaussian(np.zeros(3), np.array([0.5, 1.0, 2.0]))
    z = torch.randn(8, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a = sample_with_diffusers("Euler", "default", target, (8, 3), 6, dtype=torch.float64, latents=z)
    b = sample_with_diffusers(
        "Euler", "default", target, (8, 3), 6, dtype=torch.float64, latents=z.clone()
    )
    assert torch.equal(a, b)
    rows = sample_with_diffusers(
        "Euler", "default", target, (3, 3), 6, dtype=torch.float64, latents=torch.eye(3)
    )
    assert torch.allclose(a, z @ rows, atol=1e-10)  # linear in the latents
    with pytest.raises(ValueError, match=r"latents have shape \(8, 3\), expected \(4, 3\)"):
        sample_with_diffusers("Euler", "default", target, (4, 3), 6, latents=z)


@pytest.mark.parametrize("order", [2, 3])
@pytest.mark.parametrize("steps", [5, 10])
def test_deis_equals_diffusers_deis_on_its_own_grid(order, steps):
    """scorelab's ``deis`` against ``DEISMultistepScheduler(solver_order=order)`` (log-ρ
    multistep, lower-order final steps) on diffusers' own grid, from the same start: equal to
    1e-5. (diffusers keeps its σ in float32, so the two drift apart by ~1e-5 relative per
    third-order step; at 30 steps the gap is 6e-5.)"""
    import diffusers

    from scorelab import processes
    from scorelab.samplers import SAMPLERS

    z = torch.randn(16, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    table = processes.ddpm_sigmas(processes.ddpm_betas("linear", 1000))
    sched = diffusers.DEISMultistepScheduler(solver_order=order)
    sched.set_timesteps(steps)
    grid = np.asarray(sched.sigmas, dtype=np.float64)
    x = z.clone()  # VP coordinates: x_vp = x_σ / sqrt(1 + σ²)
    for t in sched.timesteps:
        sigma = float(np.exp(np.interp(float(t), np.arange(1000), np.log(table))))
        xs = x * np.sqrt(1 + sigma**2)
        x = sched.step((xs - TARGET.denoise(xs, sigma)) / sigma, t, x).prev_sample
    theirs = x * np.sqrt(1 + grid[-1] ** 2)
    ours = SAMPLERS["deis"](
        TARGET, z * np.sqrt(1 + grid[0] ** 2), torch.as_tensor(grid), order=order
    )
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("steps", [3, 6, 12])
def test_ipndm_equals_diffusers_ipndm_given_our_grid(steps):
    """scorelab's ``ipndm`` against diffusers' ``IPNDMScheduler``. diffusers runs the same
    equal-step Adams–Bashforth (orders 1→4) on ε̂ = dx/dσ with DDIM-form updates, in the
    coordinates x_t = α x0 + s ε, α² + s² = 1, with σ = s/α. Its own grid starts at s = 1
    (σ = ∞), which no σ-space sampler can start from, so it is given ours through
    ``trained_betas`` (its ``betas`` are s): a σ grid ending at σ_min > 0. Fed the velocity
    v = α ε̂ − s x̂0 of our denoiser, it must land where we do, to 1e-5. (On a grid ending in
    0 the two differ by design in the last step only: ours returns the denoised x̂0, diffusers
    takes one more Adams–Bashforth step to σ = 0.)"""
    import diffusers

    from scorelab.samplers import SAMPLERS
    from scorelab.schedules import karras

    z = torch.randn(16, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    grid = karras(steps, 0.05, 20.0, final_zero=False).double()
    s = grid / torch.sqrt(1 + grid**2)
    sched = diffusers.IPNDMScheduler(trained_betas=s.tolist())
    sched.set_timesteps(steps)
    sched.betas, sched.alphas = s, torch.sqrt(1 - s**2)  # keep float64 (it casts to float32)
    x = z * s[0]  # x_t = s·ε at the start, i.e. x_σ = σ_0·ε
    for i, t in enumerate(sched.timesteps):
        alpha, sig = float(sched.alphas[i]), float(grid[i])
        xs = x / alpha
        x0 = TARGET.denoise(xs, sig)
        eps = (xs - x0) / sig
        x = sched.step(alpha * eps - float(s[i]) * x0, t, x).prev_sample
    theirs = x / float(sched.alphas[-1])
    ours = SAMPLERS["ipndm"](TARGET, z * grid[0], grid)
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["EulerAncestral", "DPMSolverMultistepSDE"])
def test_stochastic_peers_draw_their_noise_from_the_generator(name):
    """Same seed, same output; another seed, another output from the same latents."""

    def run(seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        latents = torch.randn(64, 4, generator=torch.Generator().manual_seed(9))
        return sample_with_diffusers(
            name, "default", TARGET, (64, 4), 8, generator=gen, latents=latents
        )

    assert torch.equal(run(1), run(1))
    assert not torch.allclose(run(1), run(2))
