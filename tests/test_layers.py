"""Import layering: lower layers never pull in higher ones."""

from __future__ import annotations

import subprocess
import sys

import pytest

#: module -> packages it must not load (directly or through its imports)
FORBIDDEN = {
    "scorelab.samplers": (
        "scorelab.schedules",
        "scorelab.theory",
        "scorelab.loss_curve",
        "scorelab.grids",
    ),
    "scorelab.targets": ("scorelab.samplers", "scorelab.schedules", "scorelab.theory"),
    "scorelab.schedules": (
        "scorelab.samplers",
        "scorelab.bench",
        "scorelab.experiments",
        "scorelab.loss_curve",
    ),
    "scorelab.methods": ("scorelab.bench", "scorelab.experiments", "scorelab.cli"),
    "scorelab.grids": ("scorelab.bench", "scorelab.experiments", "scorelab.cli", "scorelab.curves"),
    # exact laws only: the schedules built on them (gauss-opt) live in grids
    "scorelab.exact": ("scorelab.grids", "scorelab.bench", "scorelab.curves", "scorelab.cli"),
    # the peers sit low: they run on any denoiser and know nothing of models, grids or the bench
    "scorelab.compat.diffusers": ("scorelab.models", "scorelab.grids", "scorelab.bench"),
    "scorelab.compat.k_diffusion": ("scorelab.models", "scorelab.grids", "scorelab.bench"),
    # the library's metric table is complete without the bench (no registration at import)
    "scorelab.metrics": ("scorelab.bench", "scorelab.grids", "scorelab.cli"),
}


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_higher_ones(module):
    code = (
        f"import sys, {module}\n"
        f"bad = [m for m in {FORBIDDEN[module]!r} if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} loads {out.stdout.strip()}"


@pytest.mark.parametrize("module", ["scorelab.data", "scorelab.effort"])
def test_leaf_modules_import_nothing_of_the_package(module):
    """``targets`` reads the digits from ``data``, every builder reads its sizes from
    ``effort``; neither imports anything of the package (no cycle, not even a function-local
    one)."""
    import ast
    import importlib
    from pathlib import Path

    tree = ast.parse(Path(importlib.import_module(module).__file__).read_text())
    relative = [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.level > 0 or "scorelab" in (node.module or ""))
    ]
    assert relative == []
