"""Fréchet distance and digits quality metrics on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scorelab.data import digits_split
from scorelab.image_metrics import digits_quality, frechet_distance


def test_frechet_distance_known_answers():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((500, 4))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    # equal covariances: FD is exactly the squared mean shift
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift @ shift), rel=1e-8)
    # scaled copy: Σ_b = c² Σ_a and μ_b = c μ_a, so FD = (1 − c)² (‖μ_a‖² + tr Σ_a)
    c = 3.0
    mu = a.mean(0)
    expected = (1 - c) ** 2 * (mu @ mu + np.trace(np.cov(a, rowvar=False)))
    assert frechet_distance(a, c * a) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="equal k"):
        frechet_distance(a, a[:, :3])
    with pytest.raises(ValueError, match="finite"):
        frechet_distance(np.full((3, 4), np.nan), a)


def test_digits_quality_separates_real_digits_from_noise():
    test, labels = digits_split("test")
    real = digits_quality(torch.as_tensor(test))
    assert real["fd"] == pytest.approx(real["fd_floor"])  # the test split *is* the floor
    assert real["coverage"] == 1.0 and real["class_tv"] < 0.1
    noise = digits_quality(torch.rand(360, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    assert noise["fd"] > 10 * real["fd"]
    # a generator that only produces zeros and ones covers 2 of 10 classes
    only = test[np.isin(labels, [0, 1])]
    collapsed = digits_quality(torch.as_tensor(only))
    assert collapsed["coverage"] == pytest.approx(0.2) and collapsed["class_tv"] > 0.7
    with pytest.raises(ValueError, match="digits samples"):
        digits_quality(torch.zeros(5, 63))


def test_digits_fd_bootstrap_spread_is_reproducible_and_shrinks_with_more_samples():
    test, _ = digits_split("test")
    x = torch.as_tensor(test)
    full = digits_quality(x, bootstrap=12, seed=3)
    assert full == digits_quality(x, bootstrap=12, seed=3)
    assert "fd_sd" not in digits_quality(x)
    quarter = digits_quality(x[: len(x) // 4], bootstrap=12, seed=3)
    assert 0 < full["fd_sd"] < full["fd"]
    # the FD of n samples fluctuates like 1/sqrt(n): a quarter of the samples, about twice the sd
    assert 1.3 * full["fd_sd"] < quarter["fd_sd"] < 4 * full["fd_sd"]
