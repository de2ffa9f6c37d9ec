"""One object for a schedule: the σ grid, what it was made for, and its conversions into the
formats other tools take.

A :class:`Schedule` holds the float64 σ grid exactly as scorelab's samplers run it
(decreasing; a final 0 means the last step is the final denoise), the sampler and budget it was
made for, and where it came from. It converts to

* k-diffusion: a ``sigmas`` tensor ending in 0 (:meth:`Schedule.to_k_diffusion`);
* diffusers: exactly the keyword arguments *the given scheduler's* ``set_timesteps`` accepts
  (:meth:`Schedule.to_diffusers`) — ``sigmas`` ending in 0 for Euler-type schedulers, integer
  training timesteps for DPM-Solver / Heun (refused when rounding merges two levels), pre-shift
  flow times for flow-matching schedulers, ``num_inference_steps`` alone for schedulers that
  take no grid when their own grid already is this one, and a one-line error otherwise;
* ComfyUI: a ``ManualSigmas`` string in fixed-point decimals (:meth:`Schedule.to_comfyui`);
* flow models: flow times t = σ/(1 + σ) before a given shift (:meth:`Schedule.to_flow`).

Every conversion is tested by a round trip through its consumer (``tests/test_schedule.py``).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import processes
from .._validation import as_float64_array
from .export import FORMAT
from .heuristic import check_sigmas

__all__ = ["Schedule"]

#: ComfyUI's ManualSigmas node reads numbers with this pattern (no exponents)
COMFYUI_NUMBER = r"[-+]?(?:\d*\.*\d+)"


def _config(scheduler) -> dict:
    return dict(getattr(scheduler, "config", {}) or {})


def _params(scheduler) -> set[str]:
    import inspect

    return set(inspect.signature(scheduler.set_timesteps).parameters)


def _is_flow(scheduler) -> bool:
    cfg = _config(scheduler)
    return type(scheduler).__name__.startswith("FlowMatch") or bool(cfg.get("use_flow_sigmas"))


@dataclass
class Schedule:
    """A σ grid with its provenance.

    Args:
        sigmas: decreasing noise levels (σ units, x_σ = x0 + σ z), float64; a final 0 is the
            final denoise.
        sampler: the sampler the grid was made for (a name of
            :data:`scorelab.samplers.SAMPLERS`), if any.
        nfe: the model calls that sampler spends on it.
        name: how it was built (``karras``, ``optimize → log-snr``, …).
        info: provenance: the source, the proxy measured on and its cost, scores.
    """

    sigmas: np.ndarray
    sampler: str | None = None
    nfe: int | None = None
    name: str = "custom"
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = as_float64_array("sigmas", self.sigmas, ndim=1)
        check_sigmas(torch.as_tensor(s))
        if len(s) < 2:
            raise ValueError(f"a schedule needs at least 2 levels, got {len(s)}")
        self.sigmas = s

    # --- basic facts -------------------------------------------------------------------------

    @property
    def levels(self) -> np.ndarray:
        """The positive levels (the final 0, if any, dropped)."""
        return self.sigmas[self.sigmas > 0]

    @property
    def steps(self) -> int:
        """K, the number of steps (intervals of the grid)."""
        return len(self.sigmas) - 1

    def __len__(self) -> int:
        return len(self.sigmas)

    def as_tensor(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """The grid as scorelab's samplers take it."""
        return torch.as_tensor(self.sigmas, dtype=dtype)

    # --- k-diffusion, ComfyUI, flow ------------------------------------------------------------

    def to_k_diffusion(
        self, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        """A k-diffusion ``sigmas`` tensor: the levels, then 0."""
        return torch.as_tensor(np.append(self.levels, 0.0), dtype=torch.float64, device=device).to(
            dtype
        )

    def to_comfyui(self, *, digits: int | None = None) -> str:
        """A ComfyUI ``ManualSigmas`` string: fixed-point decimals (the node's parser reads no
        exponents), comma-separated, ending in 0. ``digits`` after the point default to enough
        for 6 significant digits of the smallest level."""
        lv = self.levels
        if digits is None:
            digits = max(6, 6 - math.floor(math.log10(float(lv.min()))))
        return ", ".join([f"{v:.{digits}f}" for v in lv] + ["0"])

    def to_flow(self, shift: float = 1.0) -> np.ndarray:
        """Flow times t = σ/(1 + σ) of the levels, *before* ``shift`` (so that a flow scheduler
        that applies t′ = s t/(1 + (s−1) t) lands on this grid): K values in (0, 1], no
        trailing 0 — what ``FlowMatchEulerDiscreteScheduler.set_timesteps(sigmas=…)`` takes."""
        t = processes.sigma_to_flow_time(self.levels)
        return processes.flow_time_shift(t, 1.0 / shift) if shift != 1.0 else t

    # --- diffusers -----------------------------------------------------------------------------

    def to_diffusers(self, scheduler) -> dict:
        """Keyword arguments for ``scheduler.set_timesteps(**kwargs)`` (or a pipeline call) that
        make *this* scheduler run this grid; see the module docstring. Raises a one-line
        ``ValueError`` when the scheduler cannot run it (options that replace any given grid,
        levels outside its trained range, integer timesteps that merge two levels, or no way
        to pass a grid at all)."""
        kind = type(scheduler).__name__
        cfg = _config(scheduler)
        params = _params(scheduler)
        for option in ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"):
            if cfg.get(option):
                raise ValueError(
                    f"{kind} has {option}=True, which replaces any grid it is given; "
                    f"create it with {option}=False"
                )
        if _is_flow(scheduler):
            return self._to_diffusers_flow(scheduler, kind, cfg, params)
        if "sigmas" in params:  # Euler-type: σ in the DDPM convention, last step to 0
            self._check_in_table(scheduler, kind)
            kwargs = {"sigmas": [*self.levels.tolist(), 0.0]}
            if self._takes(scheduler, kwargs):
                return kwargs
        if "timesteps" in params:  # integer training timesteps only
            return {"timesteps": self.diffusers_timesteps(scheduler)[0].tolist()}
        return self._own_grid_or_fail(scheduler, kind)

    @staticmethod
    def _takes(scheduler, kwargs: dict) -> bool:
        """Whether a copy of ``scheduler`` accepts ``kwargs`` and then runs exactly that grid
        (UniPC, for one, has a ``sigmas`` argument that it refuses without flow sigmas)."""
        import warnings

        trial = copy.deepcopy(scheduler)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trial.set_timesteps(**kwargs)
        except (ValueError, TypeError):
            return False
        used = np.asarray(torch.as_tensor(trial.sigmas, dtype=torch.float64))
        return used.shape == (len(kwargs["sigmas"]),) and np.allclose(
            used, kwargs["sigmas"], rtol=1e-5, atol=1e-7
        )

    def diffusers_timesteps(self, scheduler) -> tuple[np.ndarray, np.ndarray]:
        """``(timesteps, error)``: each level's nearest training timestep of ``scheduler`` in
        log σ (decreasing ints) and the rounding error |log σ_used − log σ| per level."""
        table = self._table(scheduler, type(scheduler).__name__)
        levels = self.levels
        self._check_in_table(scheduler, type(scheduler).__name__)
        inside = np.clip(levels, table[0], table[-1])  # within the 1e-4 float32 slack
        t = np.floor(processes.sigma_to_timestep(inside, table) + 0.5).astype(np.int64)
        if np.any(np.diff(t) >= 0):
            i = int(np.flatnonzero(np.diff(t) >= 0)[0])
            raise ValueError(
                f"levels σ = {levels[i]:.6g} and {levels[i + 1]:.6g} round to the same training "
                f"timestep {t[i]} of {type(scheduler).__name__}; use fewer steps or a scheduler "
                "that takes sigmas= (EulerDiscreteScheduler)"
            )
        return t, np.abs(np.log(table[t]) - np.log(levels))

    @staticmethod
    def _table(scheduler, kind: str) -> np.ndarray:
        acp = getattr(scheduler, "alphas_cumprod", None)
        if acp is None:
            raise ValueError(f"{kind} has no alphas_cumprod: not a DDPM-type scheduler")
        acp = np.asarray(torch.as_tensor(acp, dtype=torch.float64))
        return np.sqrt((1.0 - acp) / acp)

    def _check_in_table(self, scheduler, kind: str) -> None:
        table = self._table(scheduler, kind)
        lv = self.levels
        # diffusers keeps ᾱ in float32: its table ends are known to ~1e-6, allow 1e-4
        bad = lv[(lv < table[0] * (1 - 1e-4)) | (lv > table[-1] * (1 + 1e-4))]
        if bad.size:
            beta = _config(scheduler).get("beta_schedule", "?")
            raise ValueError(
                f"levels {bad[:3].tolist()} lie outside the σ range [{table[0]:.6g}, "
                f"{table[-1]:.6g}] of {kind} ({beta!r} β schedule); build the schedule inside it "
                "(e.g. --sigma-min)"
            )

    def _to_diffusers_flow(self, scheduler, kind: str, cfg: dict, params: set[str]) -> dict:
        if cfg.get("shift_terminal"):
            raise ValueError(f"{kind} has shift_terminal set, which rescales any grid it is given")
        if "sigmas" not in params:
            raise ValueError(
                f"{kind}.set_timesteps takes no grid; use FlowMatchEulerDiscreteScheduler or "
                "UniPCMultistepScheduler(use_flow_sigmas=True) for this schedule"
            )
        if cfg.get("use_dynamic_shifting"):  # t' = e^μ t/(e^μ t + 1 − t): μ = 0 is the identity
            if cfg.get("time_shift_type", "exponential") != "exponential":
                raise ValueError(f"{kind}: only the exponential dynamic time shift is supported")
            return {"sigmas": self.to_flow(1.0), "mu": 0.0}
        shift = float(cfg.get("flow_shift", cfg.get("shift", 1.0)))
        return {"sigmas": self.to_flow(shift)}

    def _own_grid_or_fail(self, scheduler, kind: str) -> dict:
        k = len(self.levels)
        trial = copy.deepcopy(scheduler)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial.set_timesteps(k)
        own = getattr(trial, "sigmas", None)
        if own is not None:
            own = np.asarray(torch.as_tensor(own, dtype=torch.float64))
            own = own[own > 0]
        else:  # DDIM-type: σ of its timesteps
            table = self._table(scheduler, kind)
            own = table[np.asarray(trial.timesteps, dtype=np.int64)]
        if own.shape == self.levels.shape and np.allclose(own, self.levels, rtol=1e-4):
            return {"num_inference_steps": k}
        raise ValueError(
            f"{kind}.set_timesteps takes no grid (only num_inference_steps), and its own "
            f"{k}-step grid is not this one; run this schedule with EulerDiscreteScheduler "
            "(sigmas=) or DPMSolverMultistepScheduler / HeunDiscreteScheduler (timesteps=)"
        )

    # --- files ---------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write JSON (the format of :func:`scorelab.schedules.save_schedule`), atomically."""
        from .export import save_schedule

        return save_schedule(
            path, self.sigmas, sampler=self.sampler, nfe=self.nfe, name=self.name, **self.info
        )

    @classmethod
    def load(cls, path: str | Path) -> Schedule:
        """Read a schedule file written by :meth:`save` or ``scorelab schedule --output``."""
        from .export import load_schedule

        sigmas, meta = load_schedule(path)
        meta = dict(meta)
        sampler, nfe = meta.pop("sampler", None), meta.pop("nfe", None)
        name = meta.pop("name", meta.pop("schedule", "custom"))
        return cls(sigmas.numpy(), sampler=sampler, nfe=nfe, name=str(name), info=meta)

    def to_json(self) -> str:
        """The schedule as the JSON text :meth:`save` writes."""
        return json.dumps(
            {
                "format": FORMAT,
                "sigmas": self.sigmas.tolist(),
                "metadata": {"sampler": self.sampler, "nfe": self.nfe, "name": self.name}
                | self.info,
            },
            indent=1,
        )

    def __repr__(self) -> str:
        made = f" for {self.sampler} at {self.nfe} NFE" if self.sampler else ""
        return (
            f"Schedule({self.name}{made}: {self.steps} steps, σ {self.levels[0]:.4g} → "
            f"{self.levels[-1]:.4g}{', then 0' if self.sigmas[-1] == 0 else ''})"
        )
