"""Helpers shared by the samplers (k-diffusion calling convention)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch

from .._validation import (
    all_finite,
    check_finite,
    check_float_tensor,
    check_generator,
    check_sigmas,
)

Callback = Callable[[dict], None]


HALF_DTYPES = (torch.float16, torch.bfloat16)


def prepare(denoiser, x: torch.Tensor, sigmas: torch.Tensor, generator, extra_args=None):
    """Validate the sampler inputs; returns ``(guarded denoiser, x, sigmas)``.

    * ``extra_args`` (k-diffusion's convention): keyword arguments passed to every denoiser
      call, ``denoiser(x, σ, **extra_args)`` (e.g. a conditioning tensor); a dict or None.

    * ``x`` must be a finite float32/float64 tensor with a batch dimension. Half precision is
      rejected: σ² and the posterior weights underflow there (σ = 0.002 gives σ² = 4e-6, below
      float16's normal range), which silently produced NaN. A half-precision *model* is fine —
      it receives the float32 state and casts it itself.
    * The grid follows x, as in k-diffusion: it is cast to x's dtype and device (a float64
      schedule drives a float32 state) and then checked (1-D, finite, strictly decreasing after
      the cast, positive except a final 0).
    * The denoiser is wrapped by :func:`guard_outputs`."""
    x = check_float_tensor("x", x)
    if x.dtype in HALF_DTYPES:
        raise TypeError(
            f"x has dtype {x.dtype}; samplers integrate in float32 or float64 (σ² and the "
            "posterior weights underflow in half precision): pass x.float()"
        )
    check_finite("x", x)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"x must have a non-empty batch dimension, got shape {tuple(x.shape)}")
    if isinstance(sigmas, torch.Tensor) and sigmas.is_floating_point():
        if sigmas.device != x.device and "meta" in (sigmas.device.type, x.device.type):
            raise ValueError(f"sigmas are on device {sigmas.device} but x is on device {x.device}")
        sigmas = sigmas.to(dtype=x.dtype, device=x.device)
    check_sigmas(sigmas, like=x)
    check_generator(generator)
    if extra_args:
        if not isinstance(extra_args, dict):
            raise TypeError(f"extra_args must be a dict, got {type(extra_args).__name__}")
        model, kwargs = denoiser, dict(extra_args)

        def denoiser(x, sigma):
            return model(x, sigma, **kwargs)

    return guard_outputs(denoiser), x, sigmas


def guard_outputs(denoiser):
    """Wrap ``denoiser`` so that an output of the wrong shape or with NaN/±inf stops the sampler
    with an error naming the query and σ, instead of a silently non-finite sample."""
    calls = 0

    def guarded(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        out = denoiser(x, sigma)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"the denoiser returned {got} for input of shape {tuple(x.shape)} "
                f"(query {calls}, sigma={float(sigma.reshape(-1)[0]):.6g})"
            )
        if not all_finite(out):
            bad = int((~torch.isfinite(out.reshape(out.shape[0], -1))).any(1).sum())
            raise ValueError(
                f"the denoiser returned non-finite values (NaN/inf) for {bad} of {x.shape[0]} "
                f"samples at query {calls}, sigma={float(sigma.reshape(-1)[0]):.6g}"
            )
        return out

    return guarded


def batch_sigma(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """σ repeated over the batch (k-diffusion's ``sigma * s_in``)."""
    return sigma * x.new_ones([x.shape[0]])


NoiseSource = Callable[[torch.Tensor, "torch.Generator | None"], torch.Tensor]
_NOISE_SOURCE: ContextVar[NoiseSource | None] = ContextVar("scorelab_noise_source", default=None)


def noise_like(
    x: torch.Tensor,
    generator: torch.Generator | None,
    interval: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Standard normal noise shaped like ``x`` — every Gaussian draw of every sampler goes
    through here, so :func:`noise_source` can replace it.

    ``interval = (σ, σ_next)`` names the step whose noise this draw is; samplers that pass it
    can run on :class:`BrownianNoise` (the draw becomes the normalised Brownian increment over
    that interval, so the same seed gives the same sample at any step count)."""
    source = _NOISE_SOURCE.get()
    if source is not None:
        if getattr(source, "uses_interval", False):
            return source(x, generator, interval)
        return source(x, generator)
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


class SampleStreams:
    """Per-sample noise streams (the idea of EDM's ``StackedRandomGenerator``): row i of every
    draw comes from its own generator, seeded by (``seed``, ``first`` + i), so a seeded result
    does not depend on the batch size or on how a run is split across batches or workers.

    Use as a noise source, and draw the initial noise from it too::

        streams = SampleStreams(seed=0, num_samples=len(x), first=offset)
        x = streams.randn(len(x), *event_shape) * sigmas[0]
        with noise_source(streams):
            out = sampler(denoiser, x, sigmas)

    Samplers that draw random *times* (``randomized_midpoint``) still use their ``generator``.
    One generator per row: slower than one batched draw, so opt-in."""

    def __init__(self, seed: int, num_samples: int, *, first: int = 0, device="cpu") -> None:
        if num_samples < 1 or first < 0:
            raise ValueError(f"need num_samples >= 1 and first >= 0, got {num_samples}, {first}")
        import numpy as np

        self.generators = []
        for i in range(first, first + num_samples):
            state = np.random.SeedSequence([int(seed), i]).generate_state(1, np.uint64)[0]
            gen = torch.Generator(device)
            gen.manual_seed(int(state) & ((1 << 63) - 1))
            self.generators.append(gen)

    def randn(self, n: int, *shape: int, dtype=torch.float32, device="cpu") -> torch.Tensor:
        """``n`` rows of standard normals of shape ``shape``, row i from stream i."""
        if n != len(self.generators):
            raise ValueError(f"these streams serve {len(self.generators)} samples, asked for {n}")
        return torch.stack(
            [torch.randn(shape, generator=g, dtype=dtype, device=device) for g in self.generators]
        )

    def __call__(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        return self.randn(x.shape[0], *x.shape[1:], dtype=x.dtype, device=x.device)


class BrownianNoise:
    """Per-sample Brownian paths W(u) in u = σ² (ours; the property of k-diffusion's
    ``BrownianTreeNoiseSampler``, on a fixed level set, with EDM's per-sample streams).

    The paths are drawn once on the levels ``levels`` (σ_0 > … > σ_M ≥ 0): row i of every
    increment comes from its own generator seeded by (``seed``, ``first`` + i), as in
    :class:`SampleStreams`. A sampler's draw for the step σ → σ_next (both levels of the set)
    is the normalised increment (W(σ²) − W(σ_next²)) / sqrt(σ² − σ_next²): standard normal, and
    independent across disjoint steps, so the law of every sampler is unchanged; but a grid on a
    subset of the levels sees the *same path* as the full level set. The reverse VE SDE is
    driven by dW in u = σ² (its noise over a step has variance σ² − σ_next² to first order), so
    DDPM, Euler–Maruyama, DPM-Solver++(2M) SDE and ``accel_sde`` (η = 1) converge pathwise as
    the grid refines: this is what makes "distance to the converged solution from the same
    noise" a floor-free error measure for stochastic samplers.

    Memory: ``num_samples × M × prod(shape)`` numbers (kept in float32 plus the level table).
    Only samplers that pass their step interval to ``noise_like`` can use it; a draw without
    one, or on a σ outside the level set, is an error."""

    uses_interval = True

    def __init__(
        self,
        levels,
        shape: tuple[int, ...],
        *,
        seed: int,
        num_samples: int,
        first: int = 0,
    ) -> None:
        import numpy as np

        lv = np.asarray(torch.as_tensor(levels, dtype=torch.float64).cpu().numpy(), np.float64)
        if lv.ndim != 1 or lv.size < 2 or not np.all(np.diff(lv) < 0) or lv[-1] < 0:
            raise ValueError("levels must be a strictly decreasing 1-D array of σ >= 0")
        self.levels = lv
        self._log_levels = np.log(np.maximum(lv, 1e-300))
        du = lv[:-1] ** 2 - lv[1:] ** 2
        self._sqrt_du = torch.as_tensor(np.sqrt(du))
        streams = SampleStreams(seed, num_samples, first=first)
        # standardised increments z_j, ΔW_j = sqrt(Δu_j) z_j; (num_samples, M, *shape)
        self.z = streams.randn(num_samples, lv.size - 1, *shape, dtype=torch.float32)

    def index(self, sigma: float) -> int:
        """The position of ``sigma`` in the level set (relative tolerance 1e-5, which admits
        float32 rounding of a float64 level); ValueError if it is not a level."""
        import numpy as np

        if sigma == 0.0:
            if self.levels[-1] == 0.0:
                return self.levels.size - 1
            raise ValueError("σ = 0 is not a level of this Brownian path")
        j = int(np.argmin(np.abs(self._log_levels - np.log(sigma))))
        if abs(self._log_levels[j] - np.log(sigma)) > 1e-5:
            raise ValueError(
                f"σ = {sigma:.6g} is not a level of this Brownian path; snap the grid to its "
                "levels first"
            )
        return j

    def snap(self, sigmas) -> torch.Tensor:
        """``sigmas`` moved to the nearest levels (in log σ), duplicates removed; a final 0
        stays."""
        import numpy as np

        s = torch.as_tensor(sigmas, dtype=torch.float64).numpy()
        pos = s[s > 0]
        j = np.abs(self._log_levels[None, :] - np.log(pos)[:, None]).argmin(1)
        out = self.levels[np.unique(j)]
        if (s == 0).any():
            out = np.append(out, 0.0)
        return torch.as_tensor(out)

    def rows(self, lo: int, hi: int) -> BrownianNoise:
        """The paths of samples ``lo`` … ``hi − 1`` (shared storage), to run a batch in parts."""
        out = copy.copy(self)
        out.z = self.z[lo:hi]
        return out

    def __call__(self, x: torch.Tensor, generator=None, interval=None) -> torch.Tensor:
        if interval is None:
            raise ValueError(
                "this sampler does not name the interval of its noise draws; it cannot run "
                "on Brownian-path noise"
            )
        a, b = (self.index(float(v)) for v in interval)
        if b <= a or x.shape[0] != self.z.shape[0] or x[0].numel() != self.z[0, 0].numel():
            raise ValueError(
                f"Brownian draw for σ {float(interval[0]):.6g} → {float(interval[1]):.6g} on a "
                f"state of shape {tuple(x.shape)}: expected a decreasing interval and "
                f"{self.z.shape[0]} samples of {tuple(self.z.shape[2:])}"
            )
        w = self._sqrt_du[a:b].to(torch.float64)
        inc = torch.einsum("j,nj...->n...", w, self.z[:, a:b].to(torch.float64))
        out = inc / torch.sqrt((w * w).sum())
        return out.reshape(x.shape).to(dtype=x.dtype, device=x.device)


@contextmanager
def noise_source(source: NoiseSource) -> Iterator[None]:
    """Within the block, samplers draw their Gaussian noise from ``source(x, generator)``
    instead of ``torch.randn``. Used by :mod:`scorelab.exact` to read a sampler's step as
    ``x_next = f(x) + g(x)·ξ`` (zero noise, then unit noise) and to track coefficients on a
    noise basis. Context-local (safe across threads)."""
    token = _NOISE_SOURCE.set(source)
    try:
        yield
    finally:
        _NOISE_SOURCE.reset(token)


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """Probability-flow ODE derivative dx/dσ = (x − D(x, σ))/σ."""
    return (x - denoised) / sigma


def report(callback: Callback | None, i: int, x, sigma, sigma_next, denoised, **extra) -> None:
    if callback is not None:
        callback(
            {
                "x": x,
                "i": i,
                "sigma": sigma,
                "sigma_hat": sigma,  # k-diffusion's key: the level actually queried (no churn)
                "sigma_next": sigma_next,
                "denoised": denoised,
                **extra,
            }
        )


def largest_steps_within(cost: Callable[[int], int], nfe_budget: int, what: str) -> int:
    """The largest k ≥ 1 with ``cost(k) ≤ nfe_budget`` (costs grow with k); ValueError naming
    ``what`` when even k = 1 does not fit. The one "largest grid within a budget" search."""
    for k in range(nfe_budget, 0, -1):
        if cost(k) <= nfe_budget:
            return k
    raise ValueError(f"no schedule fits an NFE budget of {nfe_budget} with {what}")
