"""Every shell command and Python block of README.md and of the docs pages runs as written.

The commands run in a scratch copy of the repository's README, docs/ and benchmarks/ (so that
nothing of the checkout is overwritten), in order — the README, then the pages in the order of
the site's navigation — because later commands use files written by earlier ones, with
``SCORELAB_SMOKE=1`` so that the long ones (benchmark suites, oracle-LAS, training, the digits
table) run a seconds-sized version of themselves (``scorelab._smoke``). Each command prints one
line as it starts and ends (``pytest -s`` shows them). The set-up block (the install command and
``pytest``) is what CI itself runs, so it is checked to be there but not run again from inside
the tests."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

# every README and docs command, about 2 min: in the default run, not in the fast loop
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SETUP = ("pip install", "pytest")


def pages() -> list[Path]:
    """README.md, then every docs page in the order of mkdocs.yml's navigation."""
    nav = re.findall(
        r"^\s*-\s*(?:[^:\n]+:\s*)?(\S+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M
    )
    return [ROOT / "README.md", *(ROOT / "docs" / page for page in nav)]


def readme_commands(kind: str = "bash") -> list[str]:
    """The shell lines (``kind="bash"``) or whole Python blocks (``"python"``) of every page."""
    commands = []
    for page in pages():
        for block in re.findall(rf"```{kind}\n(.*?)```", page.read_text(), flags=re.S):
            if kind == "python":
                commands.append(block)
                continue
            for line in block.splitlines():
                line = line.split(" #")[0].strip()
                if line and not line.startswith("#"):
                    commands.append(line)
    return commands


def _scratch(tmp_path: Path) -> dict:
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(ROOT / "benchmarks", tmp_path / "benchmarks")
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("*.png"))
    (tmp_path / "src" / "scorelab").mkdir(parents=True)
    shutil.copytree(ROOT / "src" / "scorelab" / "assets", tmp_path / "src" / "scorelab" / "assets")
    return dict(os.environ, SCORELAB_SMOKE="1", COLUMNS="120")


def _say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


def test_readme_has_the_setup_commands_ci_runs():
    commands = readme_commands()
    assert any(c.startswith("pip install torch==2.13.0") for c in commands)
    assert "pytest" in commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pytest" in ci and "torch==2.13.0" in ci


def test_every_readme_command_runs(tmp_path):
    env = _scratch(tmp_path)
    ran = 0
    for command in readme_commands():
        if command.startswith(SETUP):
            continue
        _say(f"run: {command}")
        t0 = time.perf_counter()
        args = shlex.split(command)
        result = subprocess.run(
            args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, (
            f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        )
        assert "Traceback" not in result.stderr, command
        _say(f"ok ({time.perf_counter() - t0:.0f} s)")
        ran += 1
    assert ran >= 10


@pytest.mark.parametrize("block", readme_commands("python"))
def test_every_python_block_runs(tmp_path, block):
    env = _scratch(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", block],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{block}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"


@pytest.mark.parametrize("command", [c for c in readme_commands() if not c.startswith(SETUP)])
def test_readme_commands_name_real_entry_points(command):
    head = shlex.split(command)[0]
    assert head in ("scorelab", "python"), command
