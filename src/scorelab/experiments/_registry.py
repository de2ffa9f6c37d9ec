"""The experiment registry: each experiment module declares itself with :func:`register`.

Adding an experiment means writing one module in this package that ends with
``EXPERIMENT = register(Experiment(name=..., ...))``; the package imports every module, so the
CLI, ``benchmarks/experiment.py`` and the README generator find it without further edits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["EXPERIMENTS", "Experiment", "get_experiment", "register"]


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """Args:
    name: the CLI name (``scorelab experiment NAME``) and the README marker ``EXP-NAME``.
    config: a dataclass; ``config()`` is the full run, ``config.fast()`` the CI-sized one.
    run: ``run(cfg, on_row=None) -> rows`` (``on_row`` is called with each finished row).
    summarize: rows → ``{case: {quantity: value}}``.
    summary_rows: summary → ``(case, quantity, text)`` rows for the CLI and README tables.
    figure: ``figure(rows, path)`` draws the experiment's figure.
    label: a one-line progress label of a row.
    claim: the claim tested, with its paper.
    extra_table: optional rows → markdown table for the README.
    row_key: optional row → hashable identity, so rows of several partial runs can be merged
        (the first run's row wins).
    """

    name: str
    config: type
    run: Callable[..., list[dict]]
    summarize: Callable[[list[dict]], dict]
    summary_rows: Callable[[dict], list[tuple[str, str, str]]]
    figure: Callable[..., object]
    label: Callable[[dict], str]
    claim: str
    extra_table: Callable[[list[dict]], str] | None = None
    row_key: Callable[[dict], object] | None = None


#: name -> experiment, filled by the modules' :func:`register` calls
EXPERIMENTS: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    """Add ``experiment`` to :data:`EXPERIMENTS` (a name may be registered once)."""
    if experiment.name in EXPERIMENTS:
        raise ValueError(f"experiment {experiment.name!r} is registered twice")
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def get_experiment(name: str) -> Experiment:
    """Look an experiment up by name."""
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ValueError(
            f"unknown experiment {name!r}; implemented: {', '.join(EXPERIMENTS)}"
        ) from None
