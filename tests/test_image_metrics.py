"""Fréchet distance and digits quality metrics on cases with known answers."""

from __future__ import annotations

import itertools

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
    # one feature (np.cov gives a 0-d array): FD = (μ_a − μ_b)² + (s_a − s_b)²
    x = a[:, :1]
    s = float(np.std(x, ddof=1))
    assert frechet_distance(x, 2 * x + 1) == pytest.approx(
        (float(x.mean()) + 1) ** 2 + s**2, rel=1e-10
    )
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


@pytest.mark.slow
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


def _smooth_images(n: int, seed: int) -> torch.Tensor:
    """Random low-frequency 28×28 images in [−1, 1] (no data set needed)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(n, 1, 7, 7, generator=g)
    return torch.nn.functional.interpolate(coarse, size=28, mode="bilinear").tanh()


def test_fashion_reference_statistics_are_consistent():
    from scorelab.image_metrics import fashion_floor, load_fashion_classifier

    _, stats = load_fashion_classifier()
    assert stats["mean"].shape == (64,) and stats["cov"].shape == (64, 64)
    assert np.allclose(stats["cov"], stats["cov"].T)
    assert np.linalg.eigvalsh(stats["cov"]).min() > -1e-9
    assert stats["freq"].sum() == pytest.approx(1.0) and np.allclose(stats["freq"], 0.1)
    assert stats["accuracy"] > 0.85  # held-out accuracy recorded when it was trained
    floors = [fashion_floor(n) for n in stats["floor_n"].astype(int)]
    assert floors == pytest.approx(list(stats["floor_fd"]))
    assert all(a > b for a, b in itertools.pairwise(floors))  # bias falls with n
    # between table points the floor is linear in 1/n
    n0, n1 = stats["floor_n"][:2]
    mid = 2 / (1 / n0 + 1 / n1)
    assert fashion_floor(round(mid)) == pytest.approx(np.mean(floors[:2]), rel=1e-3)
    # below the table the floor keeps growing like 1/n, above it keeps falling (never below 0)
    assert fashion_floor(64) > 2 * floors[0]
    assert 0 <= fashion_floor(40_000) < floors[-1]


def test_fashion_quality_scores_structure_and_refuses_bad_input():
    from scorelab.image_metrics import fashion_quality

    noise = fashion_quality(torch.rand(600, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    assert noise["n"] == 600 and noise["fd"] > 50 * noise["fd_floor"]
    assert 0 <= noise["coverage"] <= 1 and 0 <= noise["class_tv"] <= 1
    flat = fashion_quality(torch.rand(600, 784, generator=torch.Generator().manual_seed(0)))
    assert flat["fd"] == pytest.approx(noise["fd"])
    with pytest.raises(ValueError, match=r"Fashion-MNIST samples must be .*\(5, 1, 8, 8\)"):
        fashion_quality(torch.zeros(5, 1, 8, 8))
    bad = torch.zeros(10, 1, 28, 28)
    bad[3, 0, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        fashion_quality(bad)


@pytest.mark.slow
def test_fashion_fd_bootstrap_spread_shrinks_like_one_over_sqrt_n():
    from scorelab.image_metrics import fashion_quality

    big = fashion_quality(_smooth_images(3200, 0), bootstrap=16, seed=1)
    small = fashion_quality(_smooth_images(800, 0), bootstrap=16, seed=1)
    assert big == fashion_quality(_smooth_images(3200, 0), bootstrap=16, seed=1)
    # a quarter of the samples: about twice the spread
    assert 1.3 * big["fd_sd"] < small["fd_sd"] < 4 * big["fd_sd"]
