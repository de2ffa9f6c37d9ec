"""`scorelab bench --model CKPT`: the suite's methods, ours and the peers', drive a user's
checkpoint at the same NFE, scored against the model's data."""

from __future__ import annotations

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
