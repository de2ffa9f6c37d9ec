"""Drive diffusers' schedulers with a scorelab denoiser, as a diffusers user would.

The denoiser is presented to the scheduler as a discrete-time ε-prediction model of a DDPM with
the given β schedule (default: linear, 1000 steps): for a scheduler input ``u`` at timestep ``t``
(which ``scale_model_input`` has already put in VP coordinates, u = x_σ/√(1+σ²)) the model
returns ε̂ = (x_σ − D(x_σ, σ_t))/σ_t with σ_t the model's noise level at (possibly fractional) t,
interpolated in log σ. The schedulers then run their own grids (``default`` spacing, or the
``karras`` / ``exponential`` / ``beta`` σ options), so each peer is measured exactly as shipped.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .. import processes

__all__ = [
    "DIFFUSERS_NOT_LINEAR",
    "DIFFUSERS_NO_SIGMA_OPTIONS",
    "DIFFUSERS_SCHEDULERS",
    "DIFFUSERS_SIGMA_OPTIONS",
    "DIFFUSERS_STOCHASTIC",
    "DiffusersUnavailable",
    "diffusers_nfe",
    "sample_with_diffusers",
]

#: scorelab peer name -> diffusers class name
DIFFUSERS_SCHEDULERS = {
    "DDIM": "DDIMScheduler",
    "DDPM": "DDPMScheduler",
    "DPMSolverMultistep": "DPMSolverMultistepScheduler",
    "UniPCMultistep": "UniPCMultistepScheduler",
    "UniPCMultistepBH1": "UniPCMultistepScheduler",
    "UniPCMultistep3": "UniPCMultistepScheduler",
    "DEISMultistep": "DEISMultistepScheduler",
    "Euler": "EulerDiscreteScheduler",
    "Heun": "HeunDiscreteScheduler",
    "EulerAncestral": "EulerAncestralDiscreteScheduler",
    "DPMSolverMultistepSDE": "DPMSolverMultistepScheduler",
}
#: the variants' scheduler options (diffusers' defaults otherwise: UniPC is bh2, order 2).
#: bh1 ends at the training σ_min: with ``final_sigmas_type="zero"`` its last step returns NaN
#: (B(h) = h with h = ∞ at σ = 0; measured with diffusers 0.42.1, float32 and float64)
_VARIANT_OPTIONS = {
    "UniPCMultistepBH1": {"solver_type": "bh1", "final_sigmas_type": "sigma_min"},
    "UniPCMultistep3": {"solver_order": 3},
    "DPMSolverMultistepSDE": {"algorithm_type": "sde-dpmsolver++"},
}
#: σ options (scheduler keyword) and which schedulers accept them
DIFFUSERS_SIGMA_OPTIONS = {
    "default": None,
    "karras": "use_karras_sigmas",
    "exponential": "use_exponential_sigmas",
    "beta": "use_beta_sigmas",
}
#: schedulers without σ options (their own timesteps only)
DIFFUSERS_NO_SIGMA_OPTIONS = frozenset({"DDIM", "DDPM", "EulerAncestral"})
#: schedulers that draw noise while stepping (from the ``generator`` passed to ``step``)
DIFFUSERS_STOCHASTIC = frozenset({"DDPM", "EulerAncestral", "DPMSolverMultistepSDE"})
#: schedulers whose output is not a linear map of the latents given a linear model: the
#: stochastic ones, and DDIM and DDPM clip the predicted x0 to [-1, 1] (diffusers' default
#: ``clip_sample=True``, kept: the peers run as shipped)
DIFFUSERS_NOT_LINEAR = DIFFUSERS_STOCHASTIC | {"DDIM"}


class DiffusersUnavailable(ImportError):
    """diffusers is not installed."""


def diffusers_nfe(name: str, steps: int) -> int:
    """Model calls for ``steps`` scheduler steps (Heun: 2·steps − 1, others: steps)."""
    return 2 * steps - 1 if name == "Heun" else steps


def _scheduler(name: str, schedule: str, betas_kind: str, num_train_timesteps: int):
    try:
        import diffusers
    except ImportError as err:
        raise DiffusersUnavailable("diffusers is not installed (pip install diffusers)") from err
    if name not in DIFFUSERS_SCHEDULERS:
        raise ValueError(
            f"unknown diffusers scheduler {name!r}; choose from {sorted(DIFFUSERS_SCHEDULERS)}"
        )
    if schedule not in DIFFUSERS_SIGMA_OPTIONS:
        raise ValueError(
            f"unknown diffusers schedule {schedule!r}; choose from "
            f"{sorted(DIFFUSERS_SIGMA_OPTIONS)}"
        )
    if schedule != "default" and name in DIFFUSERS_NO_SIGMA_OPTIONS:
        raise ValueError(f"diffusers {name} has no {schedule!r} σ option")
    cls = getattr(diffusers, DIFFUSERS_SCHEDULERS[name])
    kwargs = {
        "num_train_timesteps": num_train_timesteps,
        "beta_schedule": betas_kind,
        "prediction_type": "epsilon",
    }
    if schedule != "default":
        kwargs[DIFFUSERS_SIGMA_OPTIONS[schedule]] = True
    kwargs.update(_VARIANT_OPTIONS.get(name, {}))
    return cls(**kwargs)


@torch.no_grad()
def sample_with_diffusers(
    name: str,
    schedule: str,
    denoiser: Callable,
    shape: tuple[int, ...],
    steps: int,
    *,
    generator: torch.Generator | None = None,
    beta_schedule: str = "linear",
    num_train_timesteps: int = 1000,
    dtype: torch.dtype = torch.float32,
    latents: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sample ``shape`` with diffusers' scheduler ``name`` for ``steps`` steps; returns x0.
    ``latents``: the standard-normal draws the start is made of (times the scheduler's
    ``init_noise_sigma``), of ``shape``; drawn from ``generator`` when None."""
    sched = _scheduler(name, schedule, beta_schedule, num_train_timesteps)
    table = processes.ddpm_sigmas(processes.ddpm_betas(beta_schedule, num_train_timesteps))
    sched.set_timesteps(steps)

    def eps_model(u: torch.Tensor, t) -> torch.Tensor:
        t_val = float(t)
        sigma = float(np.exp(np.interp(t_val, np.arange(len(table)), np.log(table))))
        x = u * (1 + sigma**2) ** 0.5
        s = torch.full((u.shape[0],), sigma, dtype=u.dtype)
        return (x - denoiser(x, s)) / sigma

    if latents is None:
        latents = torch.randn(shape, generator=generator, dtype=dtype)
    elif tuple(latents.shape) != tuple(shape):
        raise ValueError(f"latents have shape {tuple(latents.shape)}, expected {tuple(shape)}")
    x = latents.to(dtype) * sched.init_noise_sigma
    step_options = {"generator": generator} if name in DIFFUSERS_STOCHASTIC | {"DDIM"} else {}
    for t in sched.timesteps:
        u = sched.scale_model_input(x, t)
        eps = eps_model(u, t)
        x = sched.step(eps, t, x, **step_options).prev_sample
    return x
