"""Runnable reproductions of the theory claims (``scorelab experiment NAME``).

:data:`EXPERIMENTS` maps each name to an :class:`Experiment`: its config class (``Config()`` is the
full run, ``Config.fast()`` the CI-sized one), the function producing rows, the summary (fitted
constants / exponents / win counts), its text rows, the figure, and a one-line progress label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import acceleration, dimension_free, gmm_entropy, las_learned, query_lower_bound
from .acceleration import AccelerationConfig, run_acceleration
from .dimension_free import DimensionFreeConfig, run_dimension_free, summarize, summary_rows
from .figures import (
    acceleration_figure,
    dimension_free_figure,
    las_learned_figure,
    query_lower_bound_figure,
)
from .las_learned import LasLearnedConfig, run_las_learned
from .query_lower_bound import QueryLowerBoundConfig, run_query_lower_bound
from .store import write_experiment


@dataclass(frozen=True)
class Experiment:
    name: str
    config: type
    run: Callable[..., list[dict]]
    summarize: Callable[[list[dict]], dict]
    summary_rows: Callable[[dict], list[tuple[str, str, str]]]
    figure: Callable[..., object]
    label: Callable[[dict], str]
    claim: str
    #: optional extra markdown table of the rows (README)
    extra_table: Callable[[list[dict]], str] | None = None


EXPERIMENTS: dict[str, Experiment] = {
    "dimension-free": Experiment(
        "dimension-free",
        DimensionFreeConfig,
        run_dimension_free,
        dimension_free.summarize,
        dimension_free.summary_rows,
        dimension_free_figure,
        lambda r: f"{r['geometry']} H={r['entropy']:.2f} d={r['dim']} {r['grid']}",
        "steps to a fixed error scale with the entropy H, not the dimension d (2601.21943)",
        dimension_free.steps_table,
    ),
    "gmm-entropy": Experiment(
        "gmm-entropy",
        gmm_entropy.GmmEntropyConfig,
        gmm_entropy.run_gmm_entropy,
        gmm_entropy.summarize,
        gmm_entropy.summary_rows,
        gmm_entropy.gmm_entropy_figure,
        lambda r: (
            f"{r['sweep']} {r['covariance']} H={r['entropy']:.2f} n={r['components']} "
            f"d={r['dim']} M2={r['second_moment']:.3g} K*={r['steps_latent']}"
        ),
        "for Gaussian mixtures the steps grow linearly in the latent entropy H and only "
        "logarithmically in the second moment, not with d (2605.07969)",
    ),
    "acceleration": Experiment(
        "acceleration",
        AccelerationConfig,
        run_acceleration,
        acceleration.summarize,
        acceleration.summary_rows,
        acceleration_figure,
        lambda r: f"{r['kind']} d={r['dim']} {r['sampler']} NFE={r['nfe']}",
        "accelerated samplers need fewer score queries than DDPM-type ones "
        "(2410.23285, 2403.03852, 2406.00924)",
    ),
    "query-lower-bound": Experiment(
        "query-lower-bound",
        QueryLowerBoundConfig,
        run_query_lower_bound,
        query_lower_bound.summarize,
        query_lower_bound.summary_rows,
        query_lower_bound_figure,
        lambda r: (
            f"d={r.get('dim')} {r['sampler']} {r.get('schedule', '')} "
            f"{r.get('oracle', '')} K={r.get('steps')}"
        ),
        "score queries and distinct noise levels grow like √d (2604.10857)",
        query_lower_bound.exponent_table,
    ),
    "las-learned": Experiment(
        "las-learned",
        LasLearnedConfig,
        run_las_learned,
        las_learned.summarize,
        las_learned.summary_rows,
        las_learned_figure,
        lambda r: f"{r['error']} K={r['steps']} {r['grid']} {r['sampler']}",
        "LAS from the measured loss curve beats the heuristic schedules (2601.21943)",
    ),
}


def record(exp: Experiment, rows: list[dict], db: str, out: str) -> tuple[dict, Path]:
    """Summarise ``rows``, store them (:func:`write_experiment`) and draw the figure
    ``out/NAME.png``; returns the summary and the output folder."""
    summary = exp.summarize(rows)
    folder = write_experiment(exp.name, rows, summary, db, out)
    exp.figure(rows, folder / f"{exp.name}.png")
    return summary, folder


def get_experiment(name: str) -> Experiment:
    """Look an experiment up by name."""
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ValueError(
            f"unknown experiment {name!r}; implemented: {', '.join(EXPERIMENTS)}"
        ) from None


__all__ = [
    "EXPERIMENTS",
    "AccelerationConfig",
    "DimensionFreeConfig",
    "Experiment",
    "LasLearnedConfig",
    "QueryLowerBoundConfig",
    "get_experiment",
    "record",
    "run_acceleration",
    "run_dimension_free",
    "run_las_learned",
    "run_query_lower_bound",
    "summarize",
    "summary_rows",
    "write_experiment",
]
