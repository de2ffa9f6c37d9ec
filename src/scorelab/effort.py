"""How much a builder measures: ``full``, ``fast`` or ``smoke`` — an explicit argument of every
function whose cost is set by Monte-Carlo sizes (the curve builders of :mod:`scorelab.curves`,
``optimize``, the bench's curves and grids).

``full`` is what the result tables use. ``fast`` only changes ``optimize``: it answers in well
under a minute on a small image model on one CPU core (its choice can differ where candidates
are within a few %). ``smoke`` runs every path in seconds and its results are not meant to be
read; the CLI selects it when ``SCORELAB_SMOKE`` is set (the one place that reads it).

The library reads no environment variable: the effort is passed down as an argument.
"""

from __future__ import annotations

__all__ = ["EFFORT", "effort_settings"]

_FULL = {
    # optimize: noises of the trajectory proxy, levels of its converged reference, trial grids
    # of the refinement (None: one whole sweep), samples of a surrogate's output law, data
    # samples drawn from a built-in target for the surrogate fit
    "proxy_samples": 128,
    "reference_steps": 256,
    # the trajectory proxy's law distance: samples per side, levels of the model's law
    "law_samples": 1024,
    "law_reference_steps": 64,
    "refine_budget": None,
    "surrogate": 1 << 14,
    "data_samples": 4096,
    # a built-in target's exact mmse curve for the CLI's loss-curve schedules (samples per
    # level, levels) and for the bench's cells and the exact D (coarser: many cells share it)
    "curve_samples": 20_000,
    "curve_points": 2001,
    "bench_curve_samples": 4000,
    "bench_curve_points": 801,
    # candidate levels of the loss-curve DPs (None: the caller's)
    "candidates": None,
    # Align Your Steps' KLUB descent: samples, sweeps, candidates per node, nodes
    "ays_samples": 512,
    "ays_sweeps": 12,
    "ays_candidates": 12,
    "ays_nodes": 4,
}

#: the settings of each effort (module docstring)
EFFORT: dict[str, dict] = {
    "full": _FULL,
    "fast": {
        **_FULL,
        "proxy_samples": 16,
        "reference_steps": 64,
        "law_samples": 256,
        "law_reference_steps": 32,
        "refine_budget": 8,
        "surrogate": 4096,
    },
    "smoke": {
        "proxy_samples": 4,
        "reference_steps": 16,
        "law_samples": 16,
        "law_reference_steps": 16,
        "refine_budget": 0,
        "surrogate": 512,
        "data_samples": 256,
        "curve_samples": 256,
        "curve_points": 101,
        "bench_curve_samples": 256,
        "bench_curve_points": 101,
        "candidates": 100,
        "ays_samples": 64,
        "ays_sweeps": 1,
        "ays_candidates": 3,
        "ays_nodes": 2,
    },
}


def effort_settings(effort: str) -> dict:
    """The settings of ``effort`` (a key of :data:`EFFORT`); a one-line ValueError otherwise."""
    if effort not in EFFORT:
        raise ValueError(f"unknown effort {effort!r}; expected one of {sorted(EFFORT)}")
    return EFFORT[effort]
