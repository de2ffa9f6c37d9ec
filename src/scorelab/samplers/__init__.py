"""Samplers in k-diffusion's calling convention:
``sampler(denoiser, x, sigmas, *, generator=None, callback=None, extra_args=None, **options)
-> x``.

:data:`SAMPLERS` maps names to :class:`SamplerSpec`, which also *declares* each sampler's cost:
the number of denoiser calls (NFE, one call evaluates the whole batch) and of distinct noise
levels queried, as functions of the σ grid. Tests hold every sampler to its declaration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ._common import BrownianNoise, SampleStreams, largest_steps_within, noise_source
from .accel_sde import accel_sde_nfe, sample_accel_sde
from .accelerated import (
    sample_li_accelerated_ode,
    sample_li_accelerated_sde,
    sample_randomized_midpoint,
)
from .basic import (
    sample_ddim,
    sample_ddpm,
    sample_ddpm_beta,
    sample_euler,
    sample_euler_maruyama,
    sample_heun,
)
from .deis import sample_deis
from .dpm_solver import sample_dpm_2, sample_dpmpp_2m, sample_dpmpp_2m_sde, sample_dpmpp_3m
from .ipndm import sample_ipndm
from .ipndm_v import sample_ipndm_v
from .unipc import sample_unipc


def _steps(sigmas) -> tuple[int, int]:
    k = len(sigmas) - 1
    return k, int(float(sigmas[-1]) == 0.0)


def _one_per_step(sigmas) -> int:
    return _steps(sigmas)[0]


def _two_per_step(sigmas) -> int:
    k, z = _steps(sigmas)
    return 2 * k - z


def _grid_levels(sigmas) -> int:
    """Levels σ_0 … σ_{K−1} (one query at the start of every step)."""
    return _steps(sigmas)[0]


def _warm_start(sigmas) -> int:
    k, _ = _steps(sigmas)
    return k + int(float(sigmas[1]) != 0.0)


def _heun_levels(sigmas) -> int:
    k, z = _steps(sigmas)
    return k + 1 - z  # σ_0 … σ_K except a final 0


@dataclass(frozen=True, kw_only=True, eq=False)
class SamplerSpec:
    """A sampler and everything scorelab knows about it: its declared cost and theory facts.
    No other module keeps a list of sampler names; ``tests/test_samplers.py`` ties each fact to
    a measurement."""

    fn: Callable[..., torch.Tensor]
    nfe: Callable[[torch.Tensor], int]
    distinct_levels: Callable[[torch.Tensor], int]
    #: convergence order in the step size: of the trajectory error for ODE samplers, of the weak
    #: (law) error for SDE samplers — so KL(output ‖ target) = O(K^{−2·order}) on smooth problems
    order: float
    stochastic: bool
    reference: str
    #: a step is x_{i+1} = f(x_i; σ_i, σ_{i+1}) + g(σ_i, σ_{i+1})·ξ with one Gaussian draw and no
    #: state besides x (no history, no random times): :mod:`scorelab.exact` propagates its law
    markov: bool = False
    #: the options under which the sampler is linear in its start and noise draws given a linear
    #: denoiser, as :mod:`scorelab.exact` needs: ``{}`` as called by default; None never
    linear_with: dict[str, object] | None = field(default_factory=dict)
    #: k-diffusion's function computing the same update, as (its name, our options, its options)
    k_diffusion: tuple[str, dict, dict] | None = None
    #: the sampler's error has the closed-form discretization term D of ``docs/design/las.md``
    #: (the frozen-x0 posterior sampler it is derived for)
    exact_d: bool = False

    @property
    def linear_by_default(self) -> bool:
        """Linear in start and noise as called with no options (a Gaussian law is exact)."""
        return self.linear_with == {}

    def __call__(self, denoiser, x, sigmas, **kwargs) -> torch.Tensor:
        return self.fn(denoiser, x, sigmas, **kwargs)

    def schedule_nfe(self, k: int) -> int:
        """Declared NFE of a k-step schedule σ_0 > … > σ_k followed by the final step to 0
        (k + 1 sampler steps). The NFE formulas depend only on the grid's length and zeros, so a
        stand-in grid of that shape is costed."""
        shape = torch.cat([torch.linspace(2.0, 1.0, k + 1, dtype=torch.float64), torch.zeros(1)])
        return self.nfe(shape)

    def max_schedule_steps(self, nfe_budget: int) -> int:
        """The largest k whose :meth:`schedule_nfe` is at most ``nfe_budget``."""
        return largest_steps_within(self.schedule_nfe, nfe_budget, "this sampler")


SAMPLERS: dict[str, SamplerSpec] = {
    "euler": SamplerSpec(
        fn=sample_euler,
        nfe=_one_per_step,
        distinct_levels=_grid_levels,
        order=1,
        stochastic=False,
        reference="Karras et al. 2022, Alg. 1 (Euler)",
        markov=True,
        k_diffusion=("sample_euler", {}, {}),
    ),
    "heun": SamplerSpec(
        fn=sample_heun,
        nfe=_two_per_step,
        distinct_levels=_heun_levels,
        order=2,
        stochastic=False,
        reference="Karras et al. 2022, Alg. 1",
        k_diffusion=("sample_heun", {}, {}),
    ),
    "ddim": SamplerSpec(
        fn=sample_ddim,
        nfe=_one_per_step,
        distinct_levels=_grid_levels,
        order=1,
        stochastic=False,
        reference="Song et al. 2021 (η = 0)",
        markov=True,
    ),
    "dpm_2": SamplerSpec(
        fn=sample_dpm_2,
        nfe=_two_per_step,
        distinct_levels=_two_per_step,
        order=2,
        stochastic=False,
        reference="Lu et al. 2022, DPM-Solver-2",
        k_diffusion=("sample_dpm_2", {}, {}),
    ),
    "dpmpp_2m": SamplerSpec(
        fn=sample_dpmpp_2m,
        nfe=_one_per_step,
        distinct_levels=_grid_levels,
        order=2,
        stochastic=False,
        reference="Lu et al. 2023, DPM-Solver++(2M)",
        k_diffusion=("sample_dpmpp_2m", {}, {}),
    ),
    "dpmpp_3m": SamplerSpec(
        fn=sample_dpmpp_3m,
        nfe=_warm_start,
        distinct_levels=_warm_start,
        order=3,
        stochastic=False,
        reference="DPM-Solver++(3M), warm-started",
        k_diffusion=("sample_dpmpp_3m_sde", {"warm_start": False}, {"eta": 0.0}),
    ),
    "li_ode": SamplerSpec(
        fn=sample_li_accelerated_ode,
        nfe=_one_per_step,
        distinct_levels=_grid_levels,
        order=2,
        stochastic=False,
        reference="Li et al. 2024, arXiv 2403.03852, accelerated ODE",
    ),
    "unipc": SamplerSpec(
        fn=sample_unipc,
        nfe=_one_per_step,
        distinct_levels=_grid_levels,
        order=3,
        stochastic=False,
        reference="Zhao et al. 2023, UniPC-2 (bh2), arXiv 2302.04867",
    ),
    "ipndm": SamplerSpec(
        fn=sample_ipndm,
        nfe=_one_per_step,
        distinct_levels=_grid_levels,
        order=2,
        stochastic=False,
        reference="Zhang & Chen 2023, iPNDM (EDM form)",
    ),
    "ipndm_v": SamplerSpec(
        fn=sample_ipndm_v,
        nfe=_one_per_step,
        distinct_levels=_grid_levels,
        order=3,
        stochastic=False,
        reference="iPNDM, variable-step Adams–Bashforth weights (= k-diffusion LMS, order 4)",
    ),
    "deis": SamplerSpec(
        fn=sample_deis,
        nfe=_one_per_step,
        distinct_levels=_grid_levels,
        order=2,
        stochastic=False,
        reference="Zhang & Chen 2022, DEIS ρAB (log ρ)",
    ),
    "ddpm": SamplerSpec(
        fn=sample_ddpm,
        nfe=_one_per_step,
        distinct_levels=_grid_levels,
        order=1,
        stochastic=True,
        reference="Ho et al. 2020 posterior variance; las.md §2",
        markov=True,
        exact_d=True,
    ),
    "ddpm_beta": SamplerSpec(
        fn=sample_ddpm_beta,
        nfe=_one_per_step,
        distinct_levels=_grid_levels,
        order=1,
        stochastic=True,
        reference="Ho et al. 2020, β_t variance (theory DDPM)",
        markov=True,
    ),
    "euler_maruyama": SamplerSpec(
        fn=sample_euler_maruyama,
        nfe=_one_per_step,
        distinct_levels=_grid_levels,
        order=1,
        stochastic=True,
        reference="Song et al. 2021, reverse-diffusion predictor",
        markov=True,
    ),
    "dpmpp_2m_sde": SamplerSpec(
        fn=sample_dpmpp_2m_sde,
        nfe=_one_per_step,
        distinct_levels=_grid_levels,
        order=2,
        stochastic=True,
        reference="Lu et al. 2023, DPM-Solver++(2M) SDE",
        k_diffusion=("sample_dpmpp_2m_sde", {}, {}),
    ),
    "li_sde": SamplerSpec(
        fn=sample_li_accelerated_sde,
        nfe=_one_per_step,
        distinct_levels=_grid_levels,
        order=1,
        stochastic=True,
        reference="Li et al. 2024, arXiv 2403.03852, accelerated SDE (TV O(1/T))",
    ),
    "randomized_midpoint": SamplerSpec(
        fn=sample_randomized_midpoint,
        nfe=_two_per_step,
        distinct_levels=_two_per_step,
        order=1.5,
        stochastic=True,
        reference="Gupta, Cai & Chen 2024, arXiv 2406.00924, randomized-midpoint predictor",
    ),
    "accel_sde": SamplerSpec(
        fn=sample_accel_sde,
        nfe=accel_sde_nfe,
        distinct_levels=accel_sde_nfe,
        order=2,
        stochastic=True,
        reference=(
            "scorelab, after the mechanism of Li & Cai 2024, arXiv 2410.23285 "
            "(docs/design/accel.md)"
        ),
        linear_with={"clip": None},
    ),
}


def get_sampler(name: str) -> SamplerSpec:
    """Look a sampler up by name."""
    try:
        return SAMPLERS[name]
    except KeyError:
        raise ValueError(f"unknown sampler {name!r}; choose from {sorted(SAMPLERS)}") from None


__all__ = [
    "SAMPLERS",
    "BrownianNoise",
    "SampleStreams",
    "SamplerSpec",
    "get_sampler",
    "largest_steps_within",
    "noise_source",
    "sample_accel_sde",
    "sample_ddim",
    "sample_ddpm",
    "sample_ddpm_beta",
    "sample_deis",
    "sample_dpm_2",
    "sample_dpmpp_2m",
    "sample_dpmpp_2m_sde",
    "sample_dpmpp_3m",
    "sample_euler",
    "sample_euler_maruyama",
    "sample_heun",
    "sample_ipndm",
    "sample_ipndm_v",
    "sample_li_accelerated_ode",
    "sample_li_accelerated_sde",
    "sample_randomized_midpoint",
    "sample_unipc",
]
