"""The :class:`Target` interface shared by every exact-score target.

Conventions (``docs/design/las.md`` §1):

* σ is the VE/EDM noise level, x_σ = x0 + σ z with z ~ N(0, I); SNR γ = 1/σ².
* ``denoise(x, σ) = E[x0 | x_σ = x]`` (Tweedie: ``denoise = x + σ² ∇log p_σ(x)``).
* ``mmse(σ) = E‖x0 − E[x0|x_σ]‖²`` summed over all coordinates (not averaged).
* ``mutual_information(σ) = I(x0; x_σ)`` in nats; I-MMSE: dI/dγ = mmse/2.
* All information quantities are in nats.

A target is itself a k-diffusion-style denoiser: ``target(x, sigma)`` returns ``denoise(x, sigma)``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch

from .._validation import as_float64_array, as_sigma, check_batch, check_positive_int

__all__ = ["MonteCarloEstimate", "Target"]


@dataclass(frozen=True)
class MonteCarloEstimate:
    """A Monte-Carlo estimate per noise level: ``value ± stderr`` (one standard error)."""

    sigma: np.ndarray
    value: np.ndarray
    stderr: np.ndarray
    num_samples: int


class Target(ABC):
    """A data law with exact (or exactly-simulable) noised marginals."""

    #: shape of one sample (without the batch dimension)
    event_shape: tuple[int, ...]
    #: whether :meth:`mmse` is a closed form (``True``) or a Monte-Carlo estimate
    mmse_is_exact: bool = False

    def __init__(self, event_shape: tuple[int, ...]) -> None:
        self.event_shape = tuple(int(s) for s in event_shape)
        self._cache: dict[tuple, torch.Tensor] = {}

    # -- basic facts ----------
    @property
    def dim(self) -> int:
        """Ambient dimension d = prod(event_shape)."""
        return math.prod(self.event_shape)

    @property
    @abstractmethod
    def data_mean(self) -> np.ndarray:
        """E[x0] as a flat float64 vector of length d."""

    @property
    @abstractmethod
    def second_moment(self) -> float:
        """E‖x0‖² (summed over coordinates)."""

    @abstractmethod
    def entropy(self, order: float = 1.0) -> float:
        """Rényi entropy of order ``order`` of the data law in nats (1 = Shannon)."""

    # -- sampling ----------
    @abstractmethod
    def _sample_flat(
        self, n: int, generator: torch.Generator | None, dtype, device
    ) -> torch.Tensor: ...

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        """Draw ``n`` exact samples x0, shape ``(n, *event_shape)``."""
        n = check_positive_int("n", n)
        return self._sample_flat(n, generator, dtype, torch.device(device)).reshape(
            n, *self.event_shape
        )

    def sample_noised(
        self,
        n: int,
        sigma: float | torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(x0, x_σ)`` with x_σ = x0 + σ z."""
        x0 = self.sample(n, generator, dtype=dtype, device=device)
        s = as_sigma(sigma, n, like=x0, allow_zero=True)
        z = torch.randn(x0.shape, generator=generator, dtype=dtype, device=x0.device)
        return x0, x0 + s.reshape(-1, *([1] * len(self.event_shape))) * z

    # -- noised marginal ----------
    def _prepare(self, x: torch.Tensor, sigma) -> tuple[torch.Tensor, torch.Tensor]:
        """Flatten and validate; half-precision input is computed in float32 (σ² and the
        posterior's log-weights underflow or overflow in float16/bfloat16, which gave NaN)."""
        x = check_batch(x, self.event_shape)
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        s = as_sigma(sigma, x.shape[0], like=x)
        return x.reshape(x.shape[0], -1), s

    def denoise(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """E[x0 | x_σ = x]; ``x`` has shape ``(n, *event_shape)``, σ scalar or ``(n,)``.
        Half-precision input is computed in float32 and the result cast back."""
        xf, s = self._prepare(x, sigma)
        return self._denoise_flat(xf, s).reshape(x.shape).to(x.dtype)

    def score(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """∇_x log p_σ(x) = (E[x0|x] − x)/σ² (half input: computed in float32, cast back)."""
        xf, s = self._prepare(x, sigma)
        return self._score_flat(xf, s).reshape(x.shape).to(x.dtype)

    def log_prob(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """log p_σ(x), density of x_σ = x0 + σ z w.r.t. Lebesgue measure on R^d; shape ``(n,)``.
        For half-precision input the result is float32 (log-densities overflow float16)."""
        xf, s = self._prepare(x, sigma)
        return self._log_prob_flat(xf, s)

    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        return self.denoise(x, sigma)

    @abstractmethod
    def _denoise_flat(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor: ...

    def _score_flat(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return (self._denoise_flat(x, sigma) - x) / sigma[:, None] ** 2

    @abstractmethod
    def _log_prob_flat(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor: ...

    # -- information curves ----------
    def mmse(self, sigma, **mc_options) -> np.ndarray:
        """mmse(σ) = E‖x0 − E[x0|x_σ]‖² (float64 array, same shape as ``sigma``)."""
        return self.mmse_estimate(sigma, **mc_options).value

    def mmse_estimate(
        self, sigma, *, num_samples: int = 4096, seed: int = 0, batch_size: int = 4096
    ) -> MonteCarloEstimate:
        """Unbiased Monte-Carlo estimate of mmse(σ) with its standard error.

        Uses the direct estimator ‖x0 − D(x0 + σz)‖² in float64 with common random numbers
        (x0, z) across all σ, so the estimated curve is smooth in σ. Targets with a closed form
        override this and return ``stderr = 0``.
        """
        sig = _sigma_array(sigma)
        num_samples = check_positive_int("num_samples", num_samples)
        gen = torch.Generator().manual_seed(seed)
        sums = np.zeros(sig.size)
        sums2 = np.zeros(sig.size)
        done = 0
        while done < num_samples:
            m = min(batch_size, num_samples - done)
            x0 = self._sample_flat(m, gen, torch.float64, torch.device("cpu"))
            z = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
            for i, s in enumerate(sig.reshape(-1)):
                st = torch.full((m,), float(s), dtype=torch.float64)
                err = (x0 - self._denoise_flat(x0 + float(s) * z, st)).square().sum(1)
                sums[i] += float(err.sum())
                sums2[i] += float(err.square().sum())
            done += m
        mean = sums / num_samples
        var = np.maximum(sums2 / num_samples - mean**2, 0.0)
        stderr = np.sqrt(var / max(num_samples - 1, 1))
        return MonteCarloEstimate(
            sig, mean.reshape(sig.shape), stderr.reshape(sig.shape), num_samples
        )

    def mutual_information(self, sigma, **mc_options) -> np.ndarray:
        """I(x0; x_σ) in nats."""
        raise NotImplementedError(f"{type(self).__name__} has no mutual information formula")

    # -- helpers ----------
    def _param(self, name: str, value: np.ndarray, like: torch.Tensor) -> torch.Tensor:
        key = (name, like.dtype, like.device)
        t = self._cache.get(key)
        if t is None:
            t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
            self._cache[key] = t
        return t

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"


def _sigma_array(sigma) -> np.ndarray:
    sig = as_float64_array("sigma", sigma)
    if np.any(sig <= 0):
        raise ValueError(f"sigma must be > 0, got {sig[sig <= 0].reshape(-1)[:3].tolist()}")
    return sig
