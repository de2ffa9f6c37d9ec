"""Bench worker processes: they die with their parent; Ctrl-C stops a sweep within seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")

SWEEP = textwrap.dedent(
    """
    import time
    from scorelab.bench import runner
    from scorelab.bench.config import Cell

    def slow(cell, *args):
        time.sleep(120)
        return {}

    runner.run_cell = slow  # the forked workers inherit it
    cells = [Cell("gaussian-16", "scorelab:ddpm", "karras", 10, s, 0.0, 8, 0.002, 80.0)
             for s in range(6)]
    for row in runner.run_cells(cells, workers=2):
        pass
    """
)


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text().split()
        out.extend(int(c) for c in text)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def start_sweep(tmp_path) -> tuple[subprocess.Popen, list[int]]:
    script = tmp_path / "sweep.py"
    script.write_text(SWEEP)
    # as from a terminal: SIGINT at its default (a test runner may have set it to ignored, and
    # an ignored disposition is inherited across exec, so Python would never see Ctrl-C)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        kids = children(proc.pid) if proc.poll() is None else []
        if len(kids) >= 2:
            return proc, kids
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the sweep did not start its 2 workers")


def wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def test_killing_the_parent_leaves_no_worker(tmp_path):
    proc, workers = start_sweep(tmp_path)
    time.sleep(1.0)  # the workers are inside their cells now
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    left = wait_gone(workers, 10)
    for p in left:  # do not leak them into the rest of the run
        os.kill(p, signal.SIGKILL)
    assert not left, f"workers {left} outlived their killed parent"


def test_ctrl_c_stops_the_sweep_within_seconds(tmp_path):
    proc, workers = start_sweep(tmp_path)
    time.sleep(1.0)
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    proc.wait(15)
    assert time.monotonic() - t0 < 5, "Ctrl-C waited for the running cells"
    assert proc.returncode != 0
    assert not wait_gone(workers, 5)
