"""Image data sets (Fashion-MNIST's idx files, users' .npy arrays) and training that survives:
output path checked first, periodic state, resume to the uninterrupted result."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from scorelab.data import FASHION_FILES, fashion_split, load_dataset, npy_split, read_idx
from scorelab.models import TrainConfig, train
from scorelab.models.training import state_path


def _idx_bytes(arr: np.ndarray) -> bytes:
    """``arr`` (uint8) in the real idx format: 0, 0, type 0x08, rank, big-endian sizes, data."""
    head = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", n) for n in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def _write_fashion(folder, n_train=40, n_test=12, size=28, gz=True):
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, size, size), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        for stem, arr in zip(FASHION_FILES[split], (images, labels), strict=True):
            raw = _idx_bytes(arr)
            if gz:
                (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
            else:
                (folder / stem).write_bytes(raw)
    return images


@pytest.mark.parametrize("gz", [True, False])
def test_idx_loader_reads_real_format_bytes(tmp_path, gz):
    last_test = _write_fashion(tmp_path, gz=gz)
    x, y = fashion_split("test", data_dir=tmp_path)
    assert x.shape == (12, 1, 28, 28) and x.dtype == np.float32 and y.shape == (12,)
    np.testing.assert_allclose(x[:, 0], last_test / 127.5 - 1.0, atol=1e-6)
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert load_dataset("fashion", "train", data_dir=tmp_path).shape == (40, 1, 28, 28)


def test_truncated_wrong_magic_and_missing_idx_files_are_one_line_errors(tmp_path):
    raw = _idx_bytes(np.zeros((3, 4, 4), np.uint8))
    (tmp_path / "short").write_bytes(raw[:-5])
    with pytest.raises(ValueError, match="truncated") as err:
        read_idx(tmp_path / "short")
    assert "\n" not in str(err.value)
    (tmp_path / "magic").write_bytes(b"\x12\x34" + raw[2:])
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "magic")
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(ValueError, match="cannot read"):
        read_idx(tmp_path / "bad.gz")
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist") as err:
        fashion_split("train", data_dir=tmp_path / "nowhere")
    assert "--data-dir" in str(err.value) and "\n" not in str(err.value)


def test_npy_images_accepted_and_bad_shapes_refused(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "imgs.npy"
    np.save(path, rng.integers(0, 256, size=(50, 6, 6), dtype=np.uint8))
    x = npy_split(path, "all")
    assert x.shape == (50, 1, 6, 6) and x.min() >= -1 and x.max() <= 1
    train_part, test_part = npy_split(path, "train"), npy_split(path, "test")
    assert len(train_part) + len(test_part) == 50
    np.save(path, rng.normal(size=(20, 3, 4, 4)))
    assert load_dataset(str(path), "train").shape[1:] == (3, 4, 4)
    for bad in (rng.normal(size=(5, 4)), rng.normal(size=(2, 1, 1, 3, 3)), np.ones((5, 3, 3))):
        np.save(path, bad)
        with pytest.raises(ValueError, match=r"imgs\.npy"):
            npy_split(path)
    arr = rng.normal(size=(5, 3, 3))
    arr[0, 0, 0] = np.nan
    np.save(path, arr)
    with pytest.raises(ValueError, match="NaN"):
        npy_split(path)


def test_training_on_fashion_format_files(tmp_path):
    _write_fashion(tmp_path, n_train=64, size=8)
    cfg = TrainConfig.tiny("fashion", steps=5, data_dir=str(tmp_path), batch_size=8)
    result = train(cfg)
    assert result.model.sample_shape == (1, 8, 8)


def test_output_path_checked_before_training(tmp_path):
    cfg = TrainConfig.tiny("ring8", steps=5)
    with pytest.raises(ValueError, match="directory"):
        train(cfg, tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        train(cfg, tmp_path / "file" / "m.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing left behind


def test_killed_training_resumes_to_the_uninterrupted_result(tmp_path):
    torch.set_num_threads(1)
    cfg = TrainConfig.tiny("ring8", steps=60, record_from=0.3)
    whole = train(cfg, tmp_path / "a.safetensors")
    part = train(cfg, tmp_path / "b.safetensors", stop_after=25)
    assert part.checkpoint is None and state_path(tmp_path / "b.safetensors").is_file()
    resumed = train(cfg, tmp_path / "b.safetensors", resume=True)
    assert not state_path(tmp_path / "b.safetensors").exists()
    np.testing.assert_array_equal(whole.losses, resumed.losses)
    for a, b in zip(whole.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(whole.loss_curve.loss_x0, resumed.loss_curve.loss_x0)
    train(cfg, tmp_path / "c.safetensors", stop_after=5)
    with pytest.raises(ValueError, match="another configuration"):
        train(TrainConfig.tiny("ring8", steps=61), tmp_path / "c.safetensors", resume=True)


def test_checkpoints_are_readable_by_other_users(tmp_path):
    import os

    path = tmp_path / "m.safetensors"
    train(TrainConfig.tiny("ring8", steps=3), path)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


@pytest.mark.slow
def test_rmse_to_the_converged_solution_falls_at_the_solvers_order_on_a_tiny_model():
    """The floor-free model metric of the Fashion benchmarks, on a seconds-trained tiny model:
    DPM-Solver++(2M)'s RMSE to the converged solution (3M on 512 log-SNR levels, which moves by
    < 1 % of the smallest RMSE when halved) falls with log-log slope −2 ± 0.5 from NFE 10 to 40."""
    from scorelab.samplers import SAMPLERS
    from scorelab.schedules import log_snr_uniform

    model = train(TrainConfig.tiny("digits", steps=150)).model
    z = torch.randn(32, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    lo, hi = 0.002, 80.0

    def run(sampler, k):
        with torch.no_grad():
            grid = log_snr_uniform(k, lo, hi, final_zero=True).float()
            return SAMPLERS[sampler](model, z * hi, grid)

    ref = run("dpmpp_3m", 512)
    errors = [
        float((run("dpmpp_2m", nfe - 1) - ref).square().mean().sqrt()) for nfe in (10, 20, 40)
    ]
    change = float((run("dpmpp_3m", 256) - ref).square().mean().sqrt())
    assert change < 0.01 * min(errors)
    slope = np.polyfit(np.log([10, 20, 40]), np.log(errors), 1)[0]
    assert abs(slope + 2) <= 0.5, f"slope {slope:.2f}, errors {errors}"
