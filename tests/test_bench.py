"""Benchmark suites, cells, the DuckDB store, resume after a kill, and the summary table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from typer.testing import CliRunner

from scorelab.bench import ResultStore, best_per_nfe, load_suite, run_cell, run_suite
from scorelab.bench.config import Cell
from scorelab.bench.report import best_row_cells
from scorelab.cli import app

SMALL = textwrap.dedent(
    """
    name = "small"
    samples = 200
    seeds = [0]
    nfe = [4, 8, 12]
    samplers = ["euler", "ddpm", "dpmpp_2m"]
    schedules = ["karras", "las"]
    peers = ["k-diffusion:euler"]
    peer_schedules = ["karras"]
    [[targets]]
    name = "gaussian-16"
    """
)


@pytest.fixture
def small_suite(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def test_shipped_suites_load():
    quick = load_suite("quick")
    assert quick.name == "quick" and len(quick.cells) > 50
    assert len({c.key() for c in quick.cells}) == len(quick.cells)
    standard = load_suite("standard")
    assert {c.target for c in standard.cells} >= {"atoms64-r8", "gmm2-1000", "digits"}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ('samplers = ["eulr"]', "unknown sampler 'eulr'"),
        ('peers = ["diffusers:LMS"]', "unknown peer"),
        ("samples = 3", "samples must be"),
        ("nfe = [0]", "nfe must be"),
        ("colour = 3", "unknown keys"),
    ],
)
def test_bad_suites_are_rejected(tmp_path, patch, message):
    key = patch.split(" = ")[0]
    lines = [ln for ln in SMALL.splitlines() if not ln.startswith(f"{key} =")]
    path = tmp_path / "bad.toml"
    path.write_text(patch + "\n" + "\n".join(lines))
    with pytest.raises(ValueError, match=message):
        load_suite(str(path))
    with pytest.raises(ValueError, match="unknown suite"):
        load_suite("medium")


def test_extra_schedules_run_on_their_target_only(tmp_path):
    path = tmp_path / "extra.toml"
    path.write_text(SMALL + 'extra_schedules = ["optimize"]\n[[targets]]\nname = "atoms64-r8"\n')
    cells = load_suite(str(path)).cells
    extra = {(c.target, c.method) for c in cells if c.schedule == "optimize"}
    assert {t for t, _ in extra} == {"gaussian-16"}
    assert {m for _, m in extra} == {"scorelab:euler", "scorelab:ddpm", "scorelab:dpmpp_2m"}
    assert len(cells) == 2 * (3 * 2 + 1) * 3 + 3 * 3  # both targets' grid, then the extra
    standard = load_suite("standard").cells
    assert {c.target for c in standard if c.schedule == "optimize"} == {"gaussian-16", "gmm2-1000"}
    for bad, message in (
        ('extra_schedules = ["warp"]', "unknown schedule 'warp'"),
        ("colour = 1", "unknown keys"),
    ):
        path.write_text(SMALL + bad + "\n")
        with pytest.raises(ValueError, match=message):
            load_suite(str(path))


def test_run_cell_is_reproducible_and_within_budget():
    cell = Cell("atoms64-r8", "scorelab:heun", "karras", 9, 0, 0.0, 300, 0.002, 80.0)
    a, b = run_cell(cell), run_cell(cell)
    assert a["error"] == b["error"] and a["metric"] == "atom_tv"
    assert a["nfe"] <= 9 and a["steps"] == 5  # Heun: 2K − 1 = 9
    peer = run_cell(Cell("gaussian-16", "k-diffusion:heun", "karras", 9, 0, 0.0, 300, 0.002, 80.0))
    assert peer["nfe"] == 9 and peer["is_peer"]
    d = run_cell(Cell("gaussian-16", "scorelab:ddpm", "las", 6, 0, 0.1, 300, 0.002, 80.0))
    assert d["exact_d"] > 0 and d["score_error"] == 0.1
    for sched in ("info-las", "entropic", "sat-info"):  # every loss-curve schedule runs in a cell
        row = run_cell(Cell("gaussian-16", "scorelab:ddpm", sched, 6, 0, 0.0, 200, 0.002, 80.0))
        assert row["nfe"] <= 6 and row["exact_d"] > 0


def test_store_skips_finished_cells_and_summarises(tmp_path, small_suite):
    suite = load_suite(str(small_suite))
    with ResultStore(tmp_path / "r.duckdb") as store:
        assert run_suite(suite, store) == len(suite.cells)
        assert run_suite(suite, store) == 0  # nothing left to do
        assert len(store.finished_keys()) == len(suite.cells)
        best = best_per_nfe(store)
    assert {e["nfe"] for e in best} == {4, 8, 12}
    for e in best:
        assert e["ratio"] == pytest.approx(e["scorelab_error"] / e["peer_error"])
        gap = abs(e["scorelab_error"] - e["peer_error"])
        assert e["significant"] == (gap > e["floor"])
        cells = best_row_cells(e)
        assert cells[7].endswith("(tie)") != e["significant"]


def test_interrupted_sweep_resumes_with_nothing_lost(tmp_path, small_suite):
    db = tmp_path / "kill.duckdb"
    cmd = [
        sys.executable,
        "-m",
        "scorelab.cli",
        "bench",
        "--suite",
        str(small_suite),
        "--db",
        str(db),
        "--workers",
        "1",
        "--log-cells",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    first = []
    for line in proc.stdout:
        if line.startswith("done "):
            first.append(line.split()[1])
        if len(first) == 4:
            os.killpg(proc.pid, signal.SIGKILL)  # mid-sweep, no chance to clean up
            break
    proc.wait()
    with ResultStore(db) as store:
        stored = store.finished_keys()
        created = dict(store.query("SELECT cell_key, created_at FROM results"))
    assert set(first) <= stored and len(stored) < len(load_suite(str(small_suite)).cells)
    result = CliRunner().invoke(
        app, ["bench", "--suite", str(small_suite), "--db", str(db), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    with ResultStore(db) as store:
        after = dict(store.query("SELECT cell_key, created_at FROM results"))
    assert len(after) == len(load_suite(str(small_suite)).cells)
    assert all(after[k] == created[k] for k in stored)  # finished cells were not rerun


def test_bench_cli_errors():
    r = CliRunner().invoke(app, ["bench", "--suite", "medium"])
    assert r.exit_code == 2 and "unknown suite" in r.output
    r = CliRunner().invoke(app, ["bench", "--executor", "slurm"])
    assert r.exit_code == 2 and "unknown executor" in r.output


@pytest.mark.slow
def test_ray_executor_matches_local(tmp_path, small_suite):
    """The same cells on a local Ray cluster give the same rows as the local executor."""
    ray = pytest.importorskip("ray", reason="Ray not installed (pip install ray)")
    from scorelab.bench import run_cells

    cells = list(load_suite(str(small_suite)).cells)[:6]
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        remote = {r["cell_key"]: r for r in run_cells(cells, executor="ray")}
    finally:
        ray.shutdown()
    local = {r["cell_key"]: r for r in run_cells(cells, executor="local")}
    assert remote.keys() == local.keys() == {c.key() for c in cells}
    for key, row in local.items():
        for col in ("error", "nfe", "distinct_levels", "steps", "sw2", "exact_d"):
            assert remote[key][col] == row[col], (key, col)


def test_diffusers_peer_cells():
    """diffusers schedulers run on the scorelab denoiser at the same NFE budget."""
    pytest.importorskip("diffusers", reason="diffusers not installed")
    for name, sched, budget, nfe in (
        ("DPMSolverMultistep", "karras", 8, 8),
        ("Heun", "default", 9, 9),
    ):
        row = run_cell(
            Cell("gaussian-16", f"diffusers:{name}", sched, budget, 0, 0.0, 400, 0.002, 80.0)
        )
        assert row["nfe"] == nfe and row["is_peer"] and row["error"] < 5


def test_missing_peers_are_reported(monkeypatch, small_suite):
    from scorelab import bench
    from scorelab.bench import missing_peers

    monkeypatch.setattr(bench, "peer_library_available", lambda m: not m.startswith("k-diff"))
    suite = load_suite(str(small_suite))
    assert missing_peers(suite) == ["k-diffusion:euler"]


def test_report_writes_markdown_html_and_figures(tmp_path, small_suite):
    db = tmp_path / "r.duckdb"
    with ResultStore(db) as store:
        run_suite(load_suite(str(small_suite)), store)
    r = CliRunner().invoke(app, ["report", "--db", str(db), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "Best per NFE" in md and "error_vs_nfe_gaussian-16.png" in md
    assert (tmp_path / "rep" / "error_vs_nfe_gaussian-16.png").stat().st_size > 10_000
    assert (tmp_path / "rep" / "exact_d_vs_k.png").exists()
    assert (tmp_path / "rep" / "queries_vs_eps_gaussian-16.png").stat().st_size > 10_000
    assert "## Failed cells (0)" in md
    assert "<table>" in (tmp_path / "rep" / "report.html").read_text()
    r = CliRunner().invoke(app, ["report", "--db", str(tmp_path / "none.duckdb")])
    assert r.exit_code == 2 and "not found" in r.output


def test_mmse_curves_are_cached_on_disk_and_reused(tmp_path, monkeypatch):
    from scorelab.targets import get_target
    from scorelab.theory import mmse_curve

    target = get_target("atoms64-r8")

    def curve(points: int = 21):
        return mmse_curve(
            target,
            0.01,
            10.0,
            num_points=points,
            num_samples=64,
            cache_dir=tmp_path,
            cache_key="atoms64-r8",
        )

    first = curve()
    assert len(list(tmp_path.glob("mmse-*.npz"))) == 1

    def no_recompute(*_a, **_k):
        raise AssertionError("the cached curve should have been read")

    monkeypatch.setattr(target, "mmse", no_recompute)
    again = curve()
    assert np.array_equal(first.values, again.values)
    assert np.array_equal(first.log_snr, again.log_snr)
    # another size is another file
    monkeypatch.undo()
    curve(points=11)
    assert len(list(tmp_path.glob("mmse-*.npz"))) == 2


@pytest.mark.slow
def test_run_suite_prepares_each_curve_once_beside_the_results(tmp_path, monkeypatch):
    from scorelab.bench import ResultStore, load_suite, run_suite

    monkeypatch.setenv("SCORELAB_SMOKE", "1")  # a 101-level, 256-sample curve: seconds

    path = tmp_path / "las.toml"
    path.write_text(
        'name = "las"\nsamples = 64\nseeds = [0]\nnfe = [4, 6]\nsamplers = ["ddpm", "euler"]\n'
        'schedules = ["las"]\n[[targets]]\nname = "atoms64-r8"\n'
    )
    with ResultStore(tmp_path / "r.duckdb") as store:
        assert run_suite(load_suite(str(path)), store) == 4
        assert not store.failures()
    assert len(list((tmp_path / ".scorelab-cache").glob("mmse-*.npz"))) == 1


def test_store_migrates_an_old_file_and_refuses_a_newer_one(tmp_path):
    import duckdb

    from scorelab.bench.store import COLUMNS, SCHEMA_VERSION

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))  # a results file from before the schema was versioned
    con.execute(
        "CREATE TABLE results (cell_key VARCHAR PRIMARY KEY, target VARCHAR, method VARCHAR, "
        "error DOUBLE)"
    )
    con.execute("INSERT INTO results VALUES ('k0', 'atoms64-r8', 'scorelab:ddpm', 0.5)")
    con.close()
    with ResultStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        (row,) = store.dataframe_rows()
        assert set(row) == set(COLUMNS) and row["error"] == 0.5 and row["sw2"] is None
        store.insert({"cell_key": "k1", "target": "t", "method": "m", "error": 1.0, "sw2": 2.0})
        assert store.finished_keys() == {"k0", "k1"}
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(ValueError, match="newer scorelab"):
        ResultStore(path)


def test_metric_registry_picks_the_most_specific_metric():
    from scorelab.metrics import METRICS, headline_metric
    from scorelab.targets import Discrete, Gaussian, GaussianMixture, get_target

    assert headline_metric(get_target("atoms64-r8")).name == "atom_tv"  # a Discrete is a mixture
    assert headline_metric(Gaussian(np.zeros(3), np.ones(3))).name == "fit_kl"
    mix = GaussianMixture([0.5, 0.5], np.eye(2), 0.1)
    assert headline_metric(mix).name == "sw2"
    assert next(iter(METRICS)) == "atom_tv" and issubclass(Discrete, GaussianMixture)
    with pytest.raises(TypeError, match="no metric"):
        headline_metric(object())


def test_method_registry_counts_like_the_samplers_and_libraries():
    from scorelab.compat.diffusers import diffusers_nfe
    from scorelab.methods import METHODS, get_method
    from scorelab.samplers import SAMPLERS

    for name, spec in SAMPLERS.items():
        m = get_method(f"scorelab:{name}")
        assert not m.is_peer and m.steps_within(12) == spec.max_schedule_steps(12)
    assert get_method("k-diffusion:heun").steps_within(10) == 5  # 2k − 1 ≤ 10
    heun = get_method("diffusers:Heun")
    assert heun.is_peer and heun.nfe(7) == diffusers_nfe("Heun", 7) == 13
    assert {m.library for m in METHODS.values()} == {"scorelab", "k-diffusion", "diffusers"}
    plan = get_method("scorelab:ddpm").plan(10, "karras", 0.002, 80.0)
    assert plan.steps == plan.k + 1 == len(plan.sigmas) - 1 and float(plan.sigmas[-1]) == 0
    with pytest.raises(ValueError, match="unknown method 'scorelab:warp'"):
        get_method("scorelab:warp")
    with pytest.raises(ValueError, match="cannot run within NFE 0"):
        get_method("k-diffusion:heun").plan(0, "karras", 0.002, 80.0)


def test_queries_per_error_reads_nfe_star_off_power_law_ladders(tmp_path):
    """NFE* from stored ladders e = C·NFE^{−p}: the interpolation is exact for power laws, so
    the ratio of the two methods' NFE* is (C_ours/C_peer)^{1/p}; seeds give a ratio range."""
    from scorelab.bench import queries_per_error, queries_row_cells

    def put(store, method, c, seed, jitter):
        for budget in (4, 8, 16, 32, 64, 128, 256):
            store.insert(
                {
                    "cell_key": f"{method}-{budget}-{seed}",
                    "target": "t",
                    "method": method,
                    "is_peer": not method.startswith("scorelab:"),
                    "schedule": "karras",
                    "nfe_budget": budget,
                    "seed": seed,
                    "score_error": 0.0,
                    "nfe": float(budget),
                    "error": c * jitter * budget**-1.0,
                    "floor": 0.01,
                    "exact_kl": c * budget**-2.0 if method != "scorelab:ddpm" else None,
                }
            )

    with ResultStore(tmp_path / "q.duckdb") as store:
        for seed, jitter in ((0, 1.0), (1, 1.1)):
            put(store, "scorelab:heun", 1.0, seed, jitter)
            put(store, "k-diffusion:heun", 2.0, seed, 1.0)
        rows = queries_per_error(store)
    assert [r["multiple"] for r in rows] == [2.0, 4.0, 8.0]
    first = rows[0]  # ε = 0.02: ours needs 1.05/0.02 = 52.5, the peer 2/0.02 = 100
    assert first["scorelab_nfe"] == pytest.approx(52.5) and first["peer_nfe"] == pytest.approx(100)
    assert first["ratio"] == pytest.approx(0.525)
    assert first["ratio_min"] == pytest.approx(0.5) and first["ratio_max"] == pytest.approx(0.55)
    cells = queries_row_cells(first)
    assert cells[2] == "heun / karras" and cells[4] == "k-diffusion:heun / karras"
    assert cells[-1] == "0.52 (0.50–0.55)"  # 0.525 rounds to even


def test_floor_free_views_read_the_exact_kl_column(tmp_path):
    """``column="exact_kl"``: the same summaries on the exact output KL, at absolute ε levels,
    with floor 0 (every gap real); rows without an exact law (here ddpm's) are left out."""
    from scorelab.bench import queries_per_error, queries_row_cells

    with ResultStore(tmp_path / "x.duckdb") as store:
        for method, c, errors in (
            ("scorelab:heun", 1.0, (1e-3, 1e-4)),  # exact KL = c / NFE²
            ("k-diffusion:heun", 4.0, (1e-3, 1e-4)),
            ("scorelab:ddpm", 0.01, (1e-9, 1e-9)),  # best sampled error, no exact law
        ):
            for budget, error in zip((4, 64), errors, strict=True):
                store.insert(
                    {
                        "cell_key": f"{method}-{budget}",
                        "target": "g",
                        "method": method,
                        "is_peer": method.startswith("k-"),
                        "schedule": "karras",
                        "nfe_budget": budget,
                        "seed": 0,
                        "score_error": 0.0,
                        "nfe": float(budget),
                        "error": error,
                        "floor": 0.01,
                        "exact_kl": None if method.endswith("ddpm") else c * budget**-2.0,
                    }
                )
        rows = queries_per_error(store, column="exact_kl", levels=(0.01,))
        best = best_per_nfe(store, column="exact_kl")
        sampled = best_per_nfe(store)
        with pytest.raises(ValueError, match="unknown column 'kl'"):
            best_per_nfe(store, column="kl")
    (row,) = rows  # ε = 0.01: ours √(1/0.01) = 10 calls, the peer √(4/0.01) = 20
    assert row["multiple"] is None and row["scorelab_nfe"] == pytest.approx(10.0)
    assert row["ratio"] == pytest.approx(0.5)
    assert queries_row_cells(row)[1] == "0.01 nats" and queries_row_cells(row)[2] == "heun / karras"
    assert [e["scorelab"] for e in best] == ["heun / karras"] * 2
    assert all(e["metric"] == "exact_kl" and e["floor"] == 0 and e["significant"] for e in best)
    assert best[0]["ratio"] == pytest.approx(0.25)
    assert sampled[0]["scorelab"] == "ddpm / karras"  # the sampled view still has ddpm


def test_queries_row_cells_bounds_a_ratio_reached_at_the_first_nfe():
    from scorelab.bench import queries_row_cells

    base = {"target": "t", "multiple": 2.0, "eps": 0.1, "scorelab": "a", "peer": "b"}
    both = {**base, "scorelab_nfe": 5.0, "peer_nfe": 5.0, "ratio": 1.0}
    both.update(scorelab_at_start=True, peer_at_start=True)
    assert queries_row_cells(both)[3] == "≤ 5" and queries_row_cells(both)[-1].startswith("tie")
    ours = {**base, "scorelab_nfe": 5.0, "peer_nfe": 9.6, "ratio": 5 / 9.6}
    ours.update(scorelab_at_start=True, peer_at_start=False)
    assert queries_row_cells(ours)[-1] == "≤ 0.52"


@pytest.mark.slow
def test_exact_kl_column_is_the_floor_free_fit_kl_on_gaussians():
    """The exact KL(output ‖ data) of every method that is linear on a centred Gaussian —
    scorelab's samplers, k-diffusion's (noise tracked through its ``noise_sampler``), diffusers'
    unclipped schedulers — is what the fitted-Gaussian KL estimates: they agree within a few
    floors (plus 2 % of the KL, the estimate's own spread), the same update in two libraries has
    the same exact KL, and the column is empty where the law is not exact (atoms, injected
    error, accel_sde's limiter, diffusers' clipped DDIM and DDPM)."""
    from scorelab.bench.store import COLUMNS
    from scorelab.methods import METHODS

    assert "exact_kl" in COLUMNS

    def cell(method, target="gaussian-16", error=0.0, schedule="log-snr", n=20_000):
        return run_cell(Cell(target, method, schedule, 10, 0, error, n, 0.002, 80.0))

    linear = [m for m in METHODS.values() if m.gaussian_law is not None]
    assert {m.library for m in linear} == {"scorelab", "k-diffusion", "diffusers"}
    for m in linear:
        if m.library == "scorelab" and m.name not in ("dpmpp_2m", "ddpm", "euler"):
            continue  # the samplers' own laws are tested in test_exact.py
        schedule = {"scorelab": "log-snr", "k-diffusion": "karras"}.get(m.library, "karras")
        row = cell(m.key, schedule=schedule)
        tolerance = 3 * row["floor"] + 0.02 * row["exact_kl"]
        assert row["exact_kl"] > 0 and abs(row["error"] - row["exact_kl"]) < tolerance, m.key
    ours, theirs = (
        cell("scorelab:dpmpp_2m", n=64),
        cell("k-diffusion:dpmpp_2m", "gaussian-16", schedule="exponential", n=64),
    )
    assert ours["exact_kl"] == pytest.approx(theirs["exact_kl"], rel=1e-4)  # float32 grids
    for key in ("scorelab:accel_sde", "diffusers:DDIM", "diffusers:DDPM"):
        assert (
            cell(key, schedule="default" if "diffusers" in key else "log-snr")["exact_kl"] is None
        )
    assert cell("scorelab:ddpm", error=0.1)["exact_kl"] is None
    assert cell("scorelab:ddpm", target="atoms64-r8")["exact_kl"] is None


@pytest.mark.slow
def test_optimize_schedule_is_the_recommended_grid_for_the_cells_sampler(tmp_path, monkeypatch):
    """``optimize`` in a suite runs what ``scorelab schedule optimize`` gives that sampler: on
    gaussian-16 the grid measured on a surrogate fitted to the target's samples, whose exact
    output KL is no worse than the standard grids'; the grid is cached beside the curves and
    read back by a cell that differs in score error."""
    from scorelab.bench import runner

    def cell(schedule, target="gaussian-16", method="scorelab:dpmpp_2m", error=0.0):
        return run_cell(
            Cell(target, method, schedule, 8, 0, error, 400, 0.002, 80.0), str(tmp_path)
        )

    row = cell("optimize")
    chosen = row["config"]["chosen_schedule"]
    from scorelab.schedules import LOSS_SCHEDULES, SCHEDULES

    assert chosen.split(" + ")[0] in {*SCHEDULES, *LOSS_SCHEDULES}
    assert row["nfe"] <= 8
    grid = row["config"].pop("optimize_sigmas")  # the grid that ran, rerunnable from the row
    assert len(grid) == row["steps"] + 1 and grid[-1] == 0.0 and grid == sorted(grid)[::-1]
    cost = {k: v for k, v in row["config"].items() if k.startswith("optimize_")}
    assert "surrogate" in cost["optimize_proxy"] and cost["optimize_seconds"] > 0
    for heuristic in ("karras", "log-snr", "cosine"):
        assert row["exact_kl"] <= 1.05 * cell(heuristic)["exact_kl"]
    assert len(list(tmp_path.glob("optimize-*.json"))) == 1

    def no_rebuild(*_a, **_k):
        raise AssertionError("the cached grid should have been read")

    monkeypatch.setattr("scorelab.grids.optimize_grid", no_rebuild)
    again = cell("optimize", error=0.1)
    assert again["config"]["chosen_schedule"] == chosen and again["steps"] == row["steps"]
    assert again["config"].pop("optimize_sigmas") == grid
    assert {k: again["config"][k] for k in cost} == cost  # the first build's cost, read back
    monkeypatch.undo()
    monkeypatch.setenv("SCORELAB_SMOKE", "1")  # seconds-sized curves and proxies for the atoms
    atoms = cell("optimize", target="atoms64-r8", method="scorelab:ddpm")
    assert atoms["nfe"] <= 8 and atoms["config"]["chosen_schedule"]
    with pytest.raises(ValueError, match="for scorelab samplers"):
        runner._plan(Cell("gaussian-16", "k-diffusion:euler", "optimize", 8, 0, 0, 64, 0.002, 80))


def test_report_draws_what_the_user_asked_about_beside_the_best():
    from scorelab.bench.report import BEST_N, _best_n

    series = {(f"scorelab:s{i}", "karras", None): [(5, 1.0 + i), (10, 0.5 + i)] for i in range(8)}
    series[("scorelab:ddpm", "optimize", None)] = [(5, 50.0), (10, 40.0)]
    series[("scorelab:heun", "cosine", None)] = [(5, 60.0), (10, 45.0)]
    plain = _best_n(series, False)
    assert len(plain) == BEST_N and all(k[1] == "karras" for k in plain)
    shown = _best_n(series, False, ("optimize", "heun"))
    assert shown[:BEST_N] == plain
    assert {k[0] for k in shown[BEST_N:]} == {"scorelab:ddpm", "scorelab:heun"}


def test_model_metrics_are_registered_explicitly_not_at_import():
    """Importing the bench leaves the library's metric table as it is; the bench reads its
    own table, where model targets find their metric."""
    import scorelab.bench  # noqa: F401
    from scorelab.bench.model_target import BENCH_METRICS, MODEL_METRICS
    from scorelab.metrics import METRICS

    assert set(METRICS) == {"atom_tv", "fit_kl", "sw2"}
    assert list(BENCH_METRICS) == [*METRICS, *MODEL_METRICS]
    assert list(MODEL_METRICS)[-1] == "data_sw2"  # the generic model metric comes last


def test_bench_reports_each_cell_off_a_terminal(tmp_path, small_suite):
    """Output not on a terminal: the progress bar is off, so every stored cell gets a
    timestamped line (n of the cells to run, its key) — a long suite is never silent."""
    db = tmp_path / "p.duckdb"
    r = CliRunner().invoke(
        app, ["bench", "--suite", str(small_suite), "--db", str(db), "--workers", "1"]
    )
    assert r.exit_code == 0, r.output
    todo = len(load_suite(str(small_suite)).cells)
    lines = [line for line in r.output.splitlines() if "bench: " in line and "cells," in line]
    assert [line.split()[2] for line in lines] == [f"{n}/{todo}" for n in range(1, todo + 1)]
