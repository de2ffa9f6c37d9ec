"""Data sets shipped with the dependencies (nothing is downloaded at run time).

* ``digits``: scikit-learn's bundled 8×8 digits (1797 images, 10 classes), pixels 0..16 mapped to
  [−1, 1] (x/8 − 1), shape (N, 1, 8, 8), split 80 % train / 20 % test by a seeded permutation.
* ``moons``: scikit-learn's two moons in R², standardised (zero mean, unit variance per axis).
* ``ring8``: eight Gaussians (std 0.05·√2 ≈ 0.07) on a circle of radius √2 — unit second moment
  per axis; its exact law is :func:`scorelab.targets.ring8_target`.
* ``fashion``: Fashion-MNIST (Xiao, Rasul, Vollgraf 2017; MIT licence), 60 000 train / 10 000 test
  grey 28×28 images in 10 classes, pixels 0..255 mapped to [−1, 1] (x/127.5 − 1), shape
  (N, 1, 28, 28), float32. Read from its four standard idx files (gzipped or not); the default
  folder is where Debian's ``dataset-fashion-mnist`` package puts them
  (:data:`FASHION_DEFAULT_DIR`), ``data_dir`` overrides it.
* a path ending in ``.npy``: the user's own images, (N, H, W) or (N, C, H, W), integers 0..255 or
  floats; mapped to [−1, 1] by their observed range, split 90 % train / 10 % test by a seeded
  permutation.

This module is below :mod:`scorelab.targets` (which reads the digits from it) and imports none of
the package.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

__all__ = [
    "DATASETS",
    "FASHION_DEFAULT_DIR",
    "FASHION_FILES",
    "digits_split",
    "fashion_split",
    "image_split",
    "load_dataset",
    "npy_split",
    "read_idx",
    "toy2d",
]

DATASETS = ("digits", "moons", "ring8", "fashion")
FASHION_DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


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


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in one idx file (the MNIST format: two zero bytes, a type byte, a rank
    byte, big-endian uint32 sizes, then the data), gzipped or not."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise ValueError(f"{path}: cannot read ({err})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an idx file (bad magic number {raw[:4].hex() or 'empty'})")
    rank = raw[3]
    if len(raw) < 4 + 4 * rank:
        raise ValueError(f"{path}: truncated idx header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    need = 4 + 4 * rank + dtype.itemsize * int(np.prod(dims))
    if len(raw) != need:
        raise ValueError(
            f"{path}: truncated or padded idx file ({len(raw)} bytes, expected {need})"
        )
    return np.frombuffer(raw, dtype, offset=4 + 4 * rank).reshape(dims)


def _idx_path(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"Fashion-MNIST file {stem}(.gz) not found in {folder}: install Debian's package "
        "(apt-get install dataset-fashion-mnist) or download the four idx files from "
        "https://github.com/zalandoresearch/fashion-mnist into a folder and pass --data-dir"
    )


def fashion_split(
    split: str = "train", *, data_dir: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of Fashion-MNIST: images float32 (N, 1, 28, 28) in [−1, 1]."""
    if split not in FASHION_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(data_dir) if data_dir is not None else FASHION_DEFAULT_DIR
    images = read_idx(_idx_path(folder, FASHION_FILES[split][0]))
    labels = read_idx(_idx_path(folder, FASHION_FILES[split][1]))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{folder}: images {images.shape} and labels {labels.shape} do not match "
            "(expected (N, H, W) and (N,))"
        )
    x = images.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    return x[:, None], labels.astype(np.int64)


def npy_split(path: str | Path, split: str = "train", *, seed: int = 0) -> np.ndarray:
    """A user's image array from a ``.npy`` file as float32 (N, C, H, W) in [−1, 1]."""
    path = Path(path)
    if split not in ("all", "train", "test"):
        raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read as .npy ({err})") from None
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4 or min(arr.shape) < 1 or arr.shape[0] < 2:
        raise ValueError(
            f"{path}: expected images (N, H, W) or (N, C, H, W) with N >= 2, got {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{path}: expected a real numeric array, got dtype {arr.dtype}")
    x = arr.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: the array holds NaN or infinite values")
    lo, hi = (0.0, 255.0) if np.issubdtype(arr.dtype, np.integer) else (x.min(), x.max())
    if hi <= lo:
        raise ValueError(f"{path}: the images are constant ({lo})")
    x = (2.0 * (x - lo) / (hi - lo) - 1.0).astype(np.float32)
    if split != "all":
        perm = np.random.default_rng(seed).permutation(len(x))
        cut = max(1, int(0.9 * len(x)))
        x = x[perm[:cut]] if split == "train" else x[perm[cut:]]
    return x


def image_split(
    name: str, split: str = "train", *, data_dir: str | Path | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(images, labels or None)`` of an image data set: ``digits``, ``fashion`` or a ``.npy``."""
    if name == "digits":
        return digits_split(split, seed=seed)
    if name == "fashion":
        return fashion_split(split, data_dir=data_dir)
    if str(name).endswith(".npy"):
        return npy_split(name, split, seed=seed), None
    raise ValueError(f"{name!r} is not an image data set (digits, fashion or a .npy file)")


def load_dataset(
    name: str, split: str = "train", *, seed: int = 0, data_dir: str | Path | None = None
) -> np.ndarray:
    """Samples of a named data set (digits: its split; toy sets: 20 000 train / 5 000 test
    points from disjoint seeds; fashion: its standard split; a ``.npy`` path: the user's
    images, see the module docstring)."""
    if name in ("digits", "fashion") or str(name).endswith(".npy"):
        return image_split(name, split, data_dir=data_dir, seed=seed)[0]
    if name in ("moons", "ring8"):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        return toy2d(name, 20_000 if split == "train" else 5_000, seed=seed + (split == "test"))
    raise ValueError(f"unknown data set {name!r}; expected one of {DATASETS} or a .npy file")
