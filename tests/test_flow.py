"""Flow matching: the t ↔ σ change of variables, the velocity adapter, and its agreement with
diffusers' FlowMatchEulerDiscreteScheduler and with scorelab's exact laws."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from scorelab import processes
from scorelab.exact import LINEAR_OPTIONS, gaussian_output_kl
from scorelab.models import VelocityDenoiser, velocity_of
from scorelab.samplers import SAMPLERS
from scorelab.targets import Gaussian, GaussianMixture


def test_time_and_sigma_round_trip_near_both_ends():
    t = np.array([0.0, 1e-12, 1e-6, 0.3, 0.5, 1 - 1e-6, 1 - 1e-12, 1.0])
    sigma = processes.flow_time_to_sigma(t)
    assert sigma[0] == 0 and math.isinf(sigma[-1])
    np.testing.assert_allclose(processes.sigma_to_flow_time(sigma), t, rtol=1e-12, atol=0)
    s = np.array([1e-8, 1e-4, 1.0, 1e4, 1e6])  # t in float64 resolves 1 − t to ~1e-16
    np.testing.assert_allclose(
        processes.flow_time_to_sigma(processes.sigma_to_flow_time(s)), s, rtol=1e-9
    )
    tt = torch.tensor([0.25, 0.75], dtype=torch.float64)
    assert torch.allclose(processes.flow_time_to_sigma(tt), torch.tensor([1 / 3, 3.0]).double())
    with pytest.raises(ValueError, match="t must lie"):
        processes.flow_time_to_sigma(1.5)


def test_shift_is_a_factor_in_sigma_and_flux_shift_is_its_exponential_form():
    t = np.linspace(0.01, 0.99, 9)
    for s in (0.5, 1.0, 3.0):
        shifted = processes.flow_time_shift(t, s)
        np.testing.assert_allclose(
            processes.flow_time_to_sigma(shifted), s * processes.flow_time_to_sigma(t), rtol=1e-12
        )
        np.testing.assert_allclose(processes.flow_time_shift(shifted, 1 / s), t, rtol=1e-12)
    np.testing.assert_allclose(
        processes.flux_time_shift(t, math.log(3.0)), processes.flow_time_shift(t, 3.0), rtol=1e-12
    )
    with pytest.raises(ValueError, match="shift"):
        processes.flow_time_shift(t, 0.0)


def _mixture() -> GaussianMixture:
    return GaussianMixture(
        np.array([0.4, 0.6]),
        np.array([[-1.0, 0.5], [1.5, -0.5]]),
        np.array([[0.2, 0.1], [0.05, 0.3]]),
        cov_kind="diagonal",
    )


def test_velocity_and_denoiser_are_inverse_changes_of_variables():
    target = _mixture()
    x = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for sigma in (1e-3, 0.3, 4.0, 200.0):
        through = VelocityDenoiser(velocity_of(target))(x, sigma)
        assert torch.allclose(through, target.denoise(x, sigma), rtol=1e-9, atol=1e-9)
    # the exact velocity is E[ε − x0 | x_t]: check it by its defining identity x_t = x̂0 + t·v
    t = torch.full((16,), 0.4, dtype=torch.float64)
    v = velocity_of(target)(x, t)
    x0 = target.denoise(x / 0.6, 0.4 / 0.6)
    assert torch.allclose(x, x0 + 0.4 * v, atol=1e-12)
    with pytest.raises(ValueError, match="flow time t"):
        velocity_of(target)(x, 1.0)


def test_scorelab_euler_on_a_flow_model_equals_diffusers_flow_match_euler():
    diffusers = pytest.importorskip("diffusers")
    target = _mixture()
    velocity = velocity_of(target)
    times = np.array([0.97, 0.9, 0.75, 0.55, 0.35, 0.2, 0.08, 0.02])
    gen = torch.Generator().manual_seed(1)
    x_start = torch.randn(32, 2, dtype=torch.float64, generator=gen)

    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(shift=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler.set_timesteps(sigmas=times.tolist())
    x = x_start.clone()
    for timestep in scheduler.timesteps:
        v = velocity(x, float(timestep) / 1000)
        x = scheduler.step(v, timestep, x).prev_sample.double()
    theirs = x

    sigmas = torch.as_tensor(np.append(processes.flow_time_to_sigma(times), 0.0))
    ours = SAMPLERS["euler"](VelocityDenoiser(velocity), x_start / (1 - times[0]), sigmas)
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=1e-5)


#: random step times (drawn per call) make the output law a mixture, not a tracked Gaussian
RANDOM_TIMES = {"randomized_midpoint"}


@pytest.mark.parametrize("name", sorted(set(SAMPLERS) - RANDOM_TIMES))
def test_every_linear_sampler_has_the_same_exact_law_through_the_flow_adapter(name):
    target = Gaussian(np.zeros(3), np.diag([0.3, 1.0, 2.5]))
    sigmas = torch.as_tensor(np.geomspace(30.0, 0.02, 9))
    options = LINEAR_OPTIONS.get(name, {})
    spec = SAMPLERS[name]

    def through_flow(denoiser, x, s, **kw):
        return spec.fn(VelocityDenoiser(velocity_of(denoiser)), x, s, **kw)

    direct = gaussian_output_kl(spec, target, sigmas, **options)
    flow = gaussian_output_kl(through_flow, target, sigmas, **options)
    assert abs(direct - flow) <= 1e-10 + 1e-8 * direct


def test_a_model_of_the_other_parametrisation_is_a_one_line_error(tmp_path):
    from scorelab.models import EDMDenoiser, FlowMatchingDenoiser, MLPNet
    from scorelab.models.diffusers import DiffusersModelDenoiser

    edm = EDMDenoiser(MLPNet(2, hidden=8, depth=1), (2,), 0.5)
    with pytest.raises(ValueError, match="x0 \\(denoiser\\) model, not a velocity model"):
        VelocityDenoiser(edm)
    flow = FlowMatchingDenoiser(MLPNet(2, hidden=8, depth=1), (2,), 0.5)
    with pytest.raises(ValueError, match="already is a σ-space denoiser"):
        VelocityDenoiser(flow)
    VelocityDenoiser(flow.velocity)  # the velocity method is the right thing to wrap
    config = {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0}
    with pytest.raises(ValueError, match="flow-matching \\(velocity\\) model"):
        DiffusersModelDenoiser(lambda x, t: x, config)


def test_trained_flow_checkpoint_loads_as_a_velocity_model_and_samples(tmp_path):
    from scorelab.models import FlowMatchingDenoiser, TrainConfig, load_checkpoint, train

    cfg = TrainConfig.tiny("moons", objective="flow", steps=60)
    result = train(cfg, tmp_path / "flow.safetensors")
    model, meta = load_checkpoint(result.checkpoint)
    assert isinstance(model, FlowMatchingDenoiser) and meta["parametrisation"] == "velocity"
    x = torch.randn(8, 2)
    # the σ-space output and the velocity are the same model under x̂0 = x_t − t v̂
    t = 0.3
    x0 = model(x / (1 - t), t / (1 - t))
    assert torch.allclose(x0, x - t * model.velocity(x, t), atol=1e-5)
    out = SAMPLERS["dpmpp_2m"](model, 80.0 * x, torch.tensor([80.0, 5.0, 0.5, 0.05, 0.0]))
    assert torch.isfinite(out).all()


def test_a_diffusers_flow_model_folder_loads_as_a_velocity_model_and_gets_a_schedule(tmp_path):
    diffusers = pytest.importorskip("diffusers")
    import scorelab
    from scorelab.models.diffusers import load_diffusers_model

    torch.manual_seed(0)
    unet = diffusers.UNet2DModel(
        sample_size=8,
        in_channels=1,
        out_channels=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        layers_per_block=1,
        norm_num_groups=4,
        add_attention=False,
    ).eval()
    unet.save_pretrained(tmp_path / "flow" / "unet")
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0)
    scheduler.save_pretrained(tmp_path / "flow" / "scheduler")
    denoiser, shape = load_diffusers_model(tmp_path / "flow")
    assert isinstance(denoiser, VelocityDenoiser) and shape == (1, 8, 8)
    x = torch.randn(2, 64)
    t = 0.4
    with torch.no_grad():
        v = unet(x.reshape(2, 1, 8, 8) * 1.0, torch.full((2,), 1000 * t)).sample.reshape(2, 64)
        x0 = denoiser(x / (1 - t), t / (1 - t))
    assert torch.allclose(x0, x - t * v, atol=1e-5)  # model time is 1000·t
    sched = scorelab.optimize_schedule(tmp_path / "flow", sampler="euler", nfe=4, effort="smoke")
    kwargs = sched.to_diffusers(scheduler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler.set_timesteps(**kwargs)
    np.testing.assert_allclose(
        scheduler.sigmas.double().numpy()[:-1],
        processes.sigma_to_flow_time(sched.levels),
        rtol=1e-5,
    )


def test_flow_schedules_keep_their_endpoints_and_place_steps_in_flow_time():
    from scipy.stats import beta as beta_law

    from scorelab.schedules import flow_time, get_schedule

    lo, hi = 0.002, 1e4
    t_lo, t_hi = (processes.sigma_to_flow_time(v) for v in (lo, hi))
    for grid in (
        flow_time(6, lo, hi),
        flow_time(6, lo, hi, shift=3.0),
        get_schedule("beta", 6, lo, hi, time="flow"),
    ):
        g = grid.numpy()
        assert np.isclose(g[0], hi) and np.isclose(g[-1], lo) and np.all(np.diff(g) < 0)
    t = processes.sigma_to_flow_time(flow_time(6, lo, hi).numpy())
    np.testing.assert_allclose(np.diff(t), np.diff(t)[0], rtol=1e-9)  # uniform in flow time
    t = processes.sigma_to_flow_time(get_schedule("beta", 6, lo, hi, time="flow").numpy())
    want = beta_law.ppf(np.linspace(1, 0, 7), 0.6, 0.6)
    np.testing.assert_allclose((t - t_lo) / (t_hi - t_lo), want, atol=1e-9)
    with pytest.raises(ValueError, match="time must be"):
        get_schedule("beta", 6, lo, 80.0, time="ve")
