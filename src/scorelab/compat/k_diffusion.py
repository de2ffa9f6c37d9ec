"""Use k-diffusion's samplers and schedules without its heavy package import.

``import k_diffusion`` pulls in torchvision (``k_diffusion.utils``), which has no CPU build here,
and the package ``__init__`` imports every submodule. :func:`load_sampling` imports only
``k_diffusion/sampling.py``: it uses the installed module if ``k_diffusion.sampling`` imports
normally, and otherwise loads the file directly with a minimal stand-in for the one helper it
needs from ``k_diffusion.utils`` (``append_dims``). Its own dependencies (torchsde, torchdiffeq,
tqdm, scipy) must be installed; k-diffusion itself can be installed with ``--no-deps``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable
from functools import cache
from pathlib import Path

import torch

__all__ = ["KDiffusionUnavailable", "k_diffusion_sampler", "load_sampling"]


class KDiffusionUnavailable(ImportError):
    """k-diffusion (or one of its sampling dependencies) is not installed."""


def _append_dims(x: torch.Tensor, target_dims: int) -> torch.Tensor:
    """Append trailing singleton dimensions until ``x`` has ``target_dims`` dimensions."""
    missing = target_dims - x.ndim
    if missing < 0:
        raise ValueError(f"input has {x.ndim} dims but target_dims is {target_dims}")
    return x[(...,) + (None,) * missing]


@cache
def load_sampling() -> types.ModuleType:
    """Return k-diffusion's ``sampling`` module, or raise :class:`KDiffusionUnavailable`."""
    try:
        return importlib.import_module("k_diffusion.sampling")
    except ImportError:
        pass
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None or not spec.submodule_search_locations:
        raise KDiffusionUnavailable(
            "k-diffusion is not installed (pip install --no-deps k-diffusion)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "sampling.py"
    if not path.exists():
        raise KDiffusionUnavailable(f"k-diffusion is installed but {path} is missing")
    name = "_scorelab_kdiffusion"
    package = types.ModuleType(name)
    package.__path__ = []  # a namespace for the relative import `from . import utils`
    utils = types.ModuleType(f"{name}.utils")
    utils.append_dims = _append_dims
    package.utils = utils
    sys.modules[name] = package
    sys.modules[f"{name}.utils"] = utils
    module_spec = importlib.util.spec_from_file_location(f"{name}.sampling", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except ImportError as err:
        raise KDiffusionUnavailable(f"k-diffusion's sampling module needs {err.name}") from err
    return module


def k_diffusion_sampler(name: str) -> Callable[..., torch.Tensor]:
    """k-diffusion's ``sample_NAME`` (``name`` with or without the prefix) in scorelab's calling
    convention ``sampler(denoiser, x, sigmas, *, generator=None, callback=None, extra_args=None)``,
    progress bar off; further keyword ``options`` (``eta``, ``noise_sampler``, …) go to
    k-diffusion's function. k-diffusion draws its noise from torch's global generator: when
    ``generator`` is given, the global generator is seeded from it first, so seeded runs
    reproduce."""
    attr = name if name.startswith("sample_") else f"sample_{name}"
    fn = getattr(load_sampling(), attr, None)
    if fn is None:
        raise ValueError(f"k-diffusion has no sampler {attr!r}")

    def sampler(
        denoiser, x, sigmas, *, generator=None, callback=None, extra_args=None, **options
    ) -> torch.Tensor:
        if generator is not None:
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        return fn(
            denoiser, x, sigmas, extra_args=extra_args, callback=callback, disable=True, **options
        )

    return sampler
