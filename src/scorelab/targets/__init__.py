"""Exact-score targets: data laws whose noised marginals are known in closed form."""

from .base import MonteCarloEstimate, Target
from .discrete import Discrete, Empirical
from .gaussian import Gaussian
from .mixture import GaussianMixture
from .presets import PRESETS, get_target, ring8_target

__all__ = [
    "PRESETS",
    "Discrete",
    "Empirical",
    "Gaussian",
    "GaussianMixture",
    "MonteCarloEstimate",
    "Target",
    "get_target",
    "ring8_target",
]
