"""Every shell command of README.md runs as written and exits 0.

The commands run in a scratch copy of the repository's README and benchmarks/ (so that nothing
of the checkout is overwritten), in order (later commands use files written by earlier ones),
with ``SCORELAB_SMOKE=1`` so that the long ones (benchmark suites, oracle-LAS, training, the
digits table) run a seconds-sized version of themselves (``scorelab._smoke``). The set-up block
(the install command and ``pytest``) is what CI itself runs, so it is checked to be there but not
run again from inside the tests."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP = ("pip install", "pytest")


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def test_readme_has_the_setup_commands_ci_runs():
    commands = readme_commands()
    assert any(c.startswith("pip install torch==2.13.0") for c in commands)
    assert "pytest" in commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pytest" in ci and "torch==2.13.0" in ci


def test_every_readme_command_runs(tmp_path):
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copytree(ROOT / "benchmarks", tmp_path / "benchmarks")
    env = dict(os.environ, SCORELAB_SMOKE="1", COLUMNS="120")
    ran = 0
    for command in readme_commands():
        if command.startswith(SETUP):
            continue
        args = shlex.split(command)
        result = subprocess.run(
            args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, (
            f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        )
        assert "Traceback" not in result.stderr, command
        ran += 1
    assert ran >= 10


@pytest.mark.parametrize("command", [c for c in readme_commands() if not c.startswith(SETUP)])
def test_readme_commands_name_real_entry_points(command):
    head = shlex.split(command)[0]
    assert head in ("scorelab", "python"), command
