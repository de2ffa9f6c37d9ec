"""Checkpoints in safetensors: the EMA weights, with the model configuration and the loss curve
recorded during training in the file's metadata (one self-contained file)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..loss_curve import LossCurve
from .edm import EDMDenoiser
from .flow import FlowMatchingDenoiser
from .networks import build_network

__all__ = ["load_checkpoint", "save_checkpoint"]

FORMAT = "scorelab-edm-1"


def save_checkpoint(
    path: str | Path,
    model: EDMDenoiser | FlowMatchingDenoiser,
    *,
    arch: str,
    arch_options: dict,
    info: dict | None = None,
    loss_curve: LossCurve | None = None,
) -> Path:
    """Write ``model`` to ``path`` (.safetensors); written to a temporary file, then renamed."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "arch": arch,
        "arch_options": json.dumps(arch_options),
        "sample_shape": json.dumps(list(model.sample_shape)),
        "sigma_data": repr(model.sigma_data),
        "parametrisation": "velocity" if isinstance(model, FlowMatchingDenoiser) else "x0",
        "info": json.dumps(info or {}),
    }
    if loss_curve is not None:
        meta["loss_curve"] = json.dumps(loss_curve.to_dict())
    state = {k: v.detach().contiguous() for k, v in model.net.state_dict().items()}
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        save_file(state, str(tmp), metadata=meta)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # readable by others like any file (safetensors uses 0600)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path) -> tuple[EDMDenoiser, dict]:
    """``(denoiser, metadata)``; metadata has ``info``, ``parametrisation`` (``"x0"`` for EDM
    models, ``"velocity"`` for flow-matching ones; both load as σ-space denoisers) and, when
    recorded, ``loss_curve`` (a :class:`~scorelab.loss_curve.LossCurve`). The model is in eval
    mode."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as err:  # safetensors raises its own error types for a corrupt header
        raise ValueError(f"{path} is not a readable safetensors file ({err})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a scorelab checkpoint (format {meta.get('format')!r})")
    try:
        shape = tuple(json.loads(meta["sample_shape"]))
        net = build_network(meta["arch"], shape, **json.loads(meta["arch_options"]))
        net.load_state_dict(load_file(str(path)))
    except (KeyError, ValueError, RuntimeError) as err:
        raise ValueError(f"{path}: checkpoint is damaged or incomplete ({err})") from None
    parametrisation = meta.get("parametrisation", "x0")
    if parametrisation not in ("x0", "velocity"):
        raise ValueError(f"{path}: unknown parametrisation {parametrisation!r}")
    kind = FlowMatchingDenoiser if parametrisation == "velocity" else EDMDenoiser
    model = kind(net, shape, float(meta["sigma_data"])).eval()
    out: dict = {
        "info": json.loads(meta["info"]),
        "arch": meta["arch"],
        "parametrisation": parametrisation,
    }
    if "loss_curve" in meta:
        out["loss_curve"] = LossCurve.from_dict(json.loads(meta["loss_curve"]))
    return model, out
