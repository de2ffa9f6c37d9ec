"""scorelab: fast, measurable diffusion sampling.

The one call: :func:`optimize_schedule` ``(model or data, sampler=…, nfe=…)`` returns a
:class:`Schedule` that converts into k-diffusion, diffusers and ComfyUI formats.

Layout: ``processes`` (noise parametrisations), ``targets`` (exact-score data laws), ``oracles``
(counting / error-injecting score wrappers), ``samplers``, ``schedules``, ``grids`` (which grid
runs), ``models`` (training, EDM and flow-matching), ``compat`` (other libraries' models),
``bench``, ``experiments``, ``cli``.

The names below are imported on first use, so that ``import scorelab`` (and the command line's
``--help``) does not load torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {
    "CountingOracle": "scorelab.oracles",
    "ErrorInjectedDenoiser": "scorelab.oracles",
    "Discrete": "scorelab.targets",
    "Empirical": "scorelab.targets",
    "Gaussian": "scorelab.targets",
    "GaussianMixture": "scorelab.targets",
    "Schedule": "scorelab.schedules.schedule",
    "optimize_schedule": "scorelab.optimize",
}
_SUBMODULES = ("oracles", "processes", "targets")

__all__ = sorted([*_EXPORTS, *_SUBMODULES])


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"scorelab.{name}")
    raise AttributeError(f"module 'scorelab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS, *_SUBMODULES])
