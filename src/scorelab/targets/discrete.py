"""Point-mass targets: p = Σ_i w_i δ_{a_i} in R^d, and an empirical data set as such a target.

These are Gaussian mixtures with zero component covariance, so the posterior, denoiser and score
come from :class:`~scorelab.targets.GaussianMixture`. Extra exact facts:

* Shannon entropy H = −Σ w_i log w_i and Rényi-½ entropy H_½ = 2 log Σ √w_i (the H of the
  dimension-free bounds, ``docs/design/las.md`` §3).
* I(x0; x_σ) = H − H(x0 | x_σ) → H as σ → 0 (distinct atoms).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._validation import as_float64_array, check_positive_int
from ..data import digits_split
from .mixture import GaussianMixture, _discrete_renyi

__all__ = ["Discrete", "Empirical"]


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)


class Discrete(GaussianMixture):
    """Atoms ``a_i`` (rows of ``atoms``, shape ``(N, d)``) with probabilities ``weights``.

    Atoms must be distinct (duplicates would make the weight entropy differ from the law's
    entropy); use :meth:`merge_duplicates` first if needed.
    """

    def __init__(self, atoms, weights=None, *, event_shape: tuple[int, ...] | None = None) -> None:
        a = as_float64_array("atoms", atoms, ndim=2)
        if weights is None:
            weights = np.full(a.shape[0], 1.0 / max(a.shape[0], 1))
        super().__init__(weights, a, 0.0, cov_kind="isotropic", event_shape=event_shape)
        if np.unique(a, axis=0).shape[0] != a.shape[0]:
            raise ValueError("atoms must be distinct; use Discrete.merge_duplicates(atoms)")

    @property
    def atoms(self) -> np.ndarray:
        return self.means

    def entropy(self, order: float = 1.0) -> float:
        """Rényi entropy of the weights (exact): order 1 Shannon, ½ gives H_½ = 2 log Σ √w."""
        return _discrete_renyi(self.weights, order)

    def mutual_information(self, sigma, *, num_samples: int = 4096, seed: int = 0) -> np.ndarray:
        """I(x0; x_σ) = H − H(x0|x_σ) (Monte-Carlo estimate of the conditional entropy)."""
        return super().mutual_information(sigma, num_samples=num_samples, seed=seed)

    def nearest_atom(self, x: torch.Tensor) -> torch.Tensor:
        """Index of the nearest atom for each row of ``x`` (chunked GEMM)."""
        xf = x.reshape(x.shape[0], -1)
        M = self._param("means", self.means, xf)
        msq = self._param("msq", self._mean_sq, xf)
        return torch.cat([(0.5 * msq - xf[c] @ M.T).argmin(1) for c in self._chunks(len(xf))])

    # -- constructors ----------
    @staticmethod
    def merge_duplicates(atoms, weights=None) -> tuple[np.ndarray, np.ndarray]:
        """Return unique atoms and their summed weights."""
        a = as_float64_array("atoms", atoms, ndim=2)
        w = np.full(a.shape[0], 1.0 / a.shape[0]) if weights is None else np.asarray(weights)
        uniq, inverse = np.unique(a, axis=0, return_inverse=True)
        return uniq, np.bincount(inverse.reshape(-1), weights=w, minlength=uniq.shape[0])

    @classmethod
    def random_code(
        cls, num_atoms: int, dim: int, *, scale: float = 1.0, seed: int | None = 0, weights=None
    ) -> Discrete:
        """Atoms i.i.d. N(0, scale²/d · I) (so E‖a‖² = scale²): a random code."""
        num_atoms, dim = check_positive_int("num_atoms", num_atoms), check_positive_int("dim", dim)
        atoms = _rng(seed).normal(0.0, scale / math.sqrt(dim), size=(num_atoms, dim))
        return cls(atoms, weights)

    @classmethod
    def hypercube(cls, dim: int, *, scale: float = 1.0) -> Discrete:
        """All 2^d corners {±scale}^d with equal weights (H = d log 2); d ≤ 16."""
        dim = check_positive_int("dim", dim)
        if dim > 16:
            raise ValueError(f"hypercube has 2^dim atoms; dim must be <= 16, got {dim}")
        grid = np.array(np.meshgrid(*[[-scale, scale]] * dim, indexing="ij")).reshape(dim, -1).T
        return cls(grid)

    @classmethod
    def on_subspace(
        cls,
        num_atoms: int,
        latent_dim: int,
        dim: int,
        *,
        scale: float = 1.0,
        seed: int | None = 0,
        weights=None,
    ) -> Discrete:
        """Atoms drawn N(0, scale²/k · I_k) in a k = ``latent_dim`` subspace, embedded in R^d by a
        random orthonormal map: the entropy is that of the weights whatever d is."""
        num_atoms = check_positive_int("num_atoms", num_atoms)
        latent_dim, dim = (
            check_positive_int("latent_dim", latent_dim),
            check_positive_int("dim", dim),
        )
        if latent_dim > dim:
            raise ValueError(f"latent_dim ({latent_dim}) must be <= dim ({dim})")
        rng = _rng(seed)
        latent = rng.normal(0.0, scale / math.sqrt(latent_dim), size=(num_atoms, latent_dim))
        q, _ = np.linalg.qr(rng.normal(size=(dim, latent_dim)))
        return cls(latent @ q.T, weights)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(N={self.num_components}, dim={self.dim})"


class Empirical(Discrete):
    """An empirical data set as an exact target: atoms = data points, weights ∝ multiplicity.

    ``data`` has shape ``(N, *event_shape)``; duplicates are merged so that the entropy is exact.
    """

    def __init__(self, data) -> None:
        arr = as_float64_array("data", data)
        if arr.ndim < 2 or arr.shape[0] == 0:
            raise ValueError(f"data must have shape (N, *event_shape) with N >= 1, got {arr.shape}")
        atoms, weights = self.merge_duplicates(arr.reshape(arr.shape[0], -1))
        super().__init__(atoms, weights, event_shape=arr.shape[1:])
        self.num_points = arr.shape[0]

    @classmethod
    def digits(cls, *, scale_to_unit: bool = True, split: str = "all", seed: int = 0) -> Empirical:
        """scikit-learn's bundled 8×8 digits (1797 images, shape (1, 8, 8)), pixel values mapped to
        [−1, 1] by default. ``split`` is ``"all"``, ``"train"`` (80 %) or ``"test"`` (20 %)."""

        if not scale_to_unit:
            from sklearn.datasets import load_digits

            if split != "all":
                raise ValueError("unscaled digits are only available with split='all'")
            return cls(load_digits().images.astype(np.float64)[:, None, :, :])
        return cls(digits_split(split, seed=seed)[0])
