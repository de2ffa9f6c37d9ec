"""The command line starts at once: heavy libraries load inside the commands that need them.

(Timings are measured by ``benchmarks/cli_startup.py``; this test holds the cause.)"""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

HEAVY = ("torch", "diffusers", "scipy.stats", "matplotlib", "scorelab.experiments", "duckdb")


def test_importing_the_cli_loads_no_heavy_library():
    code = f"import sys, scorelab.cli\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import scorelab.cli loads {out.stdout.strip()}"


def test_the_package_exports_load_on_first_use():
    code = (
        "import sys, scorelab\n"
        "assert 'torch' not in sys.modules\n"
        "print(scorelab.Schedule.__name__, scorelab.optimize_schedule.__name__)\n"
        "assert 'torch' in sys.modules"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["Schedule", "optimize_schedule"]


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["demo"],
        ["bench"],
        ["report"],
        ["schedule"],
        ["loss-curve"],
        ["train"],
        ["experiment"],
        ["list"],
    ],
)
def test_every_help_page_renders(command):
    from scorelab.cli import app

    r = CliRunner().invoke(app, [*command, "--help"])
    assert r.exit_code == 0, r.output
    assert "Usage" in r.output


@pytest.mark.parametrize("what", ["samplers", "schedules", "targets", "experiments"])
def test_list_names_every_registry_entry(what):
    from scorelab.cli import app

    r = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["list", what])
    assert r.exit_code == 0, r.output
    if what == "samplers":
        from scorelab.samplers import SAMPLERS as names
    elif what == "schedules":
        from scorelab.schedules import LOSS_SCHEDULES, SCHEDULES

        names = [*SCHEDULES, *LOSS_SCHEDULES, "optimize"]
        assert "build" not in r.output and "._" not in r.output  # public functions only
    elif what == "targets":
        from scorelab.targets import PRESETS as names
    else:
        from scorelab.experiments import EXPERIMENTS as names
    for name in names:
        assert name in r.output
    assert CliRunner().invoke(app, ["list", "cats"]).exit_code == 2
