"""Runnable reproductions of the theory claims (``scorelab experiment NAME``).

Implemented: ``dimension-free`` (:mod:`.dimension_free`). The acceleration, query-lower-bound and
learned-model LAS experiments of the roadmap are not implemented yet.
"""

from .dimension_free import DimensionFreeConfig, run_dimension_free, summarize, summary_rows
from .store import write_experiment

EXPERIMENTS = ("dimension-free",)

__all__ = [
    "EXPERIMENTS",
    "DimensionFreeConfig",
    "run_dimension_free",
    "summarize",
    "summary_rows",
    "write_experiment",
]
