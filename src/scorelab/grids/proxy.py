"""Proxies that *measure* a sampler's error on a σ grid from what a user has: their model.

:class:`TrajectoryProxy` (ours; the idea of calibrating on the model's own trajectories is that
of GITS, OSS and LD3): the per-coordinate RMSE between a K-step sampler's output and the same
model's converged solution from the same initial noise.

* Deterministic samplers integrate the probability-flow ODE, so the converged solution is one
  map x_{σ_max} ↦ x_{σ_min} for all of them; it is computed once with DPM-Solver++(3M) on
  ``reference_steps`` log-SNR-uniform levels, and :meth:`TrajectoryProxy.reference_change`
  reports how much it moves when that count is halved (the floor of the proxy).
* Stochastic samplers run on :class:`~scorelab.samplers.BrownianNoise`: per-sample Brownian
  paths on ``reference_steps`` log-SNR-uniform levels. Their converged solution is the same
  sampler on all those levels, and a K-step grid is snapped onto the levels, so that both see
  one Brownian path and the difference is discretization error, with no sampling floor.

E‖x_K − x_∞‖² bounds W₂²(law of x_K, law of x_∞) from above (the pair is a coupling), so a small
proxy value certifies a small distance to the model's own output law. It is floor-free but it is
not the law distance itself: for stochastic samplers the pathwise (strong) error is larger than
the law (weak) error, and the proxy ranks grids by the former.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..samplers import SAMPLERS, BrownianNoise, SampleStreams, noise_source
from ..schedules import log_snr_uniform

__all__ = [
    "REFERENCE_SAMPLER",
    "SurrogateProxy",
    "TrajectoryProxy",
    "detail_ratio",
    "fit_mixture_surrogate",
]

#: the deterministic reference solver (order 3, one call per level)
REFERENCE_SAMPLER = "dpmpp_3m"

_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)


def detail_ratio(out: torch.Tensor, ref: torch.Tensor) -> float:
    """High-frequency energy of images ``out`` over that of ``ref`` (same shape, last two axes
    the image): the mean square of the 3×3 Laplacian of every channel. 1 = as sharp as ``ref``,
    below = blurred, above = noisier."""

    def energy(x: torch.Tensor) -> float:
        x = x.double().reshape(-1, 1, *x.shape[-2:])
        return float(torch.nn.functional.conv2d(x, _LAPLACIAN.view(1, 1, 3, 3)).square().mean())

    return energy(out) / energy(ref)


class TrajectoryProxy:
    """Distance of a sampler's K-step output to the model's converged solution.

    Args:
        denoiser: ``denoiser(x, sigma) -> x̂0`` (a trained model or an exact target).
        shape: one sample's shape, e.g. ``(1, 28, 28)`` or ``(d,)``.
        sigma_min, sigma_max: the grid's range; every measured grid must span it.
        num_samples: initial noises (common to every grid measured).
        reference_steps: levels of the converged solution (and of the Brownian paths).
        final_zero: whether the grids end with the final denoise σ_min → 0 (then outputs are
            x̂0; else states at σ_min).
        seed: seeds the initial noise and the Brownian paths (per-sample streams).
        dtype: the state's dtype (float32 for a network, float64 for exact targets).
        batch_size: samples per denoiser call (None: all at once, law samples included).
        stochastic: how SDE samplers are judged: ``"law"`` (:meth:`law_error`) or
            ``"pathwise"`` (RMSE on shared Brownian paths).
        law_samples: samples on each side of :meth:`law_error` (None: 8 per coordinate,
            between ``num_samples`` and 4096).
        law_reference_steps: log-SNR-uniform levels of the model's law that :meth:`law_error`
            compares with (DPM-Solver++(3M) from other starts; None: ``reference_steps``).
    """

    def __init__(
        self,
        denoiser: Callable,
        shape: tuple[int, ...],
        sigma_min: float,
        sigma_max: float,
        *,
        num_samples: int = 256,
        reference_steps: int = 512,
        final_zero: bool = True,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        batch_size: int | None = None,
        stochastic: str = "law",
        law_samples: int | None = None,
        law_reference_steps: int | None = None,
    ) -> None:
        if stochastic not in ("law", "pathwise"):
            raise ValueError(f"stochastic must be 'law' or 'pathwise', got {stochastic!r}")
        if num_samples < 2 or reference_steps < 8:
            raise ValueError(
                f"need num_samples >= 2 and reference_steps >= 8, got {num_samples}, "
                f"{reference_steps}"
            )
        self.denoiser = denoiser
        self.shape = tuple(int(s) for s in shape)
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)
        self.num_samples = int(num_samples)
        self.reference_steps = int(reference_steps)
        self.final_zero = bool(final_zero)
        self.seed = int(seed)
        self.dtype = dtype
        self.batch_size = batch_size or self.num_samples
        self._law_batch = batch_size  # None: all law samples at once (set below)
        self.levels = log_snr_uniform(
            reference_steps, sigma_min, sigma_max, final_zero=final_zero, dtype=torch.float64
        )
        streams = SampleStreams(self.seed, self.num_samples)
        self.x_start = streams.randn(self.num_samples, *self.shape, dtype=dtype) * self.sigma_max
        self._brownian: BrownianNoise | None = None
        self._references: dict[str, torch.Tensor] = {}
        self._law_noise: torch.Tensor | None = None
        self._gits: dict[int, tuple[torch.Tensor, np.ndarray]] = {}
        self.stochastic = stochastic
        dim = math.prod(self.shape)
        self.law_samples = law_samples or min(4096, max(self.num_samples, 8 * dim))
        self.law_reference_steps = int(law_reference_steps or reference_steps)
        self._law_batch = self._law_batch or self.law_samples
        if self.law_reference_steps < 8:
            raise ValueError(f"need law_reference_steps >= 8, got {self.law_reference_steps}")
        #: model evaluations spent so far (one per sample per denoiser call)
        self.evaluations = 0
        #: evaluations the references read by :meth:`load_references` cost when first computed
        self.loaded_evaluations = 0
        self._reference_evaluations = 0  # of the references computed here (saved with them)

    # -- running -------------------------------------------------------------------------------

    def _counted(self) -> Callable:
        def call(x, sigma):
            self.evaluations += x.shape[0]
            return self.denoiser(x, sigma)

        return call

    def _run(self, sampler: str, sigmas: torch.Tensor, rows=None) -> torch.Tensor:
        """The sampler's outputs from the proxy's noises; with ``rows`` (indices) an ODE sampler
        runs those noises alone (a deterministic path does not depend on the rest of its batch)."""
        spec = SAMPLERS[sampler]
        if rows is not None and not spec.stochastic:
            starts = self.x_start[torch.as_tensor(rows)]
            return torch.cat(
                [spec(self._counted(), x.clone(), sigmas) for x in starts.split(self.batch_size)]
            )
        outs = []
        for lo in range(0, self.num_samples, self.batch_size):
            hi = min(lo + self.batch_size, self.num_samples)
            x = self.x_start[lo:hi].clone()
            if spec.stochastic:
                with noise_source(self._noise_rows(lo, hi)):
                    outs.append(spec(self._counted(), x, sigmas))
            else:
                outs.append(spec(self._counted(), x, sigmas))
        out = torch.cat(outs)
        return out if rows is None else out[torch.as_tensor(rows)]

    def _noise_rows(self, lo: int, hi: int) -> BrownianNoise:
        if self._brownian is None:
            self._brownian = BrownianNoise(
                self.levels, self.shape, seed=self.seed + 1, num_samples=self.num_samples
            )
        return self._brownian.rows(lo, hi)

    def prepare(self, sampler: str, sigmas) -> torch.Tensor:
        """The grid as it is measured: float64, spanning the proxy's range, and for stochastic
        samplers snapped onto the Brownian levels."""
        s = torch.as_tensor(sigmas, dtype=torch.float64)
        pos = s[s > 0]
        last_ok = math.isclose(float(pos[-1]), self.sigma_min, rel_tol=1e-6) or (
            self.final_zero and self.sigma_min < float(pos[-1]) < self.sigma_max
        )  # with a final denoise the last level may lie above σ_min (a later denoise point)
        if not (math.isclose(float(pos[0]), self.sigma_max, rel_tol=1e-6) and last_ok):
            raise ValueError(
                f"the grid spans σ {float(pos[0]):.6g} → {float(pos[-1]):.6g}; this proxy "
                f"measures grids over {self.sigma_max:.6g} → {self.sigma_min:.6g}"
            )
        if bool((s == 0).any()) != self.final_zero:
            raise ValueError(
                f"the grid {'ends' if (s == 0).any() else 'does not end'} in 0 but the proxy "
                f"was built with final_zero={self.final_zero}"
            )
        if SAMPLERS[sampler].stochastic and self.stochastic == "pathwise":
            if self._brownian is None:
                self._noise_rows(0, self.num_samples)
            s = self._brownian.snap(s)
        return s

    def reference(self, sampler: str) -> torch.Tensor:
        """The converged solution this sampler's outputs are compared with (cached)."""
        key = sampler if SAMPLERS[sampler].stochastic else REFERENCE_SAMPLER
        if key not in self._references:
            before = self.evaluations
            self._references[key] = self._run(key, self.levels)
            self._reference_evaluations += self.evaluations - before
        return self._references[key]

    # -- sharing references between proxies ------------------------------------------------------

    def _settings(self) -> dict:
        """What the references depend on besides the model (the model: :meth:`_probe`)."""
        return {
            "shape": list(self.shape),
            "sigma_min": self.sigma_min,
            "sigma_max": self.sigma_max,
            "num_samples": self.num_samples,
            "reference_steps": self.reference_steps,
            "final_zero": self.final_zero,
            "seed": self.seed,
            "dtype": str(self.dtype),
            "batch_size": self.batch_size,
            "law_samples": self.law_samples,
            "law_reference_steps": self.law_reference_steps,
            "law_batch": self._law_batch,
        }

    @torch.no_grad()
    def _probe(self) -> torch.Tensor:
        """The denoiser on two of the proxy's noises at σ = 1: a fingerprint of the model (not
        counted in :attr:`evaluations`: it measures nothing)."""
        x = self.x_start[:2] / self.sigma_max
        return self.denoiser(x, torch.ones(len(x), dtype=x.dtype)).detach().double().clone()

    def save_references(self, path) -> None:
        """Write the converged solutions, the law reference and the teacher-trajectory costs
        computed so far to ``path`` (atomically), with the proxy's settings and a fingerprint of
        the model, so that another proxy of the same model and settings can
        :meth:`load_references` them instead of recomputing them."""
        path = Path(path)
        state = {
            "settings": self._settings(),
            "probe": self._probe(),
            "references": dict(self._references),
            "gits": {
                str(k): {"sigma": sig, "cost": torch.from_numpy(cost)}
                for k, (sig, cost) in self._gits.items()
            },
            "evaluations": self._reference_evaluations + self.loaded_evaluations,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        torch.save(state, tmp)
        tmp.replace(path)  # a concurrent reader sees the old file or the new one

    def load_references(self, path) -> bool:
        """Read what :meth:`save_references` wrote, if ``path`` exists and was written by a proxy
        with the same settings on the same model (its fingerprint agrees); returns whether it
        was read. The results are then those of computing the references here; only
        :attr:`evaluations` differs (:attr:`loaded_evaluations` holds what they cost)."""
        path = Path(path)
        if not path.is_file():
            return False
        try:
            state = torch.load(path, weights_only=True)
        except Exception as err:  # a file cut short, or not ours
            raise ValueError(f"{path}: not a saved proxy reference file ({err})") from err
        if state.get("settings") != self._settings():
            return False
        if not torch.allclose(state["probe"], self._probe(), rtol=1e-6, atol=1e-7):
            return False  # another model (or the same name retrained)
        self._references.update(state["references"])
        for k, entry in state["gits"].items():
            self._gits[int(k)] = (entry["sigma"], entry["cost"].numpy())
        self.loaded_evaluations = int(state["evaluations"])
        return True

    def reference_change(self, sampler: str) -> float:
        """RMSE between the reference and the same solver on every other level: how far the
        reference itself is from convergence (compare with the smallest error reported)."""
        key = sampler if SAMPLERS[sampler].stochastic else REFERENCE_SAMPLER
        ref = self.reference(sampler)
        half = self.levels[::2] if self.reference_steps % 2 == 0 else None
        if half is None:
            raise ValueError("reference_change needs an even reference_steps")
        if self.final_zero and float(half[-1]) != 0.0:
            half = torch.cat([half, half.new_zeros(1)])
        return self._rmse(self._run(key, half), ref)

    @torch.no_grad()
    def _gits_costs(self, stride: int) -> tuple[torch.Tensor, np.ndarray]:
        """(candidate σ, one-step DDIM cost matrix) of :meth:`gits_grid`, computed once."""
        if stride in self._gits:
            return self._gits[stride]
        before = self.evaluations
        ref = self.levels[self.levels > 0]
        pick = list(range(0, ref.numel(), stride))
        if pick[-1] != ref.numel() - 1:
            pick.append(ref.numel() - 1)
        states: dict[int, torch.Tensor] = {}
        for lo in range(0, self.num_samples, self.batch_size):
            hi = min(lo + self.batch_size, self.num_samples)
            part: dict[int, torch.Tensor] = {}

            def keep(info: dict, part=part) -> None:
                part[int(info["i"])] = info["x"].detach().double().clone()

            SAMPLERS[REFERENCE_SAMPLER](
                self._counted(),
                self.x_start[lo:hi].clone(),
                self.levels.to(self.dtype),
                callback=keep,
            )
            for i in pick:
                states[i] = torch.cat([states[i], part[i]]) if i in states else part[i]
        teacher = torch.stack([states[i] for i in pick])  # (M, n, ...)
        sig = ref[pick]
        denoised = torch.stack(
            [
                torch.cat(
                    [
                        self._counted()(
                            teacher[m, lo : lo + self.batch_size].to(self.dtype),
                            sig[m]
                            .to(self.dtype)
                            .expand(teacher[m, lo : lo + self.batch_size].shape[0]),
                        ).double()
                        for lo in range(0, self.num_samples, self.batch_size)
                    ]
                )
                for m in range(len(pick))
            ]
        )
        M = len(pick)
        cost = np.zeros((M, M))  # entries j <= i are ignored by the DP
        for i in range(M):
            for j in range(i + 1, M):
                step = denoised[i] + (sig[j] / sig[i]) * (teacher[i] - denoised[i])
                cost[i, j] = float((step - teacher[j]).square().mean())
        self._gits[stride] = (sig, cost)
        self._reference_evaluations += self.evaluations - before
        return sig, cost

    def gits_grid(self, steps: int, *, stride: int = 4) -> torch.Tensor:
        """A teacher-trajectory grid in the style of GITS (Chen et al. 2024, "On the Trajectory
        Regularity of ODE-based Diffusion Sampling"; ours from its description): the reference
        solver's trajectories are recorded at every ``stride``-th reference level (the
        candidates; a smaller stride when K needs more); the cost of a jump i → j is the mean
        squared distance between one DDIM step from the teacher state at σ_i and the teacher
        state at σ_j; the K-jump path of least total cost is found by dynamic programming. One
        model call per candidate level and sample (the DDIM step reuses D(x_i, σ_i)). Returns
        float64 σ (+ final 0 when the proxy's grids end in 0)."""
        from ..schedules.information import path_dp

        levels = int((self.levels > 0).sum())
        stride = max(1, min(stride, (levels - 1) // max(steps, 1)))  # enough candidates for K
        sig, cost = self._gits_costs(stride)
        if steps > len(sig) - 1:
            raise ValueError(f"gits: {steps} steps need more than {len(sig)} candidate levels")
        path = path_dp(cost, steps)
        out = sig[path].clone()
        if self.final_zero:
            out = torch.cat([out, out.new_zeros(1)])
        return out

    def _rmse(self, a: torch.Tensor, b: torch.Tensor) -> float:
        d = (a.double() - b.double()).reshape(a.shape[0], -1)
        return float(d.square().mean().sqrt())

    def is_paired(self, sampler: str) -> bool:
        """Whether ``sampler``'s error is a per-noise distance (else a law distance)."""
        return not (SAMPLERS[sampler].stochastic and self.stochastic == "law")

    def error(self, sampler: str, sigmas) -> float:
        """Per-coordinate RMSE of ``sampler`` on ``sigmas`` to the converged solution; for SDE
        samplers in ``"law"`` mode the law distance :meth:`law_error` instead."""
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose from {sorted(SAMPLERS)}")
        s = self.prepare(sampler, sigmas)
        if not self.is_paired(sampler):
            return self.law_error(sampler, s)
        ref = self.reference(sampler)
        return self._rmse(self._run(sampler, s.to(self.dtype)), ref)

    def law_error(self, sampler: str, sigmas) -> float:
        """Fréchet distance (Gaussian fits, coordinates of the sample) between ``law_samples``
        outputs of a sampler (the same starts for every grid, and for SDE samplers noise from
        one fixed seed: common random numbers across grids) and the model's own law, its
        converged PF-ODE solution from other starts. The strong (pathwise) distance ranks SDE
        grids by path agreement, which is not what their samples are judged by; this ranks
        them by the law. For ODE samplers it is the guard of ``optimize``'s RMSE ranking on
        images: RMSE to the converged solution is floor-free but, at a few calls, can prefer a
        grid whose samples are off the model's law."""
        from ..image_metrics import frechet_distance

        if "law" not in self._references:
            before = self.evaluations
            ref_grid = log_snr_uniform(
                self.law_reference_steps,
                self.sigma_min,
                self.sigma_max,
                final_zero=self.final_zero,
                dtype=torch.float64,
            ).to(self.dtype)
            self._references["law"] = self._batched_run(REFERENCE_SAMPLER, ref_grid, None)
            self._reference_evaluations += self.evaluations - before
        gen = torch.Generator().manual_seed(self.seed + 3)
        out = self._batched_run(sampler, torch.as_tensor(sigmas).to(self.dtype), gen)
        if not torch.isfinite(out).all():  # a grid the sampler diverges on is never chosen
            return math.inf
        reference = self._references["law"]
        return frechet_distance(
            out.double().reshape(len(out), -1), reference.double().reshape(len(reference), -1)
        )

    def _law_starts(self) -> torch.Tensor:
        """The initial noise of :meth:`law_error` (the same for every grid and the reference)."""
        if self._law_noise is None:
            starts = SampleStreams(self.seed + 2, self.law_samples).randn(
                self.law_samples, *self.shape, dtype=self.dtype
            )
            self._law_noise = starts * self.sigma_max
        return self._law_noise

    def _batched_run(self, sampler: str, sigmas: torch.Tensor, generator) -> torch.Tensor:
        outs = []
        starts = self._law_starts()
        for lo in range(0, self.law_samples, self._law_batch):
            x = starts[lo : lo + self._law_batch].clone()
            outs.append(SAMPLERS[sampler](self._counted(), x, sigmas, generator=generator))
        return torch.cat(outs)

    def describe(self) -> str:
        return (
            f"model trajectories: RMSE to the converged solution, {self.num_samples} noises, "
            f"reference {self.reference_steps} levels (SDE samplers: {self.stochastic}"
            + (f", Fréchet on {self.law_samples} samples)" if self.stochastic == "law" else ")")
        )

    def _outputs(self, sampler: str, sigmas, rows=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The sampler's outputs on ``sigmas`` and the converged solutions they are compared
        with, float64; with ``rows`` those noises' alone (:meth:`_run`)."""
        s = self.prepare(sampler, sigmas)
        out, ref = self._run(sampler, s.to(self.dtype), rows), self.reference(sampler)
        if rows is not None:
            ref = ref[torch.as_tensor(rows)]
        return out.double(), ref.double()

    def per_sample_errors(self, sampler: str, sigmas, rows=None) -> np.ndarray:
        """Per-sample RMSE (for a spread across the noises); with ``rows`` (a boolean mask or
        indices of the proxy's noises) those samples' alone, and an ODE sampler spends model
        calls on those noises only (``optimize`` refines a grid on half of them)."""
        if rows is not None:
            rows = np.arange(self.num_samples)[rows]
        return _per_sample_rmse(*self._outputs(sampler, sigmas, rows))

    @property
    def images(self) -> bool:
        """Whether a sample is an image (its last two axes at least 3 × 3): then
        :meth:`measure` also reports the outputs' detail."""
        return len(self.shape) >= 2 and min(self.shape[-2:]) >= 3

    def measure(self, sampler: str, sigmas) -> tuple[np.ndarray, float | None]:
        """Per-sample RMSE to the converged solution, and for images the outputs' detail: their
        high-frequency energy (mean square of the 3×3 Laplacian of each channel) over the
        converged solutions'. RMSE rewards blur — a final denoise from a large σ returns a
        posterior mean, the least-squares guess of unresolved detail — and the detail ratio
        (1 = as sharp, below = blurred) is what shows it."""
        out, ref = self._outputs(sampler, sigmas)
        return _per_sample_rmse(out, ref), (detail_ratio(out, ref) if self.images else None)


def _per_sample_rmse(out: torch.Tensor, ref: torch.Tensor) -> np.ndarray:
    """Each sample's RMSE over its coordinates."""
    return (out - ref).reshape(out.shape[0], -1).square().mean(1).sqrt().numpy()


# --- a mixture surrogate fitted to data samples ------------------------------------------------


def fit_mixture_surrogate(
    samples: torch.Tensor,
    *,
    max_components: int = 16,
    max_atoms: int = 256,
    restarts: int = 4,
    seed: int = 0,
):
    """A scorelab target fitted to data ``samples`` (n, d) (ours), for :class:`SurrogateProxy`.

    * Data with at most ``max_atoms`` distinct rows, each seen at least twice on average, is an
      atom law: :class:`~scorelab.targets.Discrete` on the distinct rows with their frequencies.
    * Otherwise a Gaussian mixture fitted by EM (scikit-learn, the best of ``restarts``
      initialisations), the number of components chosen by BIC among k = 1, 2, 3, …: the search
      stops two past the best k or at ``max_components``. Full covariances for d ≤ 16 (stored
      as scorelab's low-rank form λ_min I + F Fᵀ), diagonal above.
    The surrogate carries the latent component structure that governs the discretization error
    of mixtures (a single Gaussian cannot). Its component count matters for the snapped error,
    which is measured on the surrogate's own components: a component split in two adds an error
    the data do not have. On the four anisotropic mixtures of ``benchmarks/optimize_measured.py``
    BIC over every k with restarts recovers the true count (4 and 6); over powers of 2 with one
    initialisation it picked 8 for all four."""
    from sklearn.mixture import GaussianMixture as EM
    from threadpoolctl import threadpool_limits

    from ..targets import Discrete, GaussianMixture

    x = torch.as_tensor(samples).reshape(len(samples), -1).double().numpy()
    n, d = x.shape
    if n < 8:
        raise ValueError(f"a mixture surrogate needs at least 8 data samples, got {n}")
    rows, counts = np.unique(x, axis=0, return_counts=True)
    if len(rows) <= max_atoms and n >= 2 * len(rows):
        return Discrete(rows, counts / counts.sum())
    cov = "full" if d <= 16 else "diag"
    best, best_bic, best_k = None, math.inf, 0
    largest = min(max_components, n // max(4, d + 1) or 1)
    # one BLAS thread: d × d covariances gain nothing from more, and on a busy machine
    # OpenBLAS's waiting threads spin — the gaussian-16 fit took 175 s at load 4 with the
    # default threads and 1.6 s with one
    with threadpool_limits(limits=1, user_api="blas"):
        for k in range(1, largest + 1):
            if k > best_k + 2:
                break
            em = EM(k, covariance_type=cov, random_state=seed, reg_covar=1e-6, n_init=restarts).fit(
                x
            )
            bic = em.bic(x)
            if bic < best_bic:
                best, best_bic, best_k = em, bic, k
    w = best.weights_ / best.weights_.sum()
    if cov == "diag":
        return GaussianMixture(w, best.means_, best.covariances_, cov_kind="diagonal")
    lam, vec = np.linalg.eigh(best.covariances_)  # (K, d), (K, d, d)
    floor = np.maximum(lam.min(1), 1e-12)
    factors = vec * np.sqrt(np.maximum(lam - floor[:, None], 0.0))[:, None, :]
    return GaussianMixture(w, best.means_, floor, cov_kind="lowrank", factors=factors)


class SurrogateProxy:
    """A sampler's error on a grid, measured on a mixture surrogate of the data (ours).

    The surrogate (:func:`fit_mixture_surrogate`) has an exact denoiser, so the real sampler
    code runs on it at no model cost. In 1-D the output law is exact
    (:func:`scorelab.exact.exact_output_1d`): ``metric="continuous"`` is KL(p_{σ_K} ‖ output),
    ``"snapped"`` the atom-mass KL after snapping (atom surrogates). In d > 1,
    ``num_samples`` outputs from common random numbers (the same initial points and noise for
    every grid) are assigned to their most likely component: ``"snapped"`` is KL(w ‖ ŵ) of the
    assignment frequencies, ``"continuous"`` adds the within-component moment KL
    (:func:`scorelab.metrics.mixture_metrics`). Grids are measured without their final
    denoise (it is the same for every grid).
    """

    def __init__(
        self,
        samples: torch.Tensor,
        sigma_min: float,
        sigma_max: float,
        *,
        metric: str = "snapped",
        num_samples: int = 1 << 14,
        seed: int = 0,
        surrogate=None,
    ) -> None:
        if metric not in ("continuous", "snapped"):
            raise ValueError(f"metric must be 'continuous' or 'snapped', got {metric!r}")
        self.surrogate = surrogate if surrogate is not None else fit_mixture_surrogate(samples)
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)
        self.metric = metric
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.evaluations = 0  # the surrogate costs no model calls

    def prepare(self, sampler: str, sigmas) -> torch.Tensor:
        return torch.as_tensor(sigmas, dtype=torch.float64)

    def describe(self) -> str:
        kind = type(self.surrogate).__name__
        k = getattr(self.surrogate, "num_components", "?")
        return f"data surrogate: {kind} with {k} components, {self.metric} KL"

    def precise_error(self, sampler: str, sigmas) -> float:
        """:meth:`error` on 4× the samples and fresh random numbers (seed + 2): ``optimize``
        re-ranks its three best candidates by it, so a near-tie is not decided by the
        Monte-Carlo noise of one draw (the snapped KL of 2^14 outputs has a floor of about
        (k − 1)/2^15 for k components). Exact routes (1-D, one Gaussian) return the same value."""
        return self.error(sampler, sigmas, seed=self.seed + 2, samples=4 * self.num_samples)

    def held_out_error(self, sampler: str, sigmas) -> float:
        """:meth:`error` on fresh random numbers (seed + 1): ``optimize`` keeps a refined grid
        only if it also beats the chosen one there, so a refinement cannot win by fitting the
        Monte-Carlo noise of the numbers it was searched on."""
        return self.error(sampler, sigmas, seed=self.seed + 1)

    def error(
        self, sampler: str, sigmas, *, seed: int | None = None, samples: int | None = None
    ) -> float:
        """The sampler's error on the grid (class docstring); ``seed`` and ``samples`` replace
        the proxy's random numbers and their count."""
        from ..exact import LINEAR_OPTIONS, exact_output_1d, gaussian_output_kl
        from ..metrics import mixture_metrics
        from ..targets import Discrete, Gaussian, GaussianMixture

        seed = self.seed if seed is None else int(seed)
        s = self.prepare(sampler, sigmas)
        s = s[s > 0]
        target = self.surrogate
        if target.dim == 1:
            r = exact_output_1d(sampler, target, s, monte_carlo_samples=1 << 18, seed=seed)
            value = r.kl_snapped if self.metric == "snapped" else r.kl_continuous
            if not np.isfinite(value):  # no atoms: the continuous KL is the error
                value = r.kl_continuous
            return max(float(value), 0.0)
        if isinstance(target, GaussianMixture) and target.num_components == 1:
            # one Gaussian: exact law by coefficient tracking in its eigenbasis (the samplers
            # move the state by scalar coefficients, so rotation and mean shift commute)
            eig = np.maximum(target.component_eigvals()[0], 0.0)
            gauss = Gaussian(np.zeros(eig.size), eig)
            return gaussian_output_kl(sampler, gauss, s, **LINEAR_OPTIONS.get(sampler, {}))
        gen = torch.Generator().manual_seed(seed)
        count = self.num_samples if samples is None else int(samples)
        x = target.sample_noised(count, float(s[0]), gen, dtype=torch.float64)[1]
        out = SAMPLERS[sampler](target, x, torch.cat([s, s.new_zeros(1)]), generator=gen)
        if isinstance(target, Discrete):
            label = target.nearest_atom(out).numpy()
        else:
            label = target.posterior(out, 1e-150).argmax(1).numpy()
        w = target.weights
        q = np.bincount(label, minlength=w.size) / len(label)
        value = float((w * (np.log(w) - np.log(np.maximum(q, 0.5 / len(label))))).sum())
        if self.metric == "continuous" and not isinstance(target, Discrete):
            moment = mixture_metrics(out, target).moment_kl
            value += float(moment) if np.isfinite(moment) else 0.0
        return max(value, 0.0)
