"""Data sets shipped with the dependencies (nothing is downloaded at run time).

* ``digits``: scikit-learn's bundled 8×8 digits (1797 images, 10 classes), pixels 0..16 mapped to
  [−1, 1] (x/8 − 1), shape (N, 1, 8, 8), split 80 % train / 20 % test by a seeded permutation.
* ``moons``: scikit-learn's two moons in R², standardised (zero mean, unit variance per axis).
* ``ring8``: eight Gaussians (std 0.05·√2 ≈ 0.07) on a circle of radius √2 — unit second moment
  per axis; its exact law is :func:`scorelab.targets.ring8_target`.

This module is below :mod:`scorelab.targets` (which reads the digits from it) and imports none of
the package.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DATASETS", "digits_split", "load_dataset", "toy2d"]

DATASETS = ("digits", "moons", "ring8")


def _sklearn():
    try:
        import sklearn.datasets as ds
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("this data set needs scikit-learn (pip install scikit-learn)") from err
    return ds


def digits_split(split: str = "train", *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of the digits data: images float64 (N, 1, 8, 8) in [−1, 1]."""
    if split not in ("all", "train", "test"):
        raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")
    data = _sklearn().load_digits()
    images = data.images.astype(np.float64) / 8.0 - 1.0
    labels = data.target.astype(np.int64)
    if split != "all":
        perm = np.random.default_rng(seed).permutation(len(images))
        cut = int(0.8 * len(images))
        keep = perm[:cut] if split == "train" else perm[cut:]
        images, labels = images[keep], labels[keep]
    return images[:, None, :, :], labels


def toy2d(name: str, n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` points of a 2-D toy data set (float64, shape (n, 2))."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    if name == "moons":
        x, _ = _sklearn().make_moons(n, noise=0.05, random_state=seed)
        return (x - np.array([0.5, 0.25])) / np.array([0.87, 0.5])
    if name == "ring8":
        k = rng.integers(0, 8, n)
        centres = np.sqrt(2) * np.stack([np.cos(k * np.pi / 4), np.sin(k * np.pi / 4)], 1)
        return centres + 0.05 * np.sqrt(2) * rng.standard_normal((n, 2))
    raise ValueError(f"unknown toy data set {name!r}; expected 'moons' or 'ring8'")


def load_dataset(name: str, split: str = "train", *, seed: int = 0) -> np.ndarray:
    """Samples of a named data set (digits: its split; toy sets: 20 000 train / 5 000 test
    points from disjoint seeds)."""
    if name == "digits":
        return digits_split(split, seed=seed)[0]
    if name in ("moons", "ring8"):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        return toy2d(name, 20_000 if split == "train" else 5_000, seed=seed + (split == "test"))
    raise ValueError(f"unknown data set {name!r}; expected one of {DATASETS}")
