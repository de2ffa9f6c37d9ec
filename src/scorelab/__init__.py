"""scorelab: fast, measurable diffusion sampling.

The one call: :func:`optimize_schedule` ``(model or data, sampler=…, nfe=…)`` returns a
:class:`Schedule` that converts into k-diffusion, diffusers and ComfyUI formats.

Layout: ``processes`` (noise parametrisations), ``targets`` (exact-score data laws), ``oracles``
(counting / error-injecting score wrappers), ``samplers``, ``schedules``, ``grids`` (which grid
runs), ``models`` (training, EDM and flow-matching), ``compat`` (other libraries' models),
``bench``, ``experiments``, ``cli``.
"""

from . import oracles, processes, targets
from .optimize import optimize_schedule
from .oracles import CountingOracle, ErrorInjectedDenoiser
from .schedules.schedule import Schedule
from .targets import Discrete, Empirical, Gaussian, GaussianMixture

__version__ = "0.1.0"

__all__ = [
    "CountingOracle",
    "Discrete",
    "Empirical",
    "ErrorInjectedDenoiser",
    "Gaussian",
    "GaussianMixture",
    "Schedule",
    "optimize_schedule",
    "oracles",
    "processes",
    "targets",
]
