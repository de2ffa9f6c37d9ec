"""Helpers of the benchmark scripts whose numbers the result pages rest on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("components", [3, 6])
def test_mass_kl_resolution_is_what_exact_draws_reach_by_chance(monkeypatch, components):
    """The component-mass KL of n exact draws stays below ``mass_kl_resolution`` (mean + 2 sd
    of χ²_{k−1}/(2n)) in about 95–99 % of repeats, and its mean is (k − 1)/(2n)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from optimize_measured import mass_kl_resolution

    rng = np.random.default_rng(0)
    n = 1 << 12
    w = rng.dirichlet(np.full(components, 3.0))
    q = rng.multinomial(n, w, size=4000) / n
    kl = (w * (np.log(w) - np.log(np.maximum(q, 0.5 / n)))).sum(axis=1)
    below = (kl <= mass_kl_resolution(components, n)).mean()
    assert 0.93 <= below <= 0.995
    assert kl.mean() == pytest.approx((components - 1) / (2 * n), rel=0.15)
