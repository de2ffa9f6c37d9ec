"""Runnable reproductions of the theory claims (``scorelab experiment NAME``).

Every module of this package (except the ``_``-prefixed helpers, ``figures`` and ``store``)
declares its experiment with :func:`register`; importing the package imports them all, so
:data:`EXPERIMENTS` (name → :class:`Experiment`) is complete. ``Config()`` is an experiment's
full run, ``Config.fast()`` the CI-sized one.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from ._registry import EXPERIMENTS, Experiment, get_experiment, register
from .store import write_experiment

_HELPERS = {"figures", "store"}
for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name not in _HELPERS:
        importlib.import_module(f"{__name__}.{_module.name}")

# the names the tests and notebooks import from the package (not needed to add an experiment)
from .acceleration import AccelerationConfig, run_acceleration  # noqa: E402
from .dimension_free import (  # noqa: E402
    DimensionFreeConfig,
    run_dimension_free,
    summarize,
    summary_rows,
)
from .gmm_entropy import GmmEntropyConfig, run_gmm_entropy  # noqa: E402
from .las_learned import LasLearnedConfig, run_las_learned  # noqa: E402
from .query_lower_bound import QueryLowerBoundConfig, run_query_lower_bound  # noqa: E402


def record(exp: Experiment, rows: list[dict], db: str, out: str) -> tuple[dict, Path]:
    """Summarise ``rows``, store them (:func:`write_experiment`) and draw the figure
    ``out/NAME.png``; returns the summary and the output folder."""
    summary = exp.summarize(rows)
    folder = write_experiment(exp.name, rows, summary, db, out)
    exp.figure(rows, folder / f"{exp.name}.png")
    return summary, folder


__all__ = [
    "EXPERIMENTS",
    "AccelerationConfig",
    "DimensionFreeConfig",
    "Experiment",
    "GmmEntropyConfig",
    "LasLearnedConfig",
    "QueryLowerBoundConfig",
    "get_experiment",
    "record",
    "register",
    "run_acceleration",
    "run_dimension_free",
    "run_gmm_entropy",
    "run_las_learned",
    "run_query_lower_bound",
    "summarize",
    "summary_rows",
    "write_experiment",
]
