"""Schedules to and from JSON, k-diffusion ``sigmas`` tensors and diffusers arguments."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .. import processes
from .._validation import as_float64_array
from .heuristic import append_zero, check_sigmas

__all__ = ["load_schedule", "save_schedule", "to_diffusers", "to_k_diffusion"]

FORMAT = "scorelab.schedule/1"


def save_schedule(path: str | Path, sigmas, **metadata) -> Path:
    """Write a σ grid (float64, decreasing) with free-form metadata as JSON, atomically
    (missing parent folders are created)."""
    s = check_sigmas(torch.as_tensor(as_float64_array("sigmas", sigmas, ndim=1)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(
        json.dumps({"format": FORMAT, "sigmas": s.tolist(), "metadata": metadata}, indent=1)
    )
    tmp.replace(path)
    return path


def load_schedule(path: str | Path) -> tuple[torch.Tensor, dict]:
    """Read a schedule written by :func:`save_schedule`; returns ``(sigmas float64, metadata)``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"schedule file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path} is not a scorelab schedule (format field {got!r})")
    if "sigmas" not in data:
        raise ValueError(f"{path} has no 'sigmas' list")
    try:
        s = torch.tensor(data["sigmas"], dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{path}: 'sigmas' must be a list of numbers") from None
    try:
        return check_sigmas(s), data.get("metadata", {})
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def to_k_diffusion(
    sigmas,
    *,
    final_zero: bool = True,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """A k-diffusion ``sigmas`` tensor: decreasing, ending in 0 (k-diffusion's samplers take the
    last step to σ = 0) unless ``final_zero=False`` or it already ends in 0."""
    s = torch.as_tensor(as_float64_array("sigmas", sigmas, ndim=1))
    check_sigmas(s)
    if final_zero and s[-1] != 0:
        s = append_zero(s)
    return check_sigmas(s.to(dtype=dtype, device=device))


def to_diffusers(
    sigmas,
    *,
    betas: np.ndarray | None = None,
    beta_schedule: str = "linear",
    num_train_timesteps: int = 1000,
) -> dict:
    """Arguments for a diffusers pipeline / scheduler of a discrete DDPM-β model.

    Returns ``{"sigmas": [...], "timesteps": [...], "timestep_error": [...]}``:

    * ``sigmas``: the grid itself (σ = sqrt((1−ᾱ)/ᾱ), diffusers' convention for
      ``EulerDiscreteScheduler``/``DPMSolverMultistepScheduler(sigmas=...)``), trailing 0 removed;
    * ``timesteps``: for ``timesteps=``, each σ mapped to the model's **nearest training
      timestep in log σ** (the fractional timestep of :func:`scorelab.processes.sigma_to_timestep`
      rounded half-up to an int), decreasing;
    * ``timestep_error``: |log σ_used − log σ| per step, the price of that rounding.

    σ's outside the model's trained range, or two σ's rounding to the same timestep, raise: use
    ``sigmas=`` or fewer steps then.
    """
    s = as_float64_array("sigmas", sigmas, ndim=1)
    check_sigmas(torch.as_tensor(s))
    if s[-1] == 0:
        s = s[:-1]
    betas_given = betas is not None
    if betas is None:
        betas = processes.ddpm_betas(beta_schedule, num_train_timesteps)
    table = processes.ddpm_sigmas(betas)
    outside = (s < table[0] * (1 - 1e-9)) | (s > table[-1] * (1 + 1e-9))
    if outside.any():
        source = "the given betas" if betas_given else f"a {beta_schedule!r} β schedule"
        raise ValueError(
            f"sigmas {s[outside][:3].tolist()} lie outside the σ range [{table[0]:.6g}, "
            f"{table[-1]:.6g}] of {source} with {len(table)} timesteps; build the schedule "
            "inside it (e.g. --sigma-min) or choose another β schedule"
        )
    frac = processes.sigma_to_timestep(s, table)
    t = np.floor(frac + 0.5).astype(np.int64)
    if np.any(np.diff(t) >= 0):
        dup = t[1:][np.diff(t) >= 0][:3].tolist()
        raise ValueError(
            f"several sigmas round to the same training timestep(s) {dup}; pass sigmas= instead"
        )
    err = np.abs(np.log(table[t]) - np.log(s))
    return {"sigmas": s.tolist(), "timesteps": t.tolist(), "timestep_error": err.tolist()}
