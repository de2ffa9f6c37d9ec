"""Named targets used by the command line, benchmarks and docs."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .base import Target
from .discrete import Discrete, Empirical
from .gaussian import Gaussian
from .mixture import GaussianMixture

__all__ = ["PRESETS", "get_target", "ring8_target"]


def ring8_target() -> GaussianMixture:
    """The exact law of the ``ring8`` data set (:mod:`scorelab.data`): eight equal Gaussians of
    variance 2·0.05² per axis on the circle of radius √2 (exact denoiser and mmse, so a trained
    model's excess loss can be measured)."""
    k = np.arange(8)
    means = np.sqrt(2) * np.stack([np.cos(k * np.pi / 4), np.sin(k * np.pi / 4)], 1)
    return GaussianMixture(np.full(8, 1 / 8), means, variances=2 * 0.05**2)


def _gmm2(dim: int = 1000) -> GaussianMixture:
    """Two equal-weight isotropic components at ±0.5·1 with variance 0.25 per coordinate."""
    mu = np.full(dim, 0.5)
    return GaussianMixture([0.5, 0.5], np.stack([mu, -mu]), [0.25, 0.25])


PRESETS: dict[str, Callable[[], Target]] = {
    # 64 equally likely atoms with i.i.d. N(0, 1) coordinates in R^8: H = H_½ = log 64
    "atoms64-r8": lambda: Discrete.random_code(64, 8, scale=math.sqrt(8), seed=0),
    # N(0, 0.25 I) in d = 3072 (CIFAR-sized), las.md §4
    "gaussian-3072": lambda: Gaussian(np.zeros(3072), 0.25),
    "gaussian-16": lambda: Gaussian(np.zeros(16), np.linspace(0.25, 2.0, 16)),
    "gmm2-1000": _gmm2,
    "digits": Empirical.digits,
}


def get_target(name: str) -> Target:
    """Build the preset target ``name``."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown target {name!r}; choose from {sorted(PRESETS)}") from None
