"""``SCORELAB_SMOKE=1``: every long command runs a seconds-sized version of itself.

Used by the test that executes every shell command of README.md (``tests/test_readme.py``): the
commands run exactly as written, only smaller (fewer samples, levels, cells, training steps).
Results of a smoke run are not meant to be read; every figure in the README comes from a full
run."""

from __future__ import annotations

import os

__all__ = ["smoke", "smoke_scaled"]


def smoke() -> bool:
    """Whether ``SCORELAB_SMOKE`` is set to anything but empty or ``0``."""
    return os.environ.get("SCORELAB_SMOKE", "") not in ("", "0")


def smoke_scaled(full: int, small: int) -> int:
    """``small`` in a smoke run, ``full`` otherwise."""
    return small if smoke() else full
