"""Input checks shared by every public function.

Every check raises early with a message that names the offending argument and value, so that a
bad input never becomes a silent wrong answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _describe(value: torch.Tensor) -> str:
    flat = value.detach().reshape(-1)
    if flat.numel() <= 6:
        return str(flat.tolist())
    return f"tensor of shape {tuple(value.shape)}"


def all_finite(value: torch.Tensor) -> bool:
    """Whether ``value`` holds no NaN/±inf. Fast path: one reduction (NaN and inf propagate into
    the sum) with no temporary; only a non-finite sum, which finite values can also give by
    overflow, is settled by the element-wise test."""
    if value.numel() == 0:
        return True
    if bool(torch.isfinite(value.sum())):
        return True
    return bool(torch.isfinite(value).all())


def check_finite(name: str, value: torch.Tensor) -> torch.Tensor:
    """Raise ``ValueError`` if ``value`` holds NaN or ±inf."""
    if not all_finite(value):
        bad = value.detach().reshape(-1)
        bad = bad[~torch.isfinite(bad)][:3].tolist()
        raise ValueError(f"{name} must be finite; found {bad} in {_describe(value)}")
    return value


def check_float_tensor(name: str, value: object) -> torch.Tensor:
    """Return ``value`` as a floating tensor, rejecting integer/bool/complex input."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have a floating dtype, got {value.dtype}")
    return value


def as_float64_array(name: str, value: object, *, ndim: int | None = None) -> np.ndarray:
    """Convert array-like input to a finite float64 NumPy array (for parameters)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be numeric array-like, got {type(value).__name__}") from err
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; got non-finite entries in shape {arr.shape}")
    return arr


def check_positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_positive_scalar(name: str, value: object, *, allow_zero: bool = False) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a real number, got {value!r}") from err
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {v}")
    return v


def check_sigma_range(sigma_min: object, sigma_max: object) -> tuple[float, float]:
    """Validate 0 < σ_min < σ_max < ∞ and return them as floats."""
    lo = check_positive_scalar("sigma_min", sigma_min)
    hi = check_positive_scalar("sigma_max", sigma_max)
    if not lo < hi:
        raise ValueError(f"need sigma_min < sigma_max, got {lo} and {hi}")
    return lo, hi


def check_batch(x: object, event_shape: Sequence[int], *, name: str = "x") -> torch.Tensor:
    """Check that ``x`` is a finite floating tensor of shape ``(n, *event_shape)``."""
    x = check_float_tensor(name, x)
    event_shape = tuple(event_shape)
    if x.ndim != 1 + len(event_shape) or tuple(x.shape[1:]) != event_shape:
        raise ValueError(
            f"{name} must have shape (batch, {', '.join(map(str, event_shape))}), "
            f"got {tuple(x.shape)}"
        )
    return check_finite(name, x)


def as_sigma(
    sigma: object,
    batch: int,
    *,
    like: torch.Tensor,
    name: str = "sigma",
    allow_zero: bool = False,
) -> torch.Tensor:
    """Return noise levels as a ``(batch,)`` tensor with ``like``'s dtype and device.

    Accepts a Python number, a 0-d tensor, a ``(1,)`` tensor or a ``(batch,)`` tensor (the
    k-diffusion convention ``sigma * s_in``). σ is the VE/EDM noise level: x_σ = x0 + σ z.
    """
    if isinstance(sigma, torch.Tensor):
        if sigma.dtype not in FLOAT_DTYPES and sigma.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"{name} must be real, got dtype {sigma.dtype}")
        s = sigma.detach().to(dtype=like.dtype, device=like.device)
    else:
        if isinstance(sigma, (str, bytes)):
            raise TypeError(f"{name} must be a number or tensor, got the string {sigma!r}")
        try:
            s = torch.as_tensor(float(sigma), dtype=like.dtype, device=like.device)  # type: ignore[arg-type]
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a number or tensor, got {sigma!r}") from err
    if s.ndim == 0 or (s.ndim == 1 and s.shape[0] == 1):
        s = s.reshape(1).expand(batch)
    elif s.ndim != 1 or s.shape[0] != batch:
        raise ValueError(
            f"{name} must be a scalar or have shape ({batch},) to match the batch, "
            f"got shape {tuple(s.shape)}"
        )
    check_finite(name, s)
    if allow_zero:
        if (s < 0).any():
            raise ValueError(f"{name} must be >= 0, got {_describe(s[s < 0])}")
    elif (s <= 0).any():
        raise ValueError(f"{name} must be > 0, got {_describe(s[s <= 0])}")
    return s


def check_generator(generator: object) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator)}")
    return generator


def check_sigmas(sigmas: object, *, like: torch.Tensor | None = None) -> torch.Tensor:
    """Validate a sampling schedule: a 1-D floating tensor of length ≥ 2, finite, strictly
    decreasing, positive except for an optional final 0; same device (and dtype) as ``like``."""
    if not isinstance(sigmas, torch.Tensor):
        raise TypeError(f"sigmas must be a torch.Tensor, got {type(sigmas).__name__}")
    if not sigmas.is_floating_point():
        raise TypeError(f"sigmas must have a floating dtype, got {sigmas.dtype}")
    if sigmas.ndim != 1 or sigmas.shape[0] < 2:
        raise ValueError(
            f"sigmas must be 1-D with at least 2 entries, got shape {tuple(sigmas.shape)}"
        )
    if like is not None:
        if sigmas.device != like.device:
            raise ValueError(
                f"sigmas are on device {sigmas.device} but x is on device {like.device}"
            )
        if sigmas.dtype != like.dtype:
            raise TypeError(f"sigmas have dtype {sigmas.dtype} but x has {like.dtype}; cast one")
    s = sigmas.detach()
    if not torch.isfinite(s).all():
        raise ValueError(
            f"sigmas must be finite, got {s.tolist() if len(s) < 12 else 'non-finite'}"
        )
    diffs = s[1:] - s[:-1]
    if (diffs >= 0).any():
        i = int((diffs >= 0).nonzero()[0])
        raise ValueError(
            f"sigmas must be strictly decreasing; sigmas[{i}]={float(s[i])} <= "
            f"sigmas[{i + 1}]={float(s[i + 1])}"
        )
    if (s[:-1] <= 0).any() or s[-1] < 0:
        raise ValueError(f"sigmas must be > 0 (a final 0 is allowed), got min {float(s.min())}")
    return sigmas


def check_output_path(out, *, folder: bool = False):
    """Fail early, in one line, when ``out`` cannot be written: a file path that is a folder
    (or a folder path that is a file), a parent that is a file, or no write permission."""
    import os
    from pathlib import Path

    out = Path(out)
    if folder:
        if out.exists() and not out.is_dir():
            raise ValueError(f"output folder {out} is a file; give a folder name")
    elif out.is_dir():
        raise ValueError(f"output path {out} is a directory; give a file name")
    parent = out.parent if str(out.parent) else Path(".")
    for p in (parent, *parent.parents):
        if p.exists():
            if not p.is_dir():
                raise ValueError(f"cannot write {out}: {p} is not a directory")
            if not os.access(p, os.W_OK | os.X_OK):
                raise ValueError(f"cannot write {out}: no write permission in {p}")
            break
    if out.exists() and not folder and not os.access(out, os.W_OK):
        raise ValueError(f"cannot write {out}: the file is read-only")
    return out
