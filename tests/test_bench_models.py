"""`scorelab bench --model CKPT`: the suite's methods, ours and the peers', drive a user's
checkpoint at the same NFE, scored against the model's data."""

from __future__ import annotations

import json
import textwrap

import pytest
from typer.testing import CliRunner

from scorelab.bench import ResultStore, load_suite
from scorelab.cli import app
from scorelab.models import TrainConfig, train


@pytest.fixture(scope="module")
def digits_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "digits.safetensors"
    train(TrainConfig.tiny("digits", steps=60), path)
    return path


def test_bench_runs_a_tiny_trained_checkpoint(tmp_path, digits_checkpoint):
    suite = tmp_path / "tiny.toml"
    suite.write_text(
        textwrap.dedent(
            """
            name = "tiny"
            samples = 64
            seeds = [0]
            nfe = [6]
            samplers = ["euler", "ddpm"]
            schedules = ["karras", "las"]
            peers = ["k-diffusion:euler", "diffusers:DDIM"]
            [[targets]]
            name = "atoms64-r8"
            """
        )
    )
    db = tmp_path / "r.duckdb"
    args = ["bench", "--suite", str(suite), "--db", str(db), "--workers", "1"]
    r = CliRunner().invoke(app, [*args, "--model", str(digits_checkpoint)])
    assert r.exit_code == 0, r.output
    with ResultStore(db) as store:
        rows = store.dataframe_rows()
        assert store.failures() == []
    assert len(rows) == 2 * 2 + 1 * 1 + 1  # scorelab 2×2, k-diffusion × karras, DDIM × default
    for row in rows:
        assert row["target"] == f"model:{digits_checkpoint}"
        assert row["metric"] == "digits_fd" and row["error"] > 0 and row["floor"] > 0
        assert row["exact_d"] is None  # no exact mmse for a model
        assert 1 <= row["nfe"] <= 6  # counted by the oracle, within the budget
    # the las cells ran on the checkpoint's recorded training loss curve
    assert {r["schedule"] for r in rows if r["method"] == "scorelab:ddpm"} == {"karras", "las"}
    # the report names a model target's figures by the checkpoint's stem (no path in the name)
    r = CliRunner().invoke(app, ["report", "--db", str(db), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rep" / "error_vs_nfe_model-digits.png").stat().st_size > 10_000


def test_model_option_errors_are_one_line(tmp_path):
    r = CliRunner().invoke(app, ["bench", "--model", str(tmp_path / "nope.safetensors")])
    assert r.exit_code == 2 and "no checkpoint at" in r.output
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    suite = load_suite("quick").with_model(bad)
    assert {c.target for c in suite.cells} == {f"model:{bad}"}
    assert len(suite.cells) == len(load_suite("quick").cells) // 2  # two targets became one


def test_digits_suite_ships():
    suite = load_suite("digits")
    assert {c.target for c in suite.cells} == {"digits"}
    assert any(c.method == "diffusers:DEISMultistep" for c in suite.cells)


def _diffusers_folder(folder, *, pipeline: bool, prediction_type: str = "epsilon"):
    """A tiny untrained diffusers UNet2DModel for 8×8 digits, saved as a pipeline (unet/,
    scheduler/) or as one model folder with its scheduler config beside it."""
    from diffusers import DDPMScheduler

    from tests.test_models import _tiny_unet

    unet = _tiny_unet()
    scheduler = DDPMScheduler(prediction_type=prediction_type)
    unet.save_pretrained(folder / "unet" if pipeline else folder)
    scheduler.save_pretrained(folder / "scheduler" if pipeline else folder)
    return folder


def test_bench_runs_a_diffusers_model_folder(tmp_path):
    """A saved diffusers pipeline is a target like a checkpoint: every method drives its UNet
    (through DiffusersModelDenoiser) within the budget, digits FD against the named data, and
    the loss-curve schedule runs on a loss curve measured on the held-out digits."""
    folder = _diffusers_folder(tmp_path / "pipe", pipeline=True)
    suite = tmp_path / "tiny.toml"
    suite.write_text(
        textwrap.dedent(
            """
            name = "tiny"
            samples = 32
            seeds = [0]
            nfe = [4]
            samplers = ["euler"]
            schedules = ["karras", "info-las"]
            peers = ["k-diffusion:euler", "diffusers:DPMSolverMultistep"]
            peer_schedules = ["karras"]
            [[targets]]
            name = "atoms64-r8"
            """
        )
    )
    db = tmp_path / "r.duckdb"
    args = ["bench", "--suite", str(suite), "--db", str(db), "--workers", "1"]
    r = CliRunner().invoke(app, [*args, "--model", str(folder), "--data", "digits"])
    assert r.exit_code == 0, r.output
    with ResultStore(db) as store:
        rows = store.dataframe_rows()
        assert store.failures() == []
    assert len(rows) == 4
    for row in rows:
        assert row["target"] == f"model:{folder}#data=digits"
        assert row["metric"] == "digits_fd" and row["error"] > 0 and row["floor"] > 0
        assert 1 <= row["nfe"] <= 4
    assert {r["schedule"] for r in rows if r["method"] == "scorelab:euler"} == {
        "karras",
        "info-las",
    }


def test_diffusers_model_folder_errors_are_one_line(tmp_path):
    import numpy as np

    from scorelab.bench.model_target import model_target

    flat = _diffusers_folder(tmp_path / "flat", pipeline=False, prediction_type="v_prediction")
    quick = load_suite("quick")
    with pytest.raises(ValueError, match="say which data it is scored against"):
        quick.with_model(flat)
    with pytest.raises(FileNotFoundError, match="no data file at"):
        quick.with_model(flat, str(tmp_path / "missing.npy"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="is not a diffusers model folder"):
        quick.with_model(tmp_path / "empty", "digits")
    r = CliRunner().invoke(app, ["bench", "--data", "digits"])
    assert r.exit_code == 2 and "--data goes with --model" in r.output
    # a .npy of held-out samples: the target is scored by sliced W2 to them
    refs = tmp_path / "refs.npy"
    np.save(refs, np.random.default_rng(0).normal(size=(64, 1, 8, 8)).astype(np.float32))
    (name,) = {c.target for c in quick.with_model(flat, str(refs)).cells}
    target = model_target(name)
    assert target.event_shape == (1, 8, 8) and target.denoiser.prediction_type == "v_prediction"
    assert type(target).__name__ == "ModelTarget" and target.sample(5).shape == (5, 1, 8, 8)
    np.save(refs, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="must hold >= 16 samples"):
        model_target(name)


def test_fashion_suite_ships_and_names_the_shipped_model():
    suite = load_suite("fashion")
    assert {c.target for c in suite.cells} == {"model:fashion_edm"}
    assert {c.nfe_budget for c in suite.cells} == {4, 5, 6, 8, 10, 15, 20}
    assert {c.schedule for c in suite.cells if c.method == "scorelab:ipndm"} == {
        "optimize",
        "karras",
        "log-snr",
        "kl-optimal",
        "beta",
    }
    from scorelab.bench.model_target import parse_model_target

    path, _ = parse_model_target("model:fashion_edm")
    assert path.name == "fashion_edm.safetensors" and path.is_file()


@pytest.mark.slow
def test_fashion_suite_runs_end_to_end_on_a_tiny_model_without_the_data(tmp_path, monkeypatch):
    """The suite's smoke version on a tiny model trained on Fashion-format files, which are
    then removed: every method runs within its budget and is scored by the Fashion FD from
    the statistics shipped with the classifier."""
    from tests.test_data_fashion import _write_fashion

    data = tmp_path / "data"
    data.mkdir()
    _write_fashion(data, n_train=32, n_test=8)
    ckpt = tmp_path / "fashion.safetensors"
    train(TrainConfig.tiny("fashion", steps=3, data_dir=str(data), batch_size=8), ckpt)
    for f in data.iterdir():
        f.unlink()
    monkeypatch.setenv("SCORELAB_SMOKE", "1")
    db = tmp_path / "r.duckdb"
    args = ["bench", "--suite", "fashion", "--db", str(db), "--workers", "1"]
    r = CliRunner().invoke(app, [*args, "--model", str(ckpt)])
    assert r.exit_code == 0, r.output
    with ResultStore(db) as store:
        rows = store.dataframe_rows()
        assert store.failures() == []
    methods = {(c.method, c.schedule) for c in load_suite("fashion").cells}
    assert {(row["method"], row["schedule"]) for row in rows} == methods
    for row in rows:
        assert row["metric"] == "fashion_fd" and row["error"] > 0 and row["floor"] > 0
        assert 1 <= row["nfe"] <= 4
    # optimize's converged solutions were computed once and shared by its cells; each cell
    # still reports the choice's whole cost
    assert len(list((tmp_path / ".scorelab-cache").glob("proxy-references-*.pt"))) == 1
    costs = [
        json.loads(row["config"])["optimize_evaluations"]
        for row in rows
        if row["schedule"] == "optimize"
    ]
    assert len(costs) == 4 and min(costs) > 0
