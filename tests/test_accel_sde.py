"""scorelab's accelerated stochastic sampler (accel_sde) and UniPC: exact-law orders, the clip,
statistics, options."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scorelab.exact import gaussian_output_law
from scorelab.metrics import gaussian_fit_kl, gaussian_kl
from scorelab.samplers import SAMPLERS, sample_accel_sde, sample_unipc
from scorelab.schedules import log_snr_uniform
from scorelab.targets import Gaussian

TARGET = Gaussian(np.zeros(3), np.array([0.05, 0.5, 2.0]))


def _kl_slope(sampler, steps, **options) -> tuple[float, list[float]]:
    kls = []
    for k in steps:
        sigmas = log_snr_uniform(k, 0.05, 20.0)
        C = gaussian_output_law(sampler, TARGET, sigmas, **options).numpy()
        kls.append(gaussian_kl(np.zeros(3), C, np.zeros(3), TARGET.covariance + 0.0025 * np.eye(3)))
    return float(np.polyfit(np.log(steps), np.log(kls), 1)[0]), kls


def test_accel_sde_is_second_order_on_the_exact_law():
    """KL = O(K^−4) (TV order 2). The coefficient-tracking harness treats rows as basis
    coefficients, not samples, so the per-sample clip is switched off here (on real samples at
    these K it does not fire: see test_clip_is_silent_on_fine_grids)."""
    slope, kls = _kl_slope(sample_accel_sde, [256, 512, 1024], clip=None)
    assert -4.3 <= slope <= -3.7, slope
    ddpm_slope, ddpm_kls = _kl_slope(SAMPLERS["ddpm"].fn, [256, 512, 1024])
    assert -2.3 <= ddpm_slope <= -1.7
    assert kls[0] < ddpm_kls[0] / 100


def test_accel_sde_constant_beats_dpmpp_2m_sde():
    """Same query count (one per level), exact law at K = 64: KL 2.7e-6 against 4.8e-6."""
    _, ours = _kl_slope(sample_accel_sde, [64, 128], clip=None)
    _, peer = _kl_slope(SAMPLERS["dpmpp_2m_sde"].fn, [64, 128])
    assert ours[0] < 0.7 * peer[0], (ours, peer)


@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_accel_sde_order_holds_across_eta(eta):
    slope, _ = _kl_slope(sample_accel_sde, [256, 512, 1024], clip=None, eta=eta)
    assert -4.3 <= slope <= -3.7, slope


def test_accel_sde_exact_weights_are_at_least_second_order():
    """weights="exact" (J₁ in place of ½(1 − e^{−H})): measured slope −5.3 over K = 256…1024,
    pre-asymptotic; at least order 2 is asserted."""
    slope, _ = _kl_slope(sample_accel_sde, [256, 512, 1024], clip=None, weights="exact")
    assert slope <= -3.7, slope


def test_unipc_order_is_predictor_order_plus_one():
    """UniPC-p has order p + 1 (Zhao et al. 2023, Thm 3.3): KL slopes −4 (p = 1), −6 (p = 2)."""
    s1, _ = _kl_slope(sample_unipc, [64, 128, 256], order=1)
    s2, _ = _kl_slope(sample_unipc, [64, 128, 256], order=2)
    assert -4.3 <= s1 <= -3.7, s1
    assert -6.3 <= s2 <= -5.7, s2


def _clip_fraction(target, sigmas, **options) -> float:
    gen = torch.Generator().manual_seed(0)
    _, x = target.sample_noised(4000, float(sigmas[0]), gen, dtype=torch.float64)
    stats: dict = {}
    sample_accel_sde(target, x, sigmas, generator=gen, stats=stats, **options)
    return stats["clip_fraction"]


def test_clip_is_silent_on_fine_grids_and_reports_on_coarse_ones():
    fine = log_snr_uniform(256, 0.002, 80.0).double()
    coarse = log_snr_uniform(8, 0.002, 80.0).double()
    assert _clip_fraction(TARGET, fine) < 1e-3
    assert _clip_fraction(TARGET, coarse) > 1e-2  # the statistic is live


class _Wiggle:
    """Exact Gaussian denoiser plus a·sin(k x): L² error a·sqrt(d/2) (small), Jacobian error a·k
    (large) — a model wrong in every small region."""

    def __init__(self, target, a: float, k: float) -> None:
        self.target, self.a, self.k = target, a, k

    def __call__(self, x, sigma):
        return self.target.denoise(x, sigma) + self.a * torch.sin(self.k * x)


@pytest.mark.slow
def test_clip_bounds_the_error_where_the_unclipped_sampler_blows_up():
    """A grid with a tiny step before every large one (as optimised schedules produce) makes the
    extrapolation (h/h_prev)(D_s − D_prev) amplify the model's local error: unclipped, the output
    diverges (and DPM-Solver++(2M) SDE, which extrapolates the same way, is far off); clipped,
    the clip fires and the output law stays close to the target."""
    d = 8
    target = Gaussian(np.zeros(d), np.full(d, 0.5))
    base = log_snr_uniform(16, 0.01, 20.0).double()
    sigmas = torch.stack([base, base * (1 - 1e-2)], 1).reshape(-1)
    model = _Wiggle(target, 0.05, 1e4)
    outs = {}
    for name, options in [("clipped", {"clip": 1.0}), ("unclipped", {"clip": None})]:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(20000, d, generator=gen, dtype=torch.float64) * sigmas[0]
        stats: dict = {}
        outs[name] = sample_accel_sde(model, x, sigmas, generator=gen, stats=stats, **options)
        outs[name + " fired"] = stats["clip_fraction"]
    kl_clipped, _ = gaussian_fit_kl(outs["clipped"], target)
    assert outs["clipped fired"] > 0.05
    assert kl_clipped < 0.05
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(20000, d, generator=gen, dtype=torch.float64) * sigmas[0]
    peer = SAMPLERS["dpmpp_2m_sde"](model, x, sigmas, generator=gen)
    assert gaussian_fit_kl(peer, target)[0] > 20 * kl_clipped
    spread = outs["unclipped"].abs().max()
    assert not torch.isfinite(spread) or spread > 1e6
    assert outs["unclipped fired"] == 0.0


def test_callback_reports_clipped_counts_and_stats_add_up():
    seen = []
    sigmas = log_snr_uniform(8, 0.002, 80.0).double()
    gen = torch.Generator().manual_seed(0)
    _, x = TARGET.sample_noised(500, float(sigmas[0]), gen, dtype=torch.float64)
    stats: dict = {}
    sample_accel_sde(TARGET, x, sigmas, generator=gen, callback=seen.append, stats=stats)
    assert [d["i"] for d in seen] == list(range(8))
    assert sum(d["clipped"] for d in seen) == stats["clipped"]
    assert math.isclose(stats["clip_fraction"], stats["clipped"] / stats["checked"])


def test_burn_in_steps_are_first_order_moves():
    """With burn_in = K every step is the DDPM posterior step: identical to sample_ddpm."""
    sigmas = log_snr_uniform(6, 0.01, 10.0).double()
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 10
    a = sample_accel_sde(TARGET, x, sigmas, burn_in=6, generator=torch.Generator().manual_seed(2))
    b = SAMPLERS["ddpm"](TARGET, x, sigmas, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)


def test_bad_options_rejected():
    x = torch.randn(4, 3, dtype=torch.float64)
    s = torch.tensor([2.0, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="eta must be >= 0"):
        sample_accel_sde(TARGET, x, s, eta=-0.1)
    with pytest.raises(ValueError, match="clip must be > 0"):
        sample_accel_sde(TARGET, x, s, clip=0.0)
    with pytest.raises(ValueError, match="burn_in"):
        sample_accel_sde(TARGET, x, s, burn_in=-1)
    with pytest.raises(ValueError, match="weights must be"):
        sample_accel_sde(TARGET, x, s, weights="trapezoid")
    with pytest.raises(ValueError, match="order must be"):
        sample_unipc(TARGET, x, s, order=4)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_unipc_matches_diffusers_scheduler_on_its_grid(order):
    """Our σ-space UniPC against diffusers' UniPCMultistepScheduler (bh2, x0-prediction,
    lower_order_final) driving the same exact denoiser on the scheduler's own σ grid."""
    import diffusers  # a dev dependency: installed wherever the tests run

    target = Gaussian(np.zeros(4), np.array([0.1, 0.5, 1.0, 2.0]))
    sched = diffusers.UniPCMultistepScheduler(
        num_train_timesteps=1000,
        beta_schedule="linear",
        prediction_type="sample",
        solver_order=order,
        final_sigmas_type="zero",
    )
    sched.set_timesteps(12)
    sigmas = sched.sigmas.double()
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = x * sigmas[0]
    u = x / (1 + sigmas[0] ** 2).sqrt()  # diffusers' VP state
    for i, t in enumerate(sched.timesteps):
        x_sigma = u * (1 + sigmas[i] ** 2).sqrt()
        model_output = target.denoise(x_sigma, torch.full((64,), float(sigmas[i])).double())
        u = sched.step(model_output, t, u).prev_sample
    ours = sample_unipc(target, x, sigmas, order=order, lower_order_final=True)
    assert torch.allclose(ours, u.double(), atol=2e-6)
