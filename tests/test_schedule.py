"""The Schedule object: each conversion round-tripped through its real consumer."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

from scorelab import processes
from scorelab.schedules import Schedule, karras
from scorelab.schedules.schedule import COMFYUI_NUMBER

diffusers = pytest.importorskip("diffusers")

SD = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)


def _schedule(steps: int = 8, lo: float = 0.03, hi: float = 14.0) -> Schedule:
    grid = karras(steps, sigma_min=lo, sigma_max=hi).numpy()
    return Schedule(np.append(grid, 0.0), sampler="dpmpp_2m", nfe=steps + 1, name="karras")


def _sigmas(scheduler) -> np.ndarray:
    return np.asarray(scheduler.sigmas, dtype=np.float64)


def _run(scheduler, kwargs: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler.set_timesteps(**kwargs)


def test_euler_takes_the_grid_exactly_with_its_final_zero():
    sched = _schedule()
    euler = diffusers.EulerDiscreteScheduler(**SD)
    kwargs = sched.to_diffusers(euler)
    assert set(kwargs) == {"sigmas"}
    _run(euler, kwargs)
    np.testing.assert_allclose(_sigmas(euler), np.append(sched.levels, 0.0), rtol=1e-6)


@pytest.mark.parametrize("kind", ["DPMSolverMultistepScheduler", "HeunDiscreteScheduler"])
def test_integer_timestep_schedulers_use_the_nearest_training_levels(kind):
    sched = _schedule()
    scheduler = getattr(diffusers, kind)(**SD)
    kwargs = sched.to_diffusers(scheduler)
    assert set(kwargs) == {"timesteps"}
    assert all(isinstance(t, int) for t in kwargs["timesteps"])
    _run(scheduler, kwargs)
    used = _sigmas(scheduler)
    used = used[used > 0]
    if kind.startswith("Heun"):  # Heun repeats each inner level for its second stage
        used = np.concatenate([used[:1], used[1::2]])
    t, err = sched.diffusers_timesteps(scheduler)
    acp = scheduler.alphas_cumprod.double().numpy()
    table = np.sqrt((1 - acp) / acp)
    np.testing.assert_allclose(used, table[t], rtol=1e-6)
    np.testing.assert_allclose(np.abs(np.log(used) - np.log(sched.levels)), err, atol=1e-6)
    assert err.max() < 0.05  # 1000 training steps: rounding moves a level by < 5 % here


def test_rounding_that_merges_two_levels_is_refused():
    crowded = Schedule(np.geomspace(0.1, 0.0995, 6))
    with pytest.raises(ValueError, match="round to the same training timestep"):
        crowded.to_diffusers(diffusers.DPMSolverMultistepScheduler(**SD))


def test_options_that_replace_the_grid_and_levels_outside_the_range_are_refused():
    with pytest.raises(ValueError, match="use_karras_sigmas=True"):
        _schedule().to_diffusers(diffusers.EulerDiscreteScheduler(use_karras_sigmas=True, **SD))
    with pytest.raises(ValueError, match=r"outside the σ range .* of EulerDiscreteScheduler"):
        _schedule(hi=80.0).to_diffusers(diffusers.EulerDiscreteScheduler(**SD))


@pytest.mark.parametrize(
    "kind", ["EulerAncestralDiscreteScheduler", "DDIMScheduler", "UniPCMultistepScheduler"]
)
def test_schedulers_without_a_grid_argument_run_their_own_grid_or_refuse(kind):
    scheduler = getattr(diffusers, kind)(**SD)
    with pytest.raises(ValueError, match=f"{kind}.set_timesteps takes no grid"):
        _schedule().to_diffusers(scheduler)
    own = getattr(diffusers, kind)(**SD)
    _run(own, {"num_inference_steps": 7})
    if hasattr(own, "sigmas"):
        levels = _sigmas(own)
    else:
        acp = own.alphas_cumprod.double().numpy()[own.timesteps.numpy()]
        levels = np.sqrt((1 - acp) / acp)
    kwargs = Schedule(levels).to_diffusers(scheduler)
    assert kwargs == {"num_inference_steps": 7}
    _run(scheduler, kwargs)


@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_flow_match_euler_lands_on_our_times_before_and_after_its_shift(shift):
    sched = _schedule(lo=0.01, hi=60.0)
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(shift=shift)
    kwargs = sched.to_diffusers(scheduler)
    pre = np.asarray(kwargs["sigmas"])
    assert pre.shape == sched.levels.shape and np.all((pre > 0) & (pre <= 1))
    _run(scheduler, kwargs)
    used = _sigmas(scheduler)
    assert used[-1] == 0
    np.testing.assert_allclose(
        used[:-1], processes.sigma_to_flow_time(sched.levels), rtol=1e-6, atol=1e-7
    )


def test_flow_schedulers_with_dynamic_shift_and_unipc_flow_sigmas():
    sched = _schedule(lo=0.01, hi=60.0)
    want = processes.sigma_to_flow_time(sched.levels)
    dynamic = diffusers.FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True)
    _run(dynamic, sched.to_diffusers(dynamic))
    np.testing.assert_allclose(_sigmas(dynamic)[:-1], want, rtol=1e-6)
    unipc = diffusers.UniPCMultistepScheduler(
        use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift=3.0
    )
    _run(unipc, sched.to_diffusers(unipc))
    np.testing.assert_allclose(_sigmas(unipc)[:-1], want, rtol=1e-6)
    dpm = diffusers.DPMSolverMultistepScheduler(
        use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift=3.0
    )
    with pytest.raises(ValueError, match="takes no grid"):
        sched.to_diffusers(dpm)


def test_comfyui_string_survives_comfyuis_own_number_pattern():
    sched = Schedule(np.array([80.0, 3.2, 0.0123, 0.0003]))
    text = sched.to_comfyui()
    assert "e" not in text.lower()
    parsed = [float(x) for x in re.findall(COMFYUI_NUMBER, text)]
    assert parsed[-1] == 0.0
    np.testing.assert_allclose(parsed[:-1], sched.levels, rtol=1e-5)


def test_k_diffusion_tensor_and_file_round_trip(tmp_path):
    sched = _schedule()
    kd = sched.to_k_diffusion(dtype=torch.float64)
    assert kd[-1] == 0 and torch.equal(kd[:-1], torch.as_tensor(sched.levels))
    back = Schedule.load(sched.save(tmp_path / "s.json"))
    assert np.array_equal(back.sigmas, sched.sigmas)
    assert (back.sampler, back.nfe, back.name) == ("dpmpp_2m", 9, "karras")
    assert "karras" in repr(back) and "dpmpp_2m" in repr(back)


def test_bad_grids_and_files_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError):
        Schedule(np.array([1.0, 2.0]))
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "scorelab.schedule/1", "metadata": {}}')
    with pytest.raises(ValueError, match="no 'sigmas'"):
        Schedule.load(bad)
    bad.write_text('{"format": "scorelab.schedule/1", "sigmas": ["a", 1]}')
    with pytest.raises(ValueError, match="list of numbers"):
        Schedule.load(bad)


def test_optimize_schedule_sources_and_effort(tmp_path):
    import scorelab
    from scorelab.loss_curve import LossCurve

    sched = scorelab.optimize_schedule("gaussian-16", sampler="euler", nfe=5, effort="smoke")
    assert isinstance(sched, Schedule) and sched.nfe <= 5 and sched.sampler == "euler"
    assert "proxy_error" in sched.info and sched.info["proxy_error"] <= min(
        v for k, v in sched.info["proxy_scores"].items() if k != "optimize"
    )
    sigma = np.geomspace(0.002, 80.0, 32)
    curve = LossCurve(sigma, 16 * sigma**2 / (1 + sigma**2), None, 1, "sum", {})
    from_curve = scorelab.optimize_schedule(curve, sampler="dpmpp_2m", nfe=6)
    assert from_curve.info["chosen"] == "log-snr"  # no model: the measured-best standard rule
    with pytest.raises(ValueError, match="unknown effort"):
        scorelab.optimize_schedule("gaussian-16", sampler="euler", nfe=5, effort="max")
    with pytest.raises(FileNotFoundError, match="no such file"):
        scorelab.optimize_schedule(tmp_path / "nope.safetensors", sampler="euler", nfe=5)
    with pytest.raises(ValueError, match="data= \\(samples\\) or sample_shape="):
        scorelab.optimize_schedule(lambda x, s: x, sampler="euler", nfe=5)
