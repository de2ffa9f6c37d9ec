"""Every sampler: declared cost, exactness, convergence order, reproducibility, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scorelab.exact import LINEAR_OPTIONS, gaussian_output_law
from scorelab.metrics import gaussian_fit_kl, gaussian_kl
from scorelab.oracles import CountingOracle
from scorelab.samplers import SAMPLERS, get_sampler, sample_dpmpp_3m, sample_heun
from scorelab.schedules import karras, log_snr_uniform
from scorelab.targets import Discrete, Gaussian

NAMES = sorted(SAMPLERS)
TARGET = Gaussian(np.zeros(3), np.array([0.05, 0.5, 2.0]))
#: options for the coefficient-tracking harness, whose rows are basis coefficients, not samples:
#: per-sample nonlinear steps (accel_sde's clip) must be off there (tests/test_accel_sde.py)


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    steps=st.integers(1, 9),
    final_zero=st.booleans(),
    rho=st.floats(1.0, 9.0),
)
def test_declared_nfe_and_distinct_levels(name, steps, final_zero, rho):
    spec = SAMPLERS[name]
    sigmas = karras(steps, 0.01, 50.0, rho=rho, final_zero=final_zero)
    oracle = CountingOracle(TARGET)
    x = torch.randn(5, 3, dtype=torch.float64) * sigmas[0]
    spec(oracle, x, sigmas, generator=torch.Generator().manual_seed(0))
    assert oracle.batch_calls == spec.nfe(sigmas)
    assert oracle.nfe_per_sample == spec.nfe(sigmas)  # every call evaluates the full batch
    assert oracle.num_distinct_sigmas == spec.distinct_levels(sigmas)
    assert max(oracle.distinct_sigmas) == float(sigmas[0])


def test_churn_keeps_the_declared_nfe():
    sigmas = karras(10, 0.01, 50.0, final_zero=True)
    oracle = CountingOracle(TARGET)
    x = torch.randn(5, 3, dtype=torch.float64) * sigmas[0]
    sample_heun(
        oracle,
        x,
        sigmas,
        s_churn=20.0,
        s_tmin=0.05,
        s_tmax=10.0,
        generator=torch.Generator().manual_seed(0),
    )
    assert oracle.batch_calls == SAMPLERS["heun"].nfe(sigmas)
    # churned levels σ̂ = σ(1+γ) are new levels: more distinct σ than plain Heun, at most 2K
    assert SAMPLERS["heun"].distinct_levels(sigmas) < oracle.num_distinct_sigmas <= 2 * 10


@pytest.mark.parametrize("name", NAMES)
def test_exact_law_with_many_steps(name):
    """Exact output covariance (no Monte-Carlo error) on a centred Gaussian: KL < 1e-3 at K=512."""
    sigmas = log_snr_uniform(512, 0.01, 50.0)
    gen = torch.Generator().manual_seed(0)  # random-time samplers: the law given these times
    options = LINEAR_OPTIONS.get(name, {})
    C = gaussian_output_law(SAMPLERS[name], TARGET, sigmas, generator=gen, **options).numpy()
    target_cov = TARGET.covariance + 0.01**2 * np.eye(3)
    assert gaussian_kl(np.zeros(3), C, np.zeros(3), target_cov) < 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_real_noise_many_steps_reproduce_the_gaussian(name):
    target = Gaussian(np.ones(3), np.array([0.5, 1.0, 2.0]))  # non-centred, real random noise
    gen = torch.Generator().manual_seed(0)
    sigmas = karras(200, 0.002, 80.0, final_zero=True)
    x = torch.randn(10000, 3, generator=gen, dtype=torch.float64) * sigmas[0]
    out = SAMPLERS[name](target, x, sigmas, generator=gen)
    kl, floor = gaussian_fit_kl(out, target)
    assert kl < 3 * floor + 3e-3


#: samplers whose ODE step itself is random (not only the injected noise): the exact covariance
#: is conditional on the random midpoints, so the KL is averaged over this many seeded draws
RANDOM_STEP_REPEATS = {"randomized_midpoint": 16}


def _fitted_order(name: str, steps: list[int]) -> float:
    kls = []
    target_cov = TARGET.covariance + 0.05**2 * np.eye(3)
    for k in steps:
        sigmas = log_snr_uniform(k, 0.05, 20.0)
        draws = []
        for seed in range(RANDOM_STEP_REPEATS.get(name, 1)):
            C = gaussian_output_law(
                SAMPLERS[name],
                TARGET,
                sigmas,
                generator=torch.Generator().manual_seed(seed),
                **LINEAR_OPTIONS.get(name, {}),
            ).numpy()
            draws.append(gaussian_kl(np.zeros(3), C, np.zeros(3), target_cov))
        kls.append(np.mean(draws))
    slope = np.polyfit(np.log(steps), np.log(kls), 1)[0]
    return -slope / 2  # KL is quadratic in the law's error


@pytest.mark.parametrize("name", NAMES)
def test_convergence_order_matches_theory(name):
    """KL(output ‖ exact) = O(K^{−2p}) with p the ODE order (Euler/DDIM 1, Heun/DPM-Solver-2/2M/
    Li-ODE 2, 3M 3) or the weak order of SDE samplers (1; DPM-Solver++(2M) SDE 2); 1.5 for the
    randomized midpoint (O(h^{3/2}) zero-mean fluctuation per chain, averaged KL)."""
    order = _fitted_order(name, [64, 128, 256])
    assert abs(order - SAMPLERS[name].order) <= 0.3, f"{name}: measured order {order:.2f}"


def test_3m_without_warm_start_is_only_second_order():
    """Documented finding: a first-order first step caps the multistep method at order 2."""
    kls, steps = [], (256, 512, 1024)
    for k in steps:
        sigmas = log_snr_uniform(k, 0.05, 20.0)
        C = gaussian_output_law(sample_dpmpp_3m, TARGET, sigmas, warm_start=False).numpy()
        kls.append(
            gaussian_kl(np.zeros(3), C, np.zeros(3), TARGET.covariance + 0.05**2 * np.eye(3))
        )
    order = -np.polyfit(np.log(steps), np.log(kls), 1)[0] / 2
    assert abs(order - 2.0) <= 0.3


@pytest.mark.parametrize("name", [n for n in NAMES if SAMPLERS[n].stochastic])
def test_seeded_runs_are_bit_for_bit_reproducible(name):
    t = Discrete.random_code(16, 4, seed=0)
    sigmas = karras(12, 0.01, 40.0, final_zero=True, dtype=torch.float32)
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(1)) * sigmas[0]
    a = SAMPLERS[name](t, x, sigmas, generator=torch.Generator().manual_seed(7))
    b = SAMPLERS[name](t, x, sigmas, generator=torch.Generator().manual_seed(7))
    c = SAMPLERS[name](t, x, sigmas, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("name", NAMES)
def test_bad_sigmas_and_inputs_rejected(name):
    sampler = get_sampler(name)
    x = torch.randn(4, 3, dtype=torch.float64)
    cases = [
        (torch.tensor([1.0, 2.0], dtype=torch.float64), "strictly decreasing"),
        (torch.tensor([1.0, float("nan")], dtype=torch.float64), "finite"),
        (torch.tensor([1.0], dtype=torch.float64), "at least 2"),
        (torch.tensor([1.0, -0.5], dtype=torch.float64), "> 0"),
        (torch.tensor([3, 2, 1]), "floating dtype"),
        (torch.tensor([[2.0, 1.0]], dtype=torch.float64), "1-D"),
        (torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64), "strictly decreasing"),
    ]
    for sigmas, msg in cases:
        with pytest.raises((ValueError, TypeError), match=msg):
            sampler(TARGET, x, sigmas)
    good = torch.tensor([2.0, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="x must be finite"):
        sampler(TARGET, torch.full((2, 3), float("nan"), dtype=torch.float64), good)
    with pytest.raises(TypeError, match="generator"):
        sampler(TARGET, x, good, generator=1234)
    with pytest.raises(ValueError, match="device"):
        sampler(TARGET, x, good.to("meta"))


@pytest.mark.parametrize("name", NAMES)
def test_grid_follows_x_dtype(name):
    """k-diffusion convention: a float64 schedule drives a float32 state (and vice versa); the
    result equals running with the grid cast by hand."""
    sigmas = karras(6, 0.01, 10.0, final_zero=True)  # float64
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(0)) * 10  # float32
    a = SAMPLERS[name](TARGET, x, sigmas, generator=torch.Generator().manual_seed(1))
    b = SAMPLERS[name](TARGET, x, sigmas.float(), generator=torch.Generator().manual_seed(1))
    assert a.dtype == torch.float32 and torch.equal(a, b)
    # a float64 grid whose levels collapse in float32 is rejected after the cast
    close = torch.tensor([1.0, 1.0 - 1e-12, 0.5], dtype=torch.float64)
    with pytest.raises(ValueError, match="strictly decreasing"):
        SAMPLERS[name](TARGET, x, close)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_state_is_rejected_with_a_clear_error(name, dtype):
    x = torch.randn(4, 3).to(dtype)
    with pytest.raises(TypeError, match=r"float32 or float64.*x\.float\(\)"):
        SAMPLERS[name](TARGET, x, karras(4, 0.01, 10.0, final_zero=True))


@pytest.mark.parametrize("name", NAMES)
def test_non_finite_model_output_stops_the_sampler_naming_query_and_sigma(name):
    calls = []

    def broken(x, sigma):
        calls.append(float(sigma[0]))
        out = TARGET.denoise(x, sigma)
        return out * float("nan") if len(calls) == 3 else out

    sigmas = log_snr_uniform(6, 0.01, 10.0).double()
    x = torch.randn(4, 3, dtype=torch.float64) * 10
    with pytest.raises(ValueError, match=r"non-finite values .* at query 3, sigma="):
        SAMPLERS[name](broken, x, sigmas, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"returned \(4,\) for input of shape \(4, 3\)"):
        SAMPLERS[name](lambda x, s: x[:, 0], x, sigmas, generator=torch.Generator())


def test_bad_options():
    x = torch.randn(4, 3, dtype=torch.float64)
    s = torch.tensor([2.0, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="eta must lie in"):
        SAMPLERS["ddim"](TARGET, x, s, eta=1.5)
    with pytest.raises(ValueError, match="eta must be >= 0"):
        SAMPLERS["dpmpp_2m_sde"](TARGET, x, s, eta=-1.0)
    with pytest.raises(ValueError, match="s_churn"):
        SAMPLERS["heun"](TARGET, x, s, s_churn=-1.0)
    with pytest.raises(ValueError, match="unknown sampler"):
        get_sampler("dpm++")


def test_callback_sees_every_step():
    seen = []
    sigmas = karras(6, 0.01, 10.0, final_zero=True)
    x = torch.randn(3, 3, dtype=torch.float64) * sigmas[0]
    SAMPLERS["dpmpp_2m"](TARGET, x, sigmas, callback=seen.append)
    assert [d["i"] for d in seen] == list(range(7))
    assert all(math.isfinite(float(d["sigma"])) for d in seen)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_extra_args_reach_the_model_and_callbacks_carry_k_diffusion_keys(name):
    """k-diffusion's convention both ways: ``extra_args`` are passed to every model call and
    each callback dict has its keys x, i, sigma, sigma_hat, denoised."""
    calls, seen = [], []

    def model(x, sigma, *, cond):
        calls.append(cond)
        return TARGET(x, sigma)

    sigmas = karras(4, 0.01, 10.0, final_zero=True)
    x = torch.randn(3, 3, dtype=torch.float64) * sigmas[0]
    gen = torch.Generator().manual_seed(0)
    out = SAMPLERS[name](
        model, x, sigmas, generator=gen, callback=seen.append, extra_args={"cond": "c"}
    )
    ref = SAMPLERS[name](TARGET, x, sigmas, generator=torch.Generator().manual_seed(0))
    assert calls and set(calls) == {"c"} and torch.allclose(out, ref)
    assert seen and all({"x", "i", "sigma", "sigma_hat", "denoised"} <= set(d) for d in seen)
    with pytest.raises(TypeError, match="extra_args must be a dict"):
        SAMPLERS[name](TARGET, x, sigmas, extra_args=[1])


def test_heun_churn_reports_sigma_hat_above_sigma():
    seen = []
    sigmas = karras(6, 0.01, 10.0, final_zero=True)
    x = torch.randn(3, 3, dtype=torch.float64) * sigmas[0]
    gen = torch.Generator().manual_seed(0)
    sample_heun(TARGET, x, sigmas, s_churn=2.0, generator=gen, callback=seen.append)
    assert all(float(d["sigma_hat"]) > float(d["sigma"]) for d in seen)


def test_li_ode_is_finite_in_float32_on_fine_grids():
    """Regression: on a 1024-step grid consecutive ᾱ agree to < 1e-7 at large σ, and the direct
    form of the correction coefficient divided 0 by 0 in float32 (found by the acceleration
    experiment). The cancellation-free form must agree with a float64 run."""
    from scorelab.schedules import append_zero, log_snr_uniform
    from scorelab.targets import Gaussian

    target = Gaussian(torch.zeros(2, dtype=torch.float64), torch.tensor([0.3, 2.0]))
    sig = append_zero(log_snr_uniform(1024, 0.002, 80.0).double())
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 2, generator=gen, dtype=torch.float64) * 80
    out64 = SAMPLERS["li_ode"](target, x, sig)
    out32 = SAMPLERS["li_ode"](target, x.float(), sig.float())
    assert torch.isfinite(out32).all()
    assert torch.allclose(out32.double(), out64, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("budget", [1, 2, 5, 10, 17])
def test_max_schedule_steps_is_the_largest_grid_within_budget(name, budget):
    spec = SAMPLERS[name]

    def cost(k: int) -> int:
        return spec.nfe(torch.cat([log_snr_uniform(k, 0.01, 10.0), torch.zeros(1)]))

    try:
        k = spec.max_schedule_steps(budget)
    except ValueError:
        assert cost(1) > budget
        return
    assert cost(k) <= budget < cost(k + 1)


@pytest.mark.parametrize("name", NAMES)
def test_samplers_hold_only_the_denoiser_outputs_they_read(name):
    """No history beyond what a method reads: at every step at most 4 denoiser outputs are alive
    (the current one, at most two earlier ones for 3M, one in flight), whatever K."""
    import weakref

    alive: weakref.WeakSet = weakref.WeakSet()
    peak = 0

    def tracked(x, sigma):
        out = TARGET.denoise(x, sigma)
        alive.add(out)
        return out

    def watch(_info):
        nonlocal peak  # tensors are freed by reference counting: no gc pass is needed
        peak = max(peak, len(alive))

    sigmas = log_snr_uniform(40, 0.01, 10.0).double()
    x = torch.randn(4, 3, dtype=torch.float64) * 10
    SAMPLERS[name](tracked, x, sigmas, generator=torch.Generator().manual_seed(0), callback=watch)
    assert peak <= 4, f"{name}: {peak} denoiser outputs alive"


@pytest.mark.parametrize("name", ["ddpm", "dpmpp_2m_sde", "accel_sde", "euler_maruyama"])
def test_seeded_samples_do_not_depend_on_the_batch_split(name):
    """Per-sample noise streams: one batch of 8 equals batches of 3 and 5 run separately."""
    from scorelab.samplers import SampleStreams, noise_source

    target = Discrete.random_code(6, 3, seed=2)
    sigmas = karras(12, 0.01, 40.0)

    def run(first: int, n: int, seed: int = 7) -> torch.Tensor:
        streams = SampleStreams(seed, n, first=first)
        x = streams.randn(n, 3, dtype=torch.float64) * sigmas[0]
        with noise_source(streams):
            return SAMPLERS[name](target, x, sigmas)

    whole = run(0, 8)
    split = torch.cat([run(0, 3), run(3, 5)])
    torch.testing.assert_close(whole, split, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(whole, run(0, 8))  # reproducible
    assert (whole - run(0, 8, seed=8)).abs().min() > 0  # and every row depends on the seed


@pytest.mark.parametrize("order", [2, 3])
def test_multistep_step_function_drives_a_loop_of_ones_own(order):
    """dpm-solver's split: the step function (weights from step sizes + one update) is public,
    so a user loop built on it reproduces the library's multistep sampler bit for bit."""
    from scorelab.samplers.dpm_solver import (
        multistep_update,
        multistep_weights,
        sample_dpmpp_2m,
        sample_dpmpp_3m,
    )

    sigmas = karras(7, 0.01, 10.0, final_zero=True)
    x0 = torch.randn(5, 3, dtype=torch.float64) * sigmas[0]
    x, outputs, hs = x0.clone(), [], []
    for s, t in zip(sigmas[:-1].tolist(), sigmas[1:].tolist(), strict=True):
        denoised = TARGET(x, torch.full((5,), s, dtype=torch.float64))
        if t == 0:
            x = denoised
            break
        h = math.log(s / t)
        outputs.insert(0, denoised)
        x = multistep_update(x, outputs, multistep_weights(h, hs, order, 0.0), h, 0.0)
        hs.insert(0, h)
    library = sample_dpmpp_2m if order == 2 else sample_dpmpp_3m
    kwargs = {} if order == 2 else {"warm_start": False}
    assert torch.equal(x, library(TARGET, x0, sigmas, **kwargs))


def test_sampler_facts_live_on_the_spec_and_the_derived_tables_agree():
    """Everything known about a sampler is a keyword on its SamplerSpec; the tables other
    modules read (exact's linear options, the k-diffusion counterparts, the methods' exact
    Gaussian laws, the bench's exact-D cells) are derived from it."""
    from scorelab.bench.runner import _has_exact_d
    from scorelab.methods import K_DIFFUSION_COUNTERPARTS, get_method
    from scorelab.samplers import SamplerSpec

    spec = SAMPLERS["euler"]
    with pytest.raises(TypeError):
        SamplerSpec(spec.fn, spec.nfe, spec.distinct_levels, 1, False, "positional")
    for name, s in SAMPLERS.items():
        assert LINEAR_OPTIONS.get(name, {}) == (s.linear_with or {})
        assert K_DIFFUSION_COUNTERPARTS.get(name) == s.k_diffusion
        has_law = get_method(f"scorelab:{name}").gaussian_law is not None
        assert has_law == s.linear_by_default, name
        assert _has_exact_d(f"scorelab:{name}") == s.exact_d
    assert [n for n, s in SAMPLERS.items() if s.exact_d] == ["ddpm"]
    assert not SAMPLERS["accel_sde"].linear_by_default  # its limiter is a per-sample norm


def test_the_docs_sampler_table_is_the_registry():
    """docs/guide/samplers.md lists every sampler with the order, kind, NFE rule and source that
    ``SAMPLERS`` declares (what ``scorelab list samplers`` prints)."""
    from pathlib import Path

    from scorelab.cli import _nfe_rule

    page = Path(__file__).resolve().parents[1] / "docs" / "guide" / "samplers.md"
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in page.read_text().splitlines()
        if line.startswith("| `")
    ]
    documented = {row[0].strip("`"): row[1:] for row in rows}
    expected = {
        name: [f"{s.order:g}", "SDE" if s.stochastic else "ODE", _nfe_rule(s), s.reference]
        for name, s in SAMPLERS.items()
    }
    assert documented == expected
