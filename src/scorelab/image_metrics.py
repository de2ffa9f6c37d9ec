"""Sample quality on the digits and Fashion-MNIST data: a Fréchet distance in the feature space
of a small classifier trained on the data's training split, and classifier-based mode coverage.

The classifier (:class:`DigitsClassifier`: MLP 64 → 256 → 64 → 10, features = the 64-unit
penultimate layer after its ReLU) is trained on the digits *training* split only by
``benchmarks/make_digits_classifier.py`` and shipped as ``scorelab/assets/digits_classifier
.safetensors``; the script prints its held-out accuracy.

* Fréchet distance (Heusel et al. 2017): FD = ‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2(Σ_a Σ_b)^{1/2}),
  feature moments of the samples vs the training split; with finitely many samples FD is biased
  upwards, so :func:`digits_quality` also reports the FD of the held-out test split (360 real
  images) as the data floor.
* Fashion-MNIST (:class:`FashionClassifier`: two 3×3 conv + max-pool layers, 16 and 32
  channels, then 1568 → 64 → 10; features = the 64-unit layer after its ReLU), trained on the
  60 000-image training split only by ``benchmarks/make_fashion_classifier.py``. Its shipped
  file ``fashion_classifier.safetensors`` also holds the training split's feature mean and
  covariance, the class frequencies and the floor table (the FD of n held-out images, averaged
  over draws, for n = 500 … 10 000), so :func:`fashion_quality` needs no data on disk. The
  floor of a sample of size n is read from that table (linear in 1/n between its points, and
  along the nearest two points' line outside it: the finite-sample bias of FD falls like 1/n).
* Mode coverage: the classifier's predicted-class histogram of the samples vs the training label
  frequencies — its total-variation distance, and the fraction of the 10 classes that receive at
  least a quarter of their data share.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from scipy import linalg
from torch import nn

from ._validation import check_finite

__all__ = [
    "DigitsClassifier",
    "FashionClassifier",
    "digits_quality",
    "fashion_quality",
    "frechet_distance",
    "frechet_distance_moments",
    "load_digits_classifier",
    "load_fashion_classifier",
]

CLASSIFIER_FILE = "digits_classifier.safetensors"
FASHION_CLASSIFIER_FILE = "fashion_classifier.safetensors"


class DigitsClassifier(nn.Module):
    """MLP on flattened 8×8 digits in [−1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU()
        )
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class FashionClassifier(nn.Module):
    """Small CNN on 1×28×28 images in [−1, 1]; ``features`` is its 64-unit penultimate layer."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, 64),
            nn.ReLU(),
        )
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _shipped(name: str, script: str) -> str:
    """The path of a shipped asset, or a one-line error naming the script that makes it."""
    ref = resources.files("scorelab") / "assets" / name
    if not ref.is_file():
        raise FileNotFoundError(f"{ref} missing: run `python benchmarks/{script}`")
    return str(ref)


#: keys of the reference statistics stored beside the Fashion classifier's weights
FASHION_REFERENCE_KEYS = ("ref.mean", "ref.cov", "ref.freq", "ref.floor_n", "ref.floor_fd")


@cache
def load_fashion_classifier(path: str | None = None) -> tuple[FashionClassifier, dict]:
    """The shipped Fashion-MNIST classifier (or one at ``path``), eval mode, and its reference
    statistics ``{"mean", "cov", "freq", "floor_n", "floor_fd", "accuracy"}``."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = path or _shipped(FASHION_CLASSIFIER_FILE, "make_fashion_classifier.py")
    tensors = load_file(str(Path(path)))
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata() or {}
    stats = {
        k.removeprefix("ref."): tensors.pop(k).double().numpy() for k in FASHION_REFERENCE_KEYS
    }
    stats["accuracy"] = float(meta.get("held_out_accuracy", "nan"))
    model = FashionClassifier()
    model.load_state_dict(tensors)
    return model.eval(), stats


@cache
def load_digits_classifier(path: str | None = None) -> DigitsClassifier:
    """The shipped classifier (or one at ``path``), eval mode."""
    from safetensors.torch import load_file

    path = path or _shipped(CLASSIFIER_FILE, "make_digits_classifier.py")
    model = DigitsClassifier()
    model.load_state_dict(load_file(str(Path(path))))
    return model.eval()


def frechet_distance(feat_a, feat_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (n_a, k) and (n_b, k)."""
    a = np.asarray(feat_a, dtype=np.float64)
    b = np.asarray(feat_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need (n, k) feature arrays with equal k, got {a.shape}, {b.shape}")
    if min(len(a), len(b)) < 2:
        raise ValueError("need at least 2 samples in each feature set")
    check_finite("feat_a", torch.as_tensor(a))
    check_finite("feat_b", torch.as_tensor(b))
    return frechet_distance_moments(
        a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    )


def frechet_distance_moments(mu_a, cov_a, mu_b, cov_b) -> float:
    """FD = ‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2(Σ_a Σ_b)^{1/2}) from the two Gaussians' moments."""
    mu_a, mu_b = np.atleast_1d(mu_a).astype(np.float64), np.atleast_1d(mu_b).astype(np.float64)
    cov_a = np.atleast_2d(cov_a).astype(np.float64)  # np.cov of one feature is 0-d
    cov_b = np.atleast_2d(cov_b).astype(np.float64)
    # tr((Σ_a Σ_b)^{1/2}) = Σ √eig(Σ_a^{1/2} Σ_b Σ_a^{1/2}): symmetric PSD, stable for the
    # singular covariances of ReLU features (no complex round-off as with sqrtm(Σ_a Σ_b))
    w, v = linalg.eigh(cov_a)
    half = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = linalg.eigvalsh(half @ cov_b @ half)
    cross = np.sqrt(np.clip(inner, 0, None)).sum()
    fd = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)
    return max(fd, 0.0)


@torch.no_grad()
def _features_and_classes(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    model = load_digits_classifier()
    x = torch.as_tensor(x, dtype=torch.float32).reshape(-1, 64)
    feats = model.features(x)
    return feats.double().numpy(), model.head(feats).argmax(1).numpy()


@cache
def _reference() -> dict:
    from .data import digits_split

    train, labels = digits_split("train")
    test, _ = digits_split("test")
    feats, _ = _features_and_classes(torch.as_tensor(train))
    test_feats, _ = _features_and_classes(torch.as_tensor(test))
    return {
        "feats": feats,
        "freq": np.bincount(labels, minlength=10) / len(labels),
        "floor": frechet_distance(test_feats, feats),
    }


def digits_quality(samples, *, bootstrap: int = 0, seed: int = 0) -> dict:
    """``{"fd", "fd_floor", "class_tv", "coverage", "n"}`` for generated digits (N, 64) or
    (N, 1, 8, 8) in the data's [−1, 1] scale. Non-finite samples raise.

    Args:
        bootstrap: with B > 0, also ``"fd_sd"``: the standard deviation of the FD over B
            resamples (with replacement) of the generated samples, the spread a rerun with
            fresh samples would show (the reference set is held fixed).
    """
    x = torch.as_tensor(samples)
    if x.ndim < 2 or x[0].numel() != 64:
        raise ValueError(f"digits samples must be (N, 64) or (N, 1, 8, 8), got {tuple(x.shape)}")
    check_finite("samples", x)
    ref = _reference()
    feats, classes = _features_and_classes(x.clamp(-1.5, 1.5))
    hist = np.bincount(classes, minlength=10) / len(classes)
    out = {
        "fd": frechet_distance(feats, ref["feats"]),
        "fd_floor": ref["floor"],
        "class_tv": float(0.5 * np.abs(hist - ref["freq"]).sum()),
        "coverage": float(np.mean(hist >= 0.25 * ref["freq"])),
        "n": len(classes),
    }
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        draws = [
            frechet_distance(feats[rng.integers(0, len(feats), len(feats))], ref["feats"])
            for _ in range(bootstrap)
        ]
        out["fd_sd"] = float(np.std(draws, ddof=1))
    return out


@torch.no_grad()
def fashion_features(x: torch.Tensor, batch: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Classifier features (N, 64) and predicted classes (N,) of images (N, 1, 28, 28) in
    [−1, 1] (clamped to [−1.5, 1.5] first, as generated samples may overshoot)."""
    model, _ = load_fashion_classifier()
    x = torch.as_tensor(x, dtype=torch.float32).reshape(-1, 1, 28, 28).clamp(-1.5, 1.5)
    feats = torch.cat([model.features(b) for b in x.split(batch)])
    return feats.double().numpy(), model.head(feats).argmax(1).numpy()


def fashion_floor(n: int) -> float:
    """The FD of ``n`` held-out Fashion-MNIST images to the training split: the floor a
    generator with the data's own law would show at that sample size (module docstring)."""
    if n < 2:
        raise ValueError(f"the FD floor needs at least 2 samples, got {n}")
    _, stats = load_fashion_classifier()
    inv, fd = 1.0 / np.asarray(stats["floor_n"])[::-1], np.asarray(stats["floor_fd"])[::-1]
    x = 1.0 / n
    if inv[0] <= x <= inv[-1]:
        return float(np.interp(x, inv, fd))
    # outside the table: the line in 1/n through its two nearest points (bias ∝ 1/n)
    i = 0 if x < inv[0] else len(inv) - 2
    slope = (fd[i + 1] - fd[i]) / (inv[i + 1] - inv[i])
    return max(float(fd[i] + slope * (x - inv[i])), 0.0)


def fashion_quality(samples, *, bootstrap: int = 0, seed: int = 0) -> dict:
    """``{"fd", "fd_floor", "class_tv", "coverage", "n"}`` for generated Fashion-MNIST images
    (N, 1, 28, 28) or (N, 784) in the data's [−1, 1] scale, against the training split's
    feature moments; ``fd_floor`` is the held-out split's FD at the same sample size. Non-finite
    samples raise.

    Args:
        bootstrap: with B > 0, also ``"fd_sd"``: the standard deviation of the FD over B
            resamples (with replacement) of the generated samples.
    """
    x = torch.as_tensor(samples)
    if x.ndim < 2 or x[0].numel() != 784:
        raise ValueError(
            f"Fashion-MNIST samples must be (N, 1, 28, 28) or (N, 784), got {tuple(x.shape)}"
        )
    check_finite("samples", x)
    _, stats = load_fashion_classifier()
    feats, classes = fashion_features(x)

    def fd(f: np.ndarray) -> float:
        return frechet_distance_moments(
            f.mean(0), np.cov(f, rowvar=False), stats["mean"], stats["cov"]
        )

    hist = np.bincount(classes, minlength=10) / len(classes)
    out = {
        "fd": fd(feats),
        "fd_floor": fashion_floor(len(classes)),
        "class_tv": float(0.5 * np.abs(hist - stats["freq"]).sum()),
        "coverage": float(np.mean(hist >= 0.25 * stats["freq"])),
        "n": len(classes),
    }
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        draws = [fd(feats[rng.integers(0, len(feats), len(feats))]) for _ in range(bootstrap)]
        out["fd_sd"] = float(np.std(draws, ddof=1))
    return out
