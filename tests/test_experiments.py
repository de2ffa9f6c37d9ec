"""Experiment `dimension-free`: a reduced run must show the claimed scaling on random codes,
whose mmse curve does change with d (so nothing holds by construction there)."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from scorelab.cli import app
from scorelab.experiments import DimensionFreeConfig, run_dimension_free, summarize
from scorelab.experiments.dimension_free import entropy_weights


def test_entropy_weights_hit_the_entropy():
    for n, h in ((6, 1.0), (15, 2.0), (110, 4.0)):
        w = entropy_weights(n, h)
        assert w.sum() == pytest.approx(1.0) and -(w * np.log(w)).sum() == pytest.approx(h)
    with pytest.raises(ValueError, match="entropy"):
        entropy_weights(4, math.log(4) + 0.1)


@pytest.fixture(scope="module")
def small_run():
    cfg = DimensionFreeConfig(
        entropies=(1.0, 3.0),
        dims=(8, 256),
        steps=(10,),
        geometries=("random-code",),
        mmse_samples=600,
        mmse_points=121,
        samples=1000,
    )
    rows = run_dimension_free(cfg)
    return cfg, rows, summarize(rows)


def test_steps_scale_with_entropy_not_dimension(small_run):
    _, rows, summary = small_run
    res = summary["random-code"]
    # the mmse curves differ between d = 8 and d = 256 ...
    d_by_dim = {
        (r["dim"], round(r["entropy"])): r["exact_d"]
        for r in rows
        if r["grid"] == "las" and r["steps"] == 10
    }
    assert d_by_dim[(8, 3)] != pytest.approx(d_by_dim[(256, 3)], rel=0.05)
    # ... yet the steps needed for D <= 0.1 do not grow with d, and do grow with H
    assert abs(res["steps-to-error slope in d"]) < 0.1
    assert res["steps-to-error slope in H"] > 0.5


def test_las_beats_log_snr_and_samples_are_close_to_exact(small_run):
    _, rows, _ = small_run
    for dim in (8, 256):
        for h in (1, 3):
            pick = {
                r["grid"]: r
                for r in rows
                if r["dim"] == dim and round(r["entropy"]) == h and r["steps"] == 10
            }
            assert pick["las"]["exact_d"] < pick["log-snr"]["exact_d"]
            assert pick["las"]["tv"] < 0.25


def test_cli_rejects_unknown_experiment(tmp_path):
    r = CliRunner().invoke(app, ["experiment", "speed-of-light", "--db", str(tmp_path / "x")])
    assert r.exit_code != 0 and "unknown experiment 'speed-of-light'" in r.output
    for name in ("dimension-free", "acceleration", "query-lower-bound", "las-learned"):
        assert name in r.output


def test_results_go_to_duckdb(small_run, tmp_path):
    from scorelab.experiments import write_experiment

    _, rows, summary = small_run
    write_experiment("dimension-free", rows, summary, str(tmp_path / "r.duckdb"), str(tmp_path))
    con = duckdb.connect(str(tmp_path / "r.duckdb"))
    n = con.execute("select count(*) from experiment_dimension_free").fetchone()[0]
    assert n == len(rows)


def test_every_experiment_module_registers_itself_once():
    """Adding an experiment is one module: the package finds and registers it."""
    import importlib
    import pkgutil

    import scorelab.experiments as ex
    from scorelab.experiments import EXPERIMENTS, register

    modules = [
        m.name
        for m in pkgutil.iter_modules(ex.__path__)
        if not m.name.startswith("_") and m.name not in ("figures", "store")
    ]
    found = {importlib.import_module(f"scorelab.experiments.{m}").EXPERIMENT.name for m in modules}
    assert found == set(EXPERIMENTS) and len(modules) == len(EXPERIMENTS) >= 5
    with pytest.raises(ValueError, match="registered twice"):
        register(EXPERIMENTS["gmm-entropy"])
