"""Trained models: EDM training, checkpoints, adapters for diffusers / k-diffusion models, and a
diffusers pipeline driven by an exported LAS schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scorelab.data import digits_split, load_dataset, toy2d
from scorelab.loss_curve import LossCurve, measure_loss_curve
from scorelab.models import EDMDenoiser, TrainConfig, build_network, load_checkpoint, train
from scorelab.samplers import SAMPLERS
from scorelab.schedules import karras, las_schedule, to_diffusers
from scorelab.targets import ring8_target

diffusers = pytest.importorskip("diffusers", reason="diffusers not installed (dev extra)")

from scorelab.models.diffusers import (  # noqa: E402
    DiffusersModelDenoiser,
    KDiffusionDenoiser,
    scheduled_pipeline,
)


def _tiny_unet(seed: int = 0) -> diffusers.UNet2DModel:
    torch.manual_seed(seed)
    return diffusers.UNet2DModel(
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


# -- data ---------------------------------------------------------------------------------------
def test_digits_split_is_disjoint_and_labelled():
    tr, ytr = digits_split("train")
    te, yte = digits_split("test")
    assert tr.shape[1:] == (1, 8, 8) and len(tr) + len(te) == 1797 and len(tr) == len(ytr)
    assert tr.min() >= -1 and tr.max() <= 1 and set(np.unique(yte)) == set(range(10))
    flat_tr = {row.tobytes() for row in tr.reshape(len(tr), -1)}
    overlap = sum(row.tobytes() in flat_tr for row in te.reshape(len(te), -1))
    assert overlap < 5  # the data set has a few exact duplicate images, nothing more


def test_toy_data_and_bad_names():
    x = toy2d("ring8", 4000)
    assert x.shape == (4000, 2) and abs((x**2).mean() - 1.0) < 0.05
    assert load_dataset("moons", "test").shape == (5000, 2)
    with pytest.raises(ValueError, match="unknown data set 'cifar'"):
        load_dataset("cifar")
    with pytest.raises(ValueError, match="split"):
        digits_split("val")


# -- EDM denoiser and training ------------------------------------------------------------------
def test_edm_denoiser_shapes_dtypes_and_limits():
    torch.manual_seed(0)
    model = EDMDenoiser(build_network("mlp", (2,), hidden=16, depth=1), (2,), sigma_data=0.5)
    x = torch.randn(5, 2, dtype=torch.float64)
    out = model(x, 0.3)
    assert out.shape == x.shape and out.dtype == torch.float64
    # c_skip → 1 and c_out → 0 as σ → 0: D(x, σ) → x
    assert torch.allclose(model(x, 1e-8), x, atol=1e-6)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        model(x, torch.tensor([0.1, 0.2, 0.0, 0.1, 0.1]))
    with pytest.raises(ValueError, match=r"sigma must be a scalar or have shape \(5,\)"):
        model(x, torch.ones(3))
    with pytest.raises(ValueError, match="x must be"):
        model(torch.randn(5, 3), 0.3)


def test_bad_training_configs_rejected():
    with pytest.raises(ValueError, match="unknown data set"):
        TrainConfig(data="mnist").validate()
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=1.5).validate()
    with pytest.raises(ValueError, match="unknown architecture"):
        TrainConfig(arch="transformer").validate()
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0).validate()


@pytest.fixture(scope="module")
def tiny_ring(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "ring8.safetensors"
    cfg = TrainConfig.tiny(
        "ring8", steps=600, batch_size=128, arch_options={"hidden": 64, "depth": 2}
    )
    return train(cfg, path), path


def test_tiny_training_lowers_the_excess_loss(tiny_ring):
    """ring8 is an exact Gaussian mixture: loss − mmse is the model's own error."""
    result, _ = tiny_ring
    target = ring8_target()
    levels = np.geomspace(0.02, 5.0, 8)
    untrained = EDMDenoiser(
        build_network("mlp", (2,), hidden=64, depth=2), (2,), result.model.sigma_data
    )
    mmse = target.mmse(levels, num_samples=20_000)
    before = measure_loss_curve(untrained, target, levels, samples_per_level=4000).loss_x0 - mmse
    after = measure_loss_curve(result.model, target, levels, samples_per_level=4000).loss_x0 - mmse
    assert after.sum() < 0.5 * before.sum(), (before, after)
    assert np.mean(result.losses[-50:]) < np.mean(result.losses[:50])


def test_recorded_loss_curve_is_a_valid_las_input(tiny_ring):
    result, _ = tiny_ring
    curve = result.loss_curve
    assert isinstance(curve, LossCurve) and curve.sigma.size >= 8
    # the x0-MSE grows with σ towards the data's total variance (2 coordinates of variance ~1)
    assert curve.loss_x0[-1] > 10 * curve.loss_x0[0]
    sigmas = las_schedule(10, curve.monotone(), float(curve.sigma[0]), float(curve.sigma[-1]))
    assert len(sigmas) == 11 and torch.all(sigmas[:-1] > sigmas[1:])


def test_checkpoint_round_trip_is_bit_exact(tiny_ring):
    result, path = tiny_ring
    loaded, meta = load_checkpoint(path)
    for (k1, a), (k2, b) in zip(
        result.model.net.state_dict().items(), loaded.net.state_dict().items(), strict=True
    ):
        assert k1 == k2 and torch.equal(a, b)
    x = torch.randn(64, 2)
    assert torch.equal(result.model(x, 0.5), loaded(x, 0.5))
    assert np.array_equal(meta["loss_curve"].loss_x0, result.loss_curve.loss_x0)
    assert meta["info"]["config"]["data"] == "ring8"


def test_bad_checkpoint_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a scorelab checkpoint"):
        load_checkpoint(tmp_path / "other.safetensors")


def test_trained_model_runs_in_scorelab_and_k_diffusion_samplers(tiny_ring):
    from scorelab.compat.k_diffusion import load_sampling

    result, _ = tiny_ring
    sigmas = karras(10, 0.01, 80.0, final_zero=True, dtype=torch.float32)
    x = torch.randn(256, 2, generator=torch.Generator().manual_seed(0)) * 80.0
    ours = SAMPLERS["dpmpp_2m"](result.model, x, sigmas)
    theirs = load_sampling().sample_dpmpp_2m(result.model, x, sigmas, disable=True)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_tiny_digits_unet_trains_and_records_its_curve(tmp_path):
    cfg = TrainConfig.tiny("digits", steps=60)
    result = train(cfg, tmp_path / "d.safetensors")
    assert result.model.sample_shape == (1, 8, 8)
    assert np.mean(result.losses[-15:]) < np.mean(result.losses[:15])
    out = result.model(torch.randn(3, 64), 1.0)  # flat inputs are reshaped
    assert out.shape == (3, 64)


# -- adapters -----------------------------------------------------------------------------------
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_diffusers_adapter_matches_the_schedulers_own_x0(prediction_type):
    unet = _tiny_unet()
    sched = diffusers.DDPMScheduler(
        num_train_timesteps=1000, prediction_type=prediction_type, clip_sample=False
    )
    den = DiffusersModelDenoiser(unet, sched.config)
    gen = torch.Generator().manual_seed(0)
    for t in (0, 17, 500, 999):
        ab = sched.alphas_cumprod[t].double()
        u = torch.randn(4, 1, 8, 8, generator=gen)
        with torch.no_grad():
            out = unet(u, t).sample
        ref = sched.step(out, t, u, generator=gen).pred_original_sample
        sigma = torch.sqrt((1 - ab) / ab)
        x = (u.double() / torch.sqrt(ab)).float()
        ours = den(x, sigma)
        assert torch.allclose(ours, ref, atol=2e-4, rtol=1e-4), (prediction_type, t)


def test_diffusers_adapter_flat_inputs_and_range():
    den = DiffusersModelDenoiser(
        _tiny_unet(), {"num_train_timesteps": 1000}, sample_shape=(1, 8, 8)
    )
    assert den(torch.randn(2, 64), 1.0).shape == (2, 64)
    with pytest.raises(ValueError, match="sigma"):
        den(torch.randn(2, 64), 1e4)  # beyond the model's trained σ_max ≈ 157
    # the table's ends rounded to float32 (as diffusers' schedulers pass them) are accepted
    x = torch.randn(2, 64, generator=torch.Generator().manual_seed(0))
    for end in (den.sigma_min, den.sigma_max):
        rounded = float(torch.tensor(end, dtype=torch.float32))
        assert rounded != end and torch.equal(den(x, rounded), den(x, end))
    with pytest.raises(ValueError, match="sigma"):
        den(x, den.sigma_max * 1.001)
    with pytest.raises(ValueError, match="prediction_type"):
        DiffusersModelDenoiser(_tiny_unet(), {}, prediction_type="flow")


def test_k_diffusion_adapter_forwards_extra_args():
    calls = []

    def model(x, sigma, *, label):
        calls.append((sigma.shape, label))
        return x / (1 + sigma[:, None] ** 2)

    den = KDiffusionDenoiser(model, label=3)
    x = torch.randn(4, 2)
    assert torch.allclose(den(x, 1.0), x / 2)
    assert calls == [(torch.Size([4]), 3)]
    with pytest.raises(TypeError):
        KDiffusionDenoiser(42)


def test_diffusers_pipeline_runs_with_an_exported_las_schedule():
    unet = _tiny_unet()
    sched = diffusers.DDPMScheduler(num_train_timesteps=1000, clip_sample=False)
    den = DiffusersModelDenoiser(unet, sched.config)
    data = torch.as_tensor(digits_split("train")[0][:256], dtype=torch.float32)
    lo, hi = den.sigma_min * 1.01, den.sigma_max * 0.99
    curve = measure_loss_curve(den, data, np.geomspace(lo, hi, 12), samples_per_level=64)
    sigmas = las_schedule(8, curve.monotone(), lo, hi)
    args = to_diffusers(sigmas)
    pipe = scheduled_pipeline(unet, sched)
    gen = torch.Generator().manual_seed(0)
    out = pipe(4, timesteps=args["timesteps"], generator=gen)
    assert out.shape == (4, 1, 8, 8) and torch.isfinite(out).all()
    assert [int(t) for t in pipe.scheduler.timesteps] == args["timesteps"]
    euler = scheduled_pipeline(unet, diffusers.EulerDiscreteScheduler.from_config(sched.config))
    out2 = euler(2, sigmas=args["sigmas"] + [0.0], generator=gen)
    assert out2.shape == (2, 1, 8, 8) and torch.isfinite(out2).all()
    with pytest.raises(ValueError, match="exactly one"):
        pipe(2, generator=gen)


@pytest.mark.parametrize("kind", ["EulerDiscreteScheduler", "DPMSolverMultistepScheduler"])
def test_from_a_diffusers_folder_to_its_own_pipeline_in_one_call_each(tmp_path, kind):
    """optimize_schedule on a saved diffusers model folder, then the scheduler's own arguments
    into its pipeline: the pipeline runs exactly the levels scorelab chose (snapped to integer
    timesteps where the scheduler takes only those)."""
    import scorelab

    unet = _tiny_unet()
    unet.save_pretrained(tmp_path / "model" / "unet")
    scheduler = getattr(diffusers, kind)(num_train_timesteps=1000)
    scheduler.save_pretrained(tmp_path / "model" / "scheduler")
    schedule = scorelab.optimize_schedule(
        tmp_path / "model", sampler="euler", nfe=5, proxy_samples=4, reference_steps=16
    )
    assert schedule.nfe <= 5 and schedule.info["proxy"].startswith("model trajectories")
    pipe = scheduled_pipeline(unet, scheduler)
    kwargs = schedule.to_diffusers(pipe.scheduler)
    out = pipe(2, generator=torch.Generator().manual_seed(0), **kwargs)
    assert out.shape == (2, 1, 8, 8) and torch.isfinite(out).all()
    used = pipe.scheduler.sigmas.double().numpy()
    used = used[used > 0]
    if kind.startswith("Euler"):
        np.testing.assert_allclose(used, schedule.levels, rtol=1e-5)
    else:
        _, err = schedule.diffusers_timesteps(pipe.scheduler)
        np.testing.assert_allclose(np.log(used), np.log(schedule.levels), atol=err.max() + 1e-6)
