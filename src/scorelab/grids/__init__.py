"""Which σ grid runs: scorelab's recommendation for a sampler and a budget, measured on a proxy.

* :mod:`.proxy` — :class:`TrajectoryProxy`: a sampler's error on a grid, measured on the
  user's own model as the distance to its converged solution from the same noise (floor-free;
  stochastic samplers on per-sample Brownian paths).
* :mod:`.optimize` — :func:`optimize_grid`: the standard and curve-built candidates, measured
  on the proxy (on images, ODE choices guarded by the law distance), the best refined with a
  held-out check; :func:`steps_within` (budget → K).
* :mod:`.gauss_opt` — :func:`gaussian_optimized_schedule` (``gauss-opt``): a sampler's exact
  output KL minimised on the Gaussian surrogate of a loss curve.

This package sits above ``samplers`` and ``schedules`` (it runs samplers on grids) and below
``bench`` and ``cli``.
"""

from .gauss_opt import gauss_opt_builder, gaussian_optimized_schedule
from .optimize import (
    CURVE_ONLY,
    DENOISE_POINTS,
    FLOW_STANDARD,
    FROM_CURVE,
    LAW_LEADERS,
    LAW_SLACK,
    STANDARD,
    OptimizedGrid,
    candidate_grids,
    optimize_grid,
    proxy_for,
    steps_within,
)
from .proxy import (
    REFERENCE_SAMPLER,
    SurrogateProxy,
    TrajectoryProxy,
    detail_ratio,
    fit_mixture_surrogate,
)

__all__ = [
    "CURVE_ONLY",
    "DENOISE_POINTS",
    "FLOW_STANDARD",
    "FROM_CURVE",
    "LAW_LEADERS",
    "LAW_SLACK",
    "REFERENCE_SAMPLER",
    "STANDARD",
    "OptimizedGrid",
    "SurrogateProxy",
    "TrajectoryProxy",
    "candidate_grids",
    "detail_ratio",
    "fit_mixture_surrogate",
    "gauss_opt_builder",
    "gaussian_optimized_schedule",
    "optimize_grid",
    "proxy_for",
    "steps_within",
]
