"""The command line: schedule, las, loss-curve; clear errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from scorelab.cli import app
from scorelab.loss_curve import LossCurve
from scorelab.schedules import load_schedule

runner = CliRunner()


def test_schedule_table_json_and_exports(tmp_path):
    r = runner.invoke(app, ["schedule", "karras", "-k", "4", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["sigmas"]) == 5
    r = runner.invoke(app, ["schedule", "log-snr", "-k", "4", "--format", "k-diffusion"])
    assert json.loads(r.stdout)[-1] == 0.0
    r = runner.invoke(
        app, ["schedule", "karras", "-k", "4", "--sigma-min", "0.02", "--format", "diffusers"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["sigmas"][-1] == 0 and len(json.loads(r.stdout)["sigmas"]) == 6
    args = ["schedule", "karras", "-k", "4", "--sigma-min", "0.02", "--format", "diffusers"]
    r = runner.invoke(app, [*args, "--scheduler", "DPMSolverMultistepScheduler"])
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["timesteps"]) == 5
    r = runner.invoke(app, ["schedule", "karras", "-k", "4", "--format", "comfyui"])
    assert r.exit_code == 0 and r.output.strip().endswith(", 0") and "e-" not in r.output
    r = runner.invoke(app, ["schedule", "karras", "-k", "4", "--format", "flow", "--shift", "3"])
    flow = json.loads(r.stdout)
    assert flow["shift"] == 3 and len(flow["sigmas"]) == 5 and 0 < min(flow["sigmas"])
    out = tmp_path / "s.json"
    r = runner.invoke(
        app, ["schedule", "cosine", "-k", "6", "--output", str(out), "--target", "gaussian-16"]
    )
    assert r.exit_code == 0 and "exact discretization term D" in r.output
    assert len(load_schedule(out)[0]) == 7


def test_las_from_loss_curve_file(tmp_path):
    curve = tmp_path / "c.json"
    r = runner.invoke(
        app,
        [
            "loss-curve",
            "--target",
            "gaussian-16",
            "--output",
            str(curve),
            "--levels",
            "30",
            "--samples",
            "64",
            "--error",
            "0.1",
        ],
    )
    assert r.exit_code == 0, r.output
    assert LossCurve.load(curve).sigma.size == 30
    r = runner.invoke(
        app,
        [
            "schedule",
            "las",
            "-k",
            "8",
            "--loss-curve",
            str(curve),
            "--smooth",
            "0.3",
            "--format",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    sig = np.array(json.loads(r.stdout)["sigmas"])
    assert len(sig) == 9 and np.all(np.diff(sig) < 0)
    r = runner.invoke(
        app, ["schedule", "las", "-k", "8", "--target", "gaussian-16", "--format", "json"]
    )
    assert r.exit_code == 0, r.output


def test_every_loss_schedule_builds_from_a_target_and_from_a_curve_file(tmp_path):
    from scorelab.schedules import LOSS_SCHEDULES
    from scorelab.targets import get_target

    curve_file = tmp_path / "curve.json"
    sig = np.geomspace(0.002, 80.0, 200)
    LossCurve(sig, get_target("gaussian-16").mmse(sig)).save(curve_file)
    for name in LOSS_SCHEDULES:
        for source in (["--target", "gaussian-16"], ["--loss-curve", str(curve_file)]):
            r = runner.invoke(app, ["schedule", name, "-k", "6", *source, "--format", "json"])
            assert r.exit_code == 0, (name, r.output)
            grid = np.array(json.loads(r.stdout)["sigmas"])
            assert len(grid) == 7 and np.all(np.diff(grid) < 0), name
            assert grid[-1] == pytest.approx(0.002) and grid[0] == pytest.approx(80.0)


def test_errors_are_clear():
    r = runner.invoke(app, ["schedule", "karas", "-k", "4"])
    assert r.exit_code == 2 and "unknown schedule 'karas'" in r.output
    r = runner.invoke(app, ["schedule", "las", "-k", "4"])
    assert r.exit_code == 2 and "exactly one of" in r.output
    r = runner.invoke(app, ["schedule", "las", "-k", "4", "--loss-curve", "/nonexistent.json"])
    assert r.exit_code == 2 and "not found" in r.output
    r = runner.invoke(
        app, ["schedule", "karras", "-k", "4", "--sigma-min", "5", "--sigma-max", "1"]
    )
    assert r.exit_code == 2 and "sigma_min < sigma_max" in r.output
    r = runner.invoke(app, ["schedule", "karras", "--format", "yaml"])
    assert r.exit_code == 2 and "unknown format" in r.output
    r = runner.invoke(app, ["loss-curve", "--target", "nope", "--output", "x.json"])
    assert r.exit_code == 2 and "unknown target" in r.output
    r = runner.invoke(app, ["schedule", "--list", "x"])
    assert "karras" in r.output


def test_demo_runs_and_prints_a_table():
    result = runner.invoke(app, ["demo", "--samples", "256", "--steps", "5"])
    assert result.exit_code == 0, result.output
    assert "atom TV" in result.output and "fit KL" in result.output


def test_train_then_las_from_the_checkpoint(tmp_path):
    ckpt = tmp_path / "ring.safetensors"
    r = runner.invoke(
        app, ["train", "--data", "ring8", "--tiny", "--steps", "120", "--out", str(ckpt)]
    )
    assert r.exit_code == 0, r.output
    assert ckpt.is_file() and "loss curve at" in r.output
    r = runner.invoke(app, ["schedule", "las", "--model", str(ckpt), "-k", "6", "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    sig = np.array(out["sigmas"])
    assert len(sig) == 7 and np.all(np.diff(sig) < 0) and out["loss_curve_source"] == "recorded"
    r = runner.invoke(
        app,
        ["schedule", "las", "--model", str(ckpt), "-k", "4", "--measure", "--format", "json"],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["loss_curve_source"] == "measured"
    r = runner.invoke(app, ["schedule", "las", "--model", str(tmp_path / "nope.safetensors")])
    assert r.exit_code != 0 and "no checkpoint" in r.output
    r = runner.invoke(app, ["train", "--data", "cifar", "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "unknown data set 'cifar'" in r.output


def test_schedule_ays_opt_from_a_target_exports_json():
    import json

    from typer.testing import CliRunner

    from scorelab.cli import app

    r = CliRunner().invoke(
        app, ["schedule", "ays-opt", "--target", "gaussian-16", "-k", "5", "--format", "json"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert len(out["sigmas"]) == 6 and out["klub_history"][-1] < out["klub_history"][0]
    r = CliRunner().invoke(app, ["schedule", "ays-opt", "-k", "5"])
    assert r.exit_code == 2 and "exactly one of --target NAME or --model CKPT" in r.output


def test_demo_ends_with_what_the_table_shows():
    r = runner.invoke(
        app,
        ["demo", "--samples", "64", "--steps", "3", "--samplers", "euler", "--samplers", "heun"],
    )
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "What the table shows" in text and "the samplers rank" in text
    assert "best K = 3:" in text
