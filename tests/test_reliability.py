"""What a new user hit (issue: no silent wrong answers, no tracebacks on user error): each test
failed on the code before the fix."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from scorelab.bench import ResultStore, load_suite, run_suite
from scorelab.bench.report import write_report
from scorelab.cli import app
from scorelab.loss_curve import LossCurve
from scorelab.models import load_checkpoint
from scorelab.samplers import sample_euler
from scorelab.schedules import karras
from scorelab.targets import get_target

runner = CliRunner()


def _one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())  # rich may wrap long messages
    for needle in needles:
        assert needle in text, result.output


# --- half precision ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["atoms64-r8", "gmm2-1000"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("sigma", [1e-8, 0.002, 80.0])
def test_targets_compute_half_precision_input_in_float32(name, dtype, sigma):
    target = get_target(name)
    x0 = target.sample(256, torch.Generator().manual_seed(0))
    x = (x0 + sigma * torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))).to(dtype)
    out = target.denoise(x, sigma)
    assert out.dtype == dtype and torch.isfinite(out).all()
    ref = target.denoise(x.float(), sigma)
    assert torch.allclose(out.float(), ref.to(dtype).float())


# --- a newcomer's first call ----------------------------------------------------------------


def test_float64_schedule_drives_a_float32_state():
    target = get_target("atoms64-r8")
    out = sample_euler(target, torch.randn(4, 8) * 80, karras(10, final_zero=True))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


# --- files: one line naming the file -------------------------------------------------------


def _las_from(path) -> object:
    return runner.invoke(app, ["schedule", "las", "-k", "4", "--loss-curve", str(path)])


def test_bad_loss_curve_files_give_one_line_errors(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    _one_line_error(_las_from(empty), "empty.json", "is empty")
    good = LossCurve(np.geomspace(0.01, 10, 20), np.geomspace(1e-4, 5, 20)).to_dict()
    truncated = tmp_path / "cut.json"
    truncated.write_text(json.dumps(good)[:50])
    _one_line_error(_las_from(truncated), "cut.json", "not valid JSON")
    garbled = tmp_path / "garbled.txt"
    garbled.write_text("0.1,abc\n0.2,def\n")
    _one_line_error(_las_from(garbled), "garbled.txt", "cannot parse")


def test_csv_loss_curve_with_a_header_row_is_read(tmp_path):
    path = tmp_path / "curve.csv"
    sig = np.geomspace(0.01, 10, 20)
    rows = "\n".join(f"{s},{0.5 * s * s / (0.5 + s * s)}" for s in sig)
    path.write_text("sigma,loss\n" + rows + "\n")
    curve = LossCurve.load(path)
    assert np.allclose(curve.sigma, sig)
    assert _las_from(path).exit_code == 0


def test_garbage_checkpoint_is_a_one_line_error(tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"\xff" * 64)
    with pytest.raises(ValueError, match=r"model\.safetensors is not a readable safetensors"):
        load_checkpoint(bad)
    r = runner.invoke(app, ["schedule", "las", "-k", "4", "--model", str(bad)])
    _one_line_error(r, "model.safetensors")


def test_corrupt_results_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "results.duckdb"
    bad.write_bytes(b"not a database" * 100)
    r = runner.invoke(app, ["report", "--db", str(bad), "--out", str(tmp_path / "rep")])
    _one_line_error(r, "results.duckdb", "not a DuckDB results file")


def test_locked_results_file_names_the_lock(tmp_path):
    db = tmp_path / "busy.duckdb"
    ResultStore(db).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys, time
                con = duckdb.connect({str(db)!r})
                print("locked", flush=True)
                time.sleep(30)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        r = runner.invoke(app, ["report", "--db", str(db), "--out", str(tmp_path / "rep")])
        _one_line_error(r, "busy.duckdb", "in use by another process")
    finally:
        holder.kill()
        holder.wait()


def test_output_folders_are_created_consistently(tmp_path):
    out = tmp_path / "new" / "deeper" / "curve.json"
    r = runner.invoke(
        app,
        [
            "loss-curve",
            "--target",
            "gaussian-16",
            "--output",
            str(out),
            "--levels",
            "4",
            "--samples",
            "16",
        ],
    )
    assert r.exit_code == 0, r.output
    assert LossCurve.load(out).sigma.size == 4
    sched = tmp_path / "other" / "s.json"
    r = runner.invoke(app, ["schedule", "karras", "-k", "3", "--output", str(sched)])
    assert r.exit_code == 0 and sched.exists()


# --- CLI options ---------------------------------------------------------------------------


def test_bad_cli_options_are_rejected():
    r = runner.invoke(app, ["schedule", "karras", "--smooth", "-1"])
    assert r.exit_code == 2 and "smooth" in r.output
    r = runner.invoke(app, ["demo", "--steps", "0"])
    assert r.exit_code == 2 and "steps" in r.output
    r = runner.invoke(app, ["schedule", "karras", "--format", "yaml"])
    _one_line_error(r, "unknown format 'yaml'")


def test_schedule_list_needs_no_argument_and_help_points_to_the_lists():
    r = runner.invoke(app, ["schedule", "--list"])
    assert r.exit_code == 0 and "karras" in r.output and "las" in r.output
    _one_line_error(runner.invoke(app, ["schedule"]), "give a schedule name")
    r = runner.invoke(app, ["schedule", "--help"], env={"COLUMNS": "200"})
    assert "scorelab list targets" in r.output  # names load with the registries, not at --help
    r = runner.invoke(app, ["list", "targets"], env={"COLUMNS": "200"})
    assert "atoms64-r8" in r.output and "gaussian-16" in r.output
    r = runner.invoke(app, ["list", "experiments"], env={"COLUMNS": "200"})
    from scorelab.experiments import EXPERIMENTS

    assert len(EXPERIMENTS) >= 5
    for name in EXPERIMENTS:
        assert name in r.output


def test_readme_las_command_exports_to_diffusers_at_the_default_sigma_min(tmp_path):
    curve = tmp_path / "curve.json"
    r = runner.invoke(
        app,
        [
            "loss-curve",
            "--target",
            "gaussian-16",
            "--output",
            str(curve),
            "--error",
            "0.1",
            "--levels",
            "20",
            "--samples",
            "64",
        ],
    )
    assert r.exit_code == 0, r.output
    args = ["schedule", "las", "-k", "10", "--loss-curve", str(curve), "--smooth", "0.25"]
    r = runner.invoke(app, [*args, "--format", "diffusers"])
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["sigmas"]) == 12  # 11 levels and the final 0
    r = runner.invoke(app, [*args, "--format", "diffusers", "--beta-schedule", "scaled_linear"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, [*args, "--format", "diffusers", "--sigma-min", "0.002"])
    _one_line_error(r, "outside the σ range", "('linear' β schedule)")


def test_training_that_does_not_lower_the_loss_says_so(tmp_path):
    r = runner.invoke(
        app,
        ["train", "--data", "ring8", "--tiny", "--steps", "1", "--out", str(tmp_path / "m")],
    )
    assert r.exit_code == 0, r.output
    assert "did not go down" in " ".join(r.output.split())


# --- bench: one bad cell never stops a sweep ----------------------------------------------


def test_suite_with_an_unsupported_sigma_range_is_rejected_at_load(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        'name = "bad"\nsamples = 64\nseeds = [0]\nnfe = [5]\nsigma_max = 1e30\n'
        'samplers = ["euler"]\n[[targets]]\nname = "gaussian-16"\n'
    )
    with pytest.raises(ValueError, match=r"bad.toml.*sigma_min, sigma_max = 0.002, 1e\+30"):
        load_suite(str(path))


def test_a_failing_cell_is_recorded_and_the_sweep_completes(tmp_path):
    path = tmp_path / "mixed.toml"
    # dpm_2 needs 3 queries for its shortest grid: at NFE 2 it cannot run; euler can
    path.write_text(
        'name = "mixed"\nsamples = 64\nseeds = [0]\nnfe = [2, 4]\n'
        'samplers = ["dpm_2", "euler"]\nschedules = ["karras"]\n[[targets]]\nname = "gaussian-16"\n'
    )
    suite = load_suite(str(path))
    with ResultStore(tmp_path / "r.duckdb") as store:
        ran = run_suite(suite, store)
        failed = store.failures()
        assert ran == 4 and len(failed) == 1
        assert "dpm_2" in failed[0]["method"] and "cannot run within NFE 2" in failed[0]["message"]
        assert len(store.dataframe_rows()) == 3
        assert run_suite(suite, store) == 0  # failed cells are not retried unless asked
        assert run_suite(suite, store, retry_failed=True) == 1
        assert len(store.failures()) == 1
        md = write_report(store, tmp_path / "rep").read_text()
    # the report lists the failed cell with its error, and still draws the cells that ran
    assert "## Failed cells (1)" in md and "cannot run within NFE 2" in md
    assert "Failed cells (1)" in (tmp_path / "rep" / "report.html").read_text()


def test_bench_cli_reports_failed_cells_and_fails_when_all_fail(tmp_path):
    path = tmp_path / "mixed.toml"
    suite = (
        'name = "mixed"\nsamples = 64\nseeds = [0]\nnfe = [2]\n'
        'samplers = [{}]\nschedules = ["karras"]\n[[targets]]\nname = "gaussian-16"\n'
    )
    path.write_text(suite.format('"dpm_2", "euler"'))
    db = tmp_path / "r.duckdb"
    t0 = time.perf_counter()
    r = runner.invoke(app, ["bench", "--suite", str(path), "--db", str(db), "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert "1 failed cells" in r.output and time.perf_counter() - t0 < 60
    path.write_text(suite.format('"dpm_2"').replace("mixed", "broken"))
    r = runner.invoke(app, ["bench", "--suite", str(path), "--db", str(db), "--workers", "1"])
    assert r.exit_code == 1, r.output
    text = " ".join(r.output.split())
    assert "every cell of suite broken failed" in text and "cannot run within NFE 2" in text


# --- one-line errors and exit codes that mean something --------------------------------------


@pytest.mark.parametrize(
    "args, needles",
    [
        (["schedule", "karras", "--output", "{tmp}"], ["is a directory"]),
        (["schedule", "karras", "--output", "{file}/x.json"], ["is not a directory"]),
        (["loss-curve", "--output", "{tmp}", "--levels", "4"], ["is a directory"]),
        (["report", "--out", "{file}", "--db", "{db}"], ["is a file"]),
    ],
)
def test_unwritable_output_paths_are_one_line_errors_before_any_work(tmp_path, args, needles):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    db = tmp_path / "r.duckdb"
    ResultStore(db).close()
    args = [a.format(tmp=tmp_path, file=blocker, db=db) for a in args]
    r = runner.invoke(app, args)
    _one_line_error(r, *needles)
    assert not list(tmp_path.glob("*.tmp"))


def test_bad_numbers_are_refused_when_the_command_line_is_parsed():
    r = runner.invoke(app, ["demo", "--seed", "-1"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    for value in ("nan", "inf", "-1"):
        r = runner.invoke(app, ["bench", "--score-error", value])
        assert r.exit_code == 2 and "finite number >= 0" in " ".join(r.output.split())


def test_string_sigma_is_refused():
    target = get_target("gaussian-16")
    with pytest.raises(TypeError, match=r"the string '1\.0'"):
        target.denoise(torch.zeros(2, 16), "1.0")


def test_damaged_and_truncated_results_files_say_so(tmp_path):
    db = tmp_path / "good.duckdb"
    with ResultStore(db) as store:
        store.con.execute("CREATE TABLE filler AS SELECT range AS x FROM range(200000)")
    data = bytearray(db.read_bytes())
    damaged, truncated = tmp_path / "damaged.duckdb", tmp_path / "truncated.duckdb"
    data[8192 : 8192 + 4096] = bytes(4096)
    damaged.write_bytes(bytes(data))
    truncated.write_bytes(bytes(data[:5000]))
    for bad in (damaged, truncated):
        r = runner.invoke(app, ["report", "--db", str(bad), "--out", str(tmp_path / "rep")])
        _one_line_error(r, bad.name, "damaged or not a DuckDB results file", "move it aside")


def test_a_bench_whose_every_cell_fails_exits_non_zero(tmp_path, monkeypatch):
    monkeypatch.setenv("SCORELAB_SMOKE", "1")
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"\x00" * 64)
    r = runner.invoke(
        app, ["bench", "--suite", "digits", "--model", str(bad), "--db", str(tmp_path / "r.duckdb")]
    )
    assert r.exit_code == 1, r.output
    assert "model.safetensors is not a readable safetensors file" in " ".join(r.output.split())
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)


def test_long_steps_report_progress_off_a_terminal(capsys):
    """Output not on a terminal (CI, nohup, pipes): a start line, a line every few seconds while
    the step runs, and an end line — never a silent wait."""
    from scorelab.cli import _working

    with _working("a long step", every_s=0.05):
        time.sleep(0.3)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].endswith("a long step ...")
    assert sum("still working" in line for line in lines) >= 3
    assert "done in" in lines[-1]
