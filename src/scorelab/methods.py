"""One registry of sampling methods across libraries: scorelab's samplers, k-diffusion's and
diffusers' schedulers, each with the same three questions answered in one place.

* ``nfe(k)`` — model calls for k steps, as the method counts steps (scorelab: k schedule
  intervals σ_0 > … > σ_k plus the final step to 0; k-diffusion: k intervals of its own grid,
  ending at 0; diffusers: ``set_timesteps(k)``);
* ``plan(budget, schedule, σ_min, σ_max)`` — the largest k within an NFE budget and the σ grid
  it runs on (one implementation of "largest k within a budget": :meth:`Method.steps_within`);
* ``sample(denoiser, shape, plan, seed)`` — the samples, with the seeding conventions each
  library needs (scorelab: one generator for x and the sampler's noise; k-diffusion: the same x,
  then torch's global generator seeded, as k-diffusion draws from it).

Keys are ``"library:name"``: ``scorelab:ddpm``, ``k-diffusion:heun``, ``diffusers:UniPCMultistep``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .compat.diffusers import (
    DIFFUSERS_NO_SIGMA_OPTIONS,
    DIFFUSERS_NOT_LINEAR,
    DIFFUSERS_SCHEDULERS,
    DIFFUSERS_SIGMA_OPTIONS,
    diffusers_nfe,
)
from .samplers import SAMPLERS, SamplerSpec, largest_steps_within
from .schedules import LOSS_SCHEDULES, get_schedule

__all__ = [
    "KD_SCHEDULES",
    "K_DIFFUSION_COUNTERPARTS",
    "LIBRARIES",
    "METHODS",
    "Method",
    "Plan",
    "get_method",
]

LIBRARIES = ("scorelab", "k-diffusion", "diffusers")

#: k-diffusion's σ-grid functions usable by its peers (k-diffusion names)
KD_SCHEDULES = ("karras", "exponential", "polyexponential", "vp")

#: scorelab sampler -> (its k-diffusion counterpart, scorelab options, k-diffusion options) for
#: which both compute the same update (checked in tests/test_k_diffusion_compat.py); read from
#: each sampler's :class:`~scorelab.samplers.SamplerSpec`
K_DIFFUSION_COUNTERPARTS = {
    name: spec.k_diffusion for name, spec in SAMPLERS.items() if spec.k_diffusion is not None
}


@dataclass(frozen=True)
class Plan:
    """What a method runs for one budget: ``k`` (its step argument), ``steps`` (sampler steps
    taken, as reported: scorelab counts the final step to 0) and the σ grid (None for diffusers,
    whose scheduler builds its own)."""

    k: int
    steps: int
    sigmas: torch.Tensor | None
    schedule: str


@dataclass(frozen=True, kw_only=True)
class Method:
    """A sampling method of one library (see the module docstring).

    Args:
        library: one of :data:`LIBRARIES`.
        name: the library's own name of the method.
        nfe: model calls for k steps.
        grid: ``grid(k, schedule, σ_min, σ_max, curve)`` → (σ grid or None, steps taken);
            ``curve()`` gives the mmse curve for loss-curve schedules.
        sample: ``sample(denoiser, shape, plan, seed)`` → samples.
        schedules: the schedule names the method accepts (None: any scorelab schedule).
        sampler: the method in k-diffusion's calling convention, when it has one.
        gaussian_law: ``gaussian_law(target, plan)`` → the exact output covariance (float64,
            (d, d)) of the method's own code on a centred Gaussian ``target`` with its exact
            (linear) denoiser, or None where the method is not linear in its start and noise
            (see :func:`output_covariance`).
    """

    library: str
    name: str
    nfe: Callable[[int], int]
    grid: Callable[..., tuple[torch.Tensor | None, int]]
    sample: Callable[..., torch.Tensor]
    schedules: tuple[str, ...] | None = None
    sampler: Callable[..., torch.Tensor] | None = None
    gaussian_law: Callable[..., torch.Tensor] | None = None

    @property
    def key(self) -> str:
        return f"{self.library}:{self.name}"

    @property
    def is_peer(self) -> bool:
        return self.library != "scorelab"

    def steps_within(self, nfe_budget: int) -> int:
        """The largest k with nfe(k) ≤ ``nfe_budget`` (ValueError when even k = 1 does not fit)."""
        try:
            return largest_steps_within(self.nfe, nfe_budget, self.key)
        except ValueError:
            raise ValueError(f"{self.key} cannot run within NFE {nfe_budget}") from None

    def plan(
        self,
        nfe_budget: int,
        schedule: str,
        sigma_min: float,
        sigma_max: float,
        curve: Callable[[], object] | None = None,
    ) -> Plan:
        """The plan of the largest k within ``nfe_budget`` on ``schedule``."""
        k = self.steps_within(nfe_budget)
        sigmas, steps = self.grid(k, schedule, sigma_min, sigma_max, curve)
        return Plan(k, steps, sigmas, schedule)

    def run(self, denoiser, shape: tuple[int, ...], plan: Plan, seed: int) -> torch.Tensor:
        """Samples of ``shape`` following ``plan``, seeded by ``seed``."""
        return self.sample(denoiser, shape, plan, seed)


# --- scorelab ---------------------------------------------------------------------------


def _scorelab_grid(k, schedule, lo, hi, curve):
    if schedule in LOSS_SCHEDULES:  # built from the target's mmse curve (oracle or measured)
        if curve is None:
            raise ValueError(f"schedule {schedule!r} needs an mmse curve")
        c = curve()
        sigma = getattr(c, "sigma", None)  # a measured LossCurve: stay where it was observed
        if sigma is not None:
            lo, hi = max(lo, float(sigma[0])), min(hi, float(sigma[-1]))
        grid = LOSS_SCHEDULES[schedule](k, c, lo, hi, num_candidates=800, final_zero=True)
    else:
        grid = get_schedule(schedule, k, lo, hi, final_zero=True)
    return grid.to(torch.float32), k + 1


def _scorelab_law(spec: SamplerSpec):
    def law(target, plan: Plan) -> torch.Tensor:
        from .exact import gaussian_output_law

        return gaussian_output_law(spec, target, plan.sigmas.double())

    return law


def _scorelab_sample(spec: SamplerSpec):
    def sample(denoiser, shape, plan: Plan, seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(shape, generator=gen) * plan.sigmas[0]
        with torch.no_grad():
            return spec(denoiser, x, plan.sigmas, generator=gen)

    return sample


# --- k-diffusion ------------------------------------------------------------------------

#: k-diffusion samplers usable as peers: name -> NFE for k steps ending at σ = 0
_KD_NFE = {
    "euler": lambda k: k,
    "euler_ancestral": lambda k: k,
    "heun": lambda k: 2 * k - 1,
    "dpm_2": lambda k: 2 * k - 1,
    "lms": lambda k: k,
    "dpmpp_2m": lambda k: k,
    "dpmpp_2m_sde": lambda k: k,
    "dpmpp_3m_sde": lambda k: k,
}


def _kd_grid(k, schedule, lo, hi, curve):
    from .compat.k_diffusion import load_sampling

    kd = load_sampling()
    if schedule == "karras":
        s = kd.get_sigmas_karras(k, lo, hi)
    elif schedule == "exponential":
        s = kd.get_sigmas_exponential(k, lo, hi)
    elif schedule == "polyexponential":
        s = kd.get_sigmas_polyexponential(k, lo, hi)
    elif schedule == "vp":
        s = kd.get_sigmas_vp(k)
    else:
        raise ValueError(f"unknown k-diffusion schedule {schedule!r}; choose from {KD_SCHEDULES}")
    return s.to(torch.float32), k


#: k-diffusion SDE samplers whose default noise is a Brownian tree (torchsde). Each step asks the
#: tree for the increment over its own interval [σ_{i+1}, σ_i]; the intervals are disjoint, so
#: the increments are independent standard normals and the output law is the same with
#: k-diffusion's ``default_noise_sampler`` (fresh ``randn`` per step). The bench uses that: the
#: tree costs ~40 s per 5000 × 1000 cell at NFE 20 on one core, against 0.5 s for the sampler's
#: own arithmetic. (Users who need the tree's step-size consistency keep it in :func:`_kd_sampler`.)
KD_TREE_SAMPLERS = frozenset({"dpmpp_2m_sde", "dpmpp_3m_sde"})


def _kd_sample(name: str):
    def sample(denoiser, shape, plan: Plan, seed: int) -> torch.Tensor:
        from .compat.k_diffusion import k_diffusion_sampler, load_sampling

        fn = k_diffusion_sampler(name)
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(shape, generator=gen) * plan.sigmas[0]
        torch.manual_seed(seed)  # k-diffusion draws its noise from the global generator
        options = {}
        if name in KD_TREE_SAMPLERS:
            options["noise_sampler"] = load_sampling().default_noise_sampler(x)
        with torch.no_grad():
            return fn(denoiser, x, plan.sigmas, **options)

    return sample


#: k-diffusion samplers that take their noise from ``noise_sampler(σ, σ_next)``
KD_NOISY_SAMPLERS = frozenset({"euler_ancestral", "dpmpp_2m_sde", "dpmpp_3m_sde"})


def _kd_law(name: str):
    def law(target, plan: Plan) -> torch.Tensor:
        """Coefficient tracking through k-diffusion's own function: the batch holds one row per
        standard-normal input (the start's d, then d per noise draw), the noise sampler hands
        step j the unit vectors of its block, so the output rows are the linear map's columns
        and the covariance is outᵀ·out. Starts from the exact law N(0, Σ + σ_0² I), as
        :func:`scorelab.exact.gaussian_output_law` does for scorelab's samplers."""
        from .compat.k_diffusion import load_sampling
        from .exact import gaussian_start_basis

        fn = getattr(load_sampling(), f"sample_{name}")
        sigmas, d = plan.sigmas.double(), target.dim
        draws = len(sigmas) - 1 if name in KD_NOISY_SAMPLERS else 0
        rows = d * (1 + draws)
        x = gaussian_start_basis(target, float(sigmas[0]), rows)
        options = {}
        if draws:
            eye, calls = torch.eye(rows, dtype=torch.float64), iter(range(1, draws + 1))

            def noise(sigma, sigma_next) -> torch.Tensor:
                j = next(calls, None)
                if j is None:
                    raise RuntimeError(f"k-diffusion {name} drew noise more than once per step")
                return eye[:, j * d : (j + 1) * d]

            options["noise_sampler"] = noise
        with torch.no_grad():
            out = fn(target, x, sigmas, disable=True, **options)
        return out.T @ out

    return law


def _kd_sampler(name: str):
    def sampler(
        denoiser, x, sigmas, *, generator=None, callback=None, extra_args=None
    ) -> torch.Tensor:
        from .compat.k_diffusion import k_diffusion_sampler

        return k_diffusion_sampler(name)(
            denoiser, x, sigmas, generator=generator, callback=callback, extra_args=extra_args
        )

    return sampler


# --- diffusers --------------------------------------------------------------------------


def _diffusers_grid(k, schedule, lo, hi, curve):
    return None, k


def _diffusers_sample(name: str):
    def sample(denoiser, shape, plan: Plan, seed: int) -> torch.Tensor:
        from .compat.diffusers import sample_with_diffusers

        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            return sample_with_diffusers(
                name, plan.schedule, denoiser, shape, plan.k, generator=gen
            )

    return sample


def _diffusers_law(name: str):
    def law(target, plan: Plan) -> torch.Tensor:
        """The scheduler as shipped, started from the identity latents (its own start N(0, I)
        times ``init_noise_sigma``): the output rows are the linear map's columns."""
        from .compat.diffusers import sample_with_diffusers

        d = target.dim
        with torch.no_grad():
            out = sample_with_diffusers(
                name,
                plan.schedule,
                target,
                (d, d),
                plan.k,
                dtype=torch.float64,
                latents=torch.eye(d, dtype=torch.float64),
            )
        return out.T @ out

    return law


def _build() -> dict[str, Method]:
    methods: list[Method] = []
    for name, spec in SAMPLERS.items():
        methods.append(
            Method(
                library="scorelab",
                name=name,
                nfe=spec.schedule_nfe,
                grid=_scorelab_grid,
                sample=_scorelab_sample(spec),
                sampler=spec.fn,
                gaussian_law=_scorelab_law(spec) if spec.linear_by_default else None,
            )
        )
    for name, nfe in _KD_NFE.items():
        methods.append(
            Method(
                library="k-diffusion",
                name=name,
                nfe=nfe,
                grid=_kd_grid,
                sample=_kd_sample(name),
                schedules=KD_SCHEDULES,
                sampler=_kd_sampler(name),
                gaussian_law=_kd_law(name),
            )
        )
    for name in DIFFUSERS_SCHEDULERS:
        schedules = (
            ("default",) if name in DIFFUSERS_NO_SIGMA_OPTIONS else tuple(DIFFUSERS_SIGMA_OPTIONS)
        )
        methods.append(
            Method(
                library="diffusers",
                name=name,
                nfe=lambda k, name=name: diffusers_nfe(name, k),
                grid=_diffusers_grid,
                sample=_diffusers_sample(name),
                schedules=schedules,
                gaussian_law=None if name in DIFFUSERS_NOT_LINEAR else _diffusers_law(name),
            )
        )
    return {m.key: m for m in methods}


#: "library:name" -> :class:`Method`
METHODS: dict[str, Method] = _build()


def get_method(key: str) -> Method:
    """Look a method up by its ``library:name`` key."""
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(
            f"unknown method {key!r}; supported: {', '.join(k for k in METHODS)}"
        ) from None
