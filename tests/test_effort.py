"""Effort is an argument: the library reads no environment variable, the CLI reads
``SCORELAB_SMOKE`` in one module and passes ``effort`` down."""

from pathlib import Path

import pytest

import scorelab
from scorelab.bench.config import load_suite
from scorelab.effort import EFFORT, effort_settings

SRC = Path(scorelab.__file__).parent


def test_only_the_cli_reads_the_smoke_variable():
    readers = sorted(
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if "SCORELAB_SMOKE" in p.read_text() or "_smoke import" in p.read_text()
    )
    # _smoke.py defines the reader, cli.py calls it, effort.py and config.py document it
    assert set(readers) <= {"_smoke.py", "cli.py", "effort.py", "bench/config.py"}, readers
    for path in ("effort.py", "bench/config.py"):
        assert "os.environ" not in (SRC / path).read_text()


def test_every_effort_has_the_same_settings_and_smoke_is_smaller():
    keys = set(EFFORT["full"])
    assert all(set(v) == keys for v in EFFORT.values())
    full, smoke = EFFORT["full"], EFFORT["smoke"]
    for key in ("proxy_samples", "reference_steps", "surrogate", "curve_samples", "ays_samples"):
        assert smoke[key] < full[key]


def test_unknown_effort_is_a_one_line_error():
    with pytest.raises(ValueError, match="unknown effort 'quick'"):
        effort_settings("quick")


def test_smoke_suite_carries_its_effort_and_builders_check_it(monkeypatch):
    suite = load_suite("quick")
    assert suite.effort == "full" and suite.smoke().effort == "smoke"
    monkeypatch.delenv("SCORELAB_SMOKE", raising=False)
    from scorelab.curves import loss_curve_of

    with pytest.raises(ValueError, match="unknown effort"):
        loss_curve_of(target="gaussian-16", effort="none")
