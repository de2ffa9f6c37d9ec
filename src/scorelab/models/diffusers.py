"""Users' own models as scorelab denoisers, and LAS schedules into diffusers pipelines.

* :class:`DiffusersModelDenoiser` — a diffusers ``UNet2DModel`` (or any ``model(sample, t)``
  returning ``.sample`` or a tensor) trained as a discrete DDPM with a β schedule, in any of
  diffusers' ``prediction_type``\\ s, exposed as ``D(x_σ, σ) = E[x0 | x_σ]`` in σ-space
  (x_σ = x0 + σ z). With ᾱ(σ) = 1/(1 + σ²): the model input is u = √ᾱ x_σ at the fractional
  timestep t(σ) (log-σ interpolation of the training table, k-diffusion's convention), and
  epsilon: x̂0 = x_σ − σ ε̂;  v_prediction: x̂0 = √ᾱ u − √(1−ᾱ) v̂;  sample: x̂0 = output.
  At a training timestep this is exactly the ``pred_original_sample`` of diffusers'
  ``DDPMScheduler.step`` (tested).
* :class:`KDiffusionDenoiser` — a k-diffusion-style ``model(x, sigma, **extra_args)`` (already a
  σ-space denoiser), with scorelab's input checks, σ broadcast to the batch and fixed extra
  arguments (e.g. class labels).
* :func:`load_diffusers_model` — a diffusers model folder (``unet/`` + ``scheduler/``, or
  ``config.json`` + ``scheduler_config.json``) as a denoiser: a DDPM-type scheduler gives a
  :class:`DiffusersModelDenoiser`, a ``FlowMatch*`` scheduler a flow-matching velocity model
  (:class:`scorelab.models.VelocityDenoiser`, model time 1000·t).
* :func:`scheduled_pipeline` — a diffusers ``DiffusionPipeline`` (UNet + scheduler) whose
  call takes ``timesteps=`` or ``sigmas=`` (the output of
  :func:`scorelab.schedules.to_diffusers`), so an exported LAS schedule runs in diffusers itself.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import torch

from .. import processes
from .._validation import as_sigma

__all__ = [
    "PREDICTION_TYPES",
    "DiffusersModelDenoiser",
    "KDiffusionDenoiser",
    "diffusers_model_parts",
    "is_flow_scheduler_config",
    "load_diffusers_model",
    "scheduled_pipeline",
]

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


class DiffusersModelDenoiser:
    """See the module docstring. ``scheduler_config`` is a diffusers scheduler's ``config`` (or
    the scheduler); ``prediction_type`` defaults to the config's. ``sample_shape`` lets flat
    (batch, d) inputs be reshaped for the model."""

    def __init__(
        self,
        model: Callable,
        scheduler_config,
        *,
        prediction_type: str | None = None,
        sample_shape: tuple[int, ...] | None = None,
    ) -> None:
        config = dict(getattr(scheduler_config, "config", scheduler_config))
        if is_flow_scheduler_config(config):
            raise ValueError(
                f"this model's scheduler is {config.get('_class_name')}: a flow-matching "
                "(velocity) model, not an x0/ε/v DDPM model; load it with "
                "scorelab.compat.load_diffusers_model or scorelab.models.VelocityDenoiser"
            )
        kind = prediction_type or config.get("prediction_type", "epsilon")
        if kind not in PREDICTION_TYPES:
            raise ValueError(
                f"unknown prediction_type {kind!r}; expected one of {PREDICTION_TYPES}"
            )
        if config.get("trained_betas") is not None:
            betas = np.asarray(config["trained_betas"], dtype=np.float64)
        else:
            betas = processes.ddpm_betas(
                config.get("beta_schedule", "linear"),
                int(config.get("num_train_timesteps", 1000)),
                beta_start=float(config.get("beta_start", 1e-4)),
                beta_end=float(config.get("beta_end", 0.02)),
            )
        self.model = model
        self.prediction_type = kind
        self.sample_shape = None if sample_shape is None else tuple(sample_shape)
        self.sigma_table = processes.ddpm_sigmas(betas)

    @property
    def sigma_min(self) -> float:
        return float(self.sigma_table[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigma_table[-1])

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        s = as_sigma(sigma, x.shape[0], like=torch.empty(0, dtype=torch.float64))
        # σ's rounded to float32 at the table's ends (e.g. by diffusers' own schedulers) land up
        # to a few ulps outside it: snap those (relative 1e-5) in; farther ones are refused below
        lo, hi = self.sigma_min, self.sigma_max
        s = torch.where((s < lo) & (s >= lo * (1 - 1e-5)), torch.full_like(s, lo), s)
        s = torch.where((s > hi) & (s <= hi * (1 + 1e-5)), torch.full_like(s, hi), s)
        t = torch.as_tensor(processes.sigma_to_timestep(s.numpy(), self.sigma_table))
        shape = x.shape if self.sample_shape is None else (x.shape[0], *self.sample_shape)
        xs = x.reshape(shape)
        param = next(iter(getattr(self.model, "parameters", lambda: iter([x]))()))
        s_b = s.to(xs.dtype).reshape(-1, *([1] * (xs.ndim - 1)))
        sqrt_ab = 1 / torch.sqrt(1 + s_b**2)
        u = sqrt_ab * xs
        out = self.model(u.to(param.dtype), t.to(param.dtype))
        out = (out.sample if hasattr(out, "sample") else out).to(xs.dtype)
        if self.prediction_type == "epsilon":
            x0 = xs - s_b * out
        elif self.prediction_type == "v_prediction":
            x0 = sqrt_ab * u - torch.sqrt(1 - sqrt_ab**2) * out
        else:
            x0 = out
        return x0.reshape(x.shape)


def is_flow_scheduler_config(config) -> bool:
    """Whether a diffusers scheduler config describes a flow-matching model."""
    config = dict(getattr(config, "config", config))
    name = str(config.get("_class_name", ""))
    return name.startswith("FlowMatch") or bool(config.get("use_flow_sigmas"))


def diffusers_model_parts(folder: Path) -> tuple[Path, Path]:
    """``(UNet folder, scheduler config file)`` of a diffusers model folder, or a one-line
    ValueError saying what is missing."""
    folder = Path(folder)
    layouts = (
        (folder / "unet", folder / "scheduler" / "scheduler_config.json"),
        (folder, folder / "scheduler_config.json"),
    )
    for unet, scheduler in layouts:
        if (unet / "config.json").is_file() and scheduler.is_file():
            return unet, scheduler
    raise ValueError(
        f"{folder} is not a diffusers model folder: expected unet/ and scheduler/ (a saved "
        "pipeline) or config.json with scheduler_config.json"
    )


#: σ range used for flow-matching models, whose time runs over all of (0, 1): t ∈ [1e-3, 0.999]
FLOW_SIGMA_RANGE = (1e-3 / (1 - 1e-3), 0.999 / (1 - 0.999))


def load_diffusers_model(folder: str | Path):
    """``(denoiser, sample shape)`` of a diffusers ``UNet2DModel`` folder (module docstring).
    The denoiser has ``sigma_min``/``sigma_max``: the DDPM model's training table, or
    :data:`FLOW_SIGMA_RANGE` for a flow model."""
    import json

    try:
        from diffusers import UNet2DModel
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("a diffusers model needs diffusers (pip install diffusers)") from err
    from .flow import VelocityDenoiser

    folder = Path(folder)
    unet_dir, scheduler_file = diffusers_model_parts(folder)
    try:
        unet = UNet2DModel.from_pretrained(unet_dir).eval()
        config = json.loads(scheduler_file.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot load the diffusers model in {folder}: {err}") from err
    size = unet.config.sample_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    shape = (unet.config.in_channels, *size)
    if is_flow_scheduler_config(config):
        scale = float(config.get("num_train_timesteps", 1000))
        denoiser = VelocityDenoiser(torch.no_grad()(unet), sample_shape=shape, t_scale=scale)
        denoiser.sigma_min, denoiser.sigma_max = FLOW_SIGMA_RANGE
        return denoiser, shape
    return DiffusersModelDenoiser(unet, config, sample_shape=shape), shape


class KDiffusionDenoiser:
    """A k-diffusion-style model ``model(x, sigma, **extra_args) -> denoised`` as a scorelab
    denoiser (``sigma`` broadcast to a (batch,) tensor of the input's dtype)."""

    def __init__(self, model: Callable, **extra_args) -> None:
        if not callable(model):
            raise TypeError(f"model must be callable, got {type(model).__name__}")
        self.model = model
        self.extra_args = extra_args

    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        s = as_sigma(sigma, x.shape[0], like=x)
        out = self.model(x, s, **self.extra_args)
        if out.shape != x.shape:
            raise ValueError(f"model returned shape {tuple(out.shape)} for input {tuple(x.shape)}")
        return out


@cache
def _pipeline_class() -> type:
    try:
        from diffusers import DiffusionPipeline
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("scheduled_pipeline needs diffusers (pip install diffusers)") from err

    class ScheduledDDPMPipeline(DiffusionPipeline):
        """UNet + scheduler; ``pipe(batch, timesteps=... | sigmas=... | num_inference_steps=...)``
        returns the samples as a tensor."""

        def __init__(self, unet, scheduler):
            super().__init__()
            self.register_modules(unet=unet, scheduler=scheduler)

        @torch.no_grad()
        def __call__(
            self,
            batch_size: int = 1,
            *,
            timesteps: list[int] | None = None,
            sigmas: list[float] | None = None,
            num_inference_steps: int | None = None,
            generator: torch.Generator | None = None,
        ) -> torch.Tensor:
            given = [a is not None for a in (timesteps, sigmas, num_inference_steps)]
            if sum(given) != 1:
                raise ValueError("pass exactly one of timesteps=, sigmas= or num_inference_steps=")
            if timesteps is not None:
                self.scheduler.set_timesteps(timesteps=[int(t) for t in timesteps])
            elif sigmas is not None:
                self.scheduler.set_timesteps(sigmas=[float(s) for s in sigmas])
            else:
                self.scheduler.set_timesteps(num_inference_steps)
            cfg = self.unet.config
            shape = (batch_size, cfg.in_channels, cfg.sample_size, cfg.sample_size)
            x = torch.randn(shape, generator=generator) * self.scheduler.init_noise_sigma
            for t in self.scheduler.timesteps:
                out = self.unet(self.scheduler.scale_model_input(x, t), t).sample
                x = self.scheduler.step(out, t, x, generator=generator).prev_sample
            return x

    return ScheduledDDPMPipeline


def scheduled_pipeline(unet, scheduler):
    """A diffusers ``DiffusionPipeline`` (UNet + scheduler) whose call takes ``timesteps=`` or
    ``sigmas=`` — e.g. the output of :func:`scorelab.schedules.to_diffusers` for a LAS grid.
    ``timesteps=`` needs a scheduler accepting custom timesteps (DDPM, Euler, Heun,
    DPMSolverMultistep); ``sigmas=`` one accepting custom σ's (Euler, UniPC)."""
    return _pipeline_class()(unet, scheduler)
