"""Per-noise-level denoising loss curves: the input of the Loss-Adaptive Schedule.

A :class:`LossCurve` holds L_x0(σ) = E‖x0 − x̂0(x_σ)‖² (x0-MSE, summed over coordinates unless
``reduction="mean"``) at increasing σ, with standard errors. It can be

* measured for any denoiser on data samples (:func:`measure_loss_curve`), with the model's raw
  output in any parametrisation (x0 / ε / v / EDM-preconditioned F) converted to x0-MSE, or
* built from a loss recorded during training (:meth:`LossCurve.from_training`), converting the
  training loss to x0-MSE (``las.md`` §4): ε: L_x0 = σ² L_ε; v: L_x0 = c_out² L_v with
  c_out² = σ²σ_d²/(σ²+σ_d²) (= L_v/(1+γ) for σ_d = 1); EDM-weighted: L_x0 = L/λ(σ),
  λ(σ) = (σ² + σ_d²)/(σ σ_d)².

Because L_x0 = mmse + excess error, and mmse is non-increasing in SNR, :meth:`monotone` projects a
noisy curve onto non-decreasing-in-σ curves (isotonic regression) and :meth:`smoothed` applies a
Gaussian kernel in log-SNR (``las.md`` §4 preprocessing).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import isotonic_regression

from ._validation import as_float64_array, check_positive_int, check_positive_scalar
from .oracles import Denoiser, eps_to_denoiser, v_to_denoiser
from .targets import Target
from .theory import InformationCurve

__all__ = ["PARAMETRISATIONS", "LossCurve", "measure_loss_curve", "training_loss_to_x0"]

PARAMETRISATIONS = ("x0", "eps", "v", "edm")


def training_loss_to_x0(sigma, loss, parametrisation: str, sigma_data: float = 1.0) -> np.ndarray:
    """Convert a per-level training loss to x0-MSE (see module docstring)."""
    s = as_float64_array("sigma", sigma, ndim=1)
    L = as_float64_array("loss", loss, ndim=1)
    if s.shape != L.shape:
        raise ValueError(f"sigma and loss must have the same shape, got {s.shape}, {L.shape}")
    sd = check_positive_scalar("sigma_data", sigma_data)
    if parametrisation == "x0":
        return L.copy()
    if parametrisation == "eps":
        return s**2 * L
    if parametrisation == "v":
        return L * s**2 * sd**2 / (s**2 + sd**2)
    if parametrisation == "edm":
        return L * (s * sd) ** 2 / (s**2 + sd**2)
    raise ValueError(
        f"unknown parametrisation {parametrisation!r}; expected one of {PARAMETRISATIONS}"
    )


@dataclass(frozen=True)
class LossCurve:
    """x0-MSE per noise level; ``sigma`` strictly increasing."""

    sigma: np.ndarray
    loss_x0: np.ndarray
    stderr: np.ndarray | None = None
    num_samples: int | None = None
    reduction: str = "sum"
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = as_float64_array("sigma", self.sigma, ndim=1)
        L = as_float64_array("loss_x0", self.loss_x0, ndim=1)
        if s.size < 2 or s.shape != L.shape:
            raise ValueError("sigma and loss_x0 must be 1-D of the same length >= 2")
        if np.any(s <= 0) or np.any(np.diff(s) <= 0):
            raise ValueError("sigma must be positive and strictly increasing")
        if np.any(L < 0):
            raise ValueError(f"loss_x0 must be >= 0, got min {L.min()}")
        if self.reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {self.reduction!r}")
        object.__setattr__(self, "sigma", s)
        object.__setattr__(self, "loss_x0", L)
        if self.stderr is not None:
            se = as_float64_array("stderr", self.stderr, ndim=1)
            if se.shape != s.shape or np.any(se < 0):
                raise ValueError("stderr must match sigma and be >= 0")
            object.__setattr__(self, "stderr", se)

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def from_training(
        cls,
        sigma,
        loss,
        *,
        parametrisation: str = "eps",
        sigma_data: float = 1.0,
        reduction: str = "mean",
        stderr=None,
    ) -> LossCurve:
        """From a loss recorded during training, in the model's own parametrisation. Pairs
        are sorted by σ; repeated σ's are averaged."""
        s = as_float64_array("sigma", sigma, ndim=1)
        L = training_loss_to_x0(s, loss, parametrisation, sigma_data)
        uniq, inv = np.unique(s, return_inverse=True)
        counts = np.bincount(inv)
        mean = np.bincount(inv, weights=L) / counts
        se = None
        if stderr is not None:
            conv = training_loss_to_x0(
                s, as_float64_array("stderr", stderr, ndim=1), parametrisation, sigma_data
            )
            se = np.sqrt(np.bincount(inv, weights=conv**2)) / counts
        return cls(
            uniq,
            mean,
            se,
            None,
            reduction,
            {"source": "training", "parametrisation": parametrisation},
        )

    # -- processing ---------------------------------------------------------------------
    @property
    def log_snr(self) -> np.ndarray:
        return -2 * np.log(self.sigma)

    def monotone(self) -> LossCurve:
        """Weighted isotonic regression onto curves non-decreasing in σ (weights 1/stderr²)."""
        w = None
        if self.stderr is not None and np.all(self.stderr > 0):
            w = 1.0 / self.stderr**2
        fit = isotonic_regression(self.loss_x0, weights=w, increasing=True).x
        return LossCurve(
            self.sigma,
            np.maximum(fit, 0),
            self.stderr,
            self.num_samples,
            self.reduction,
            {**self.metadata, "monotone": True},
        )

    def smoothed(self, width: float = 0.25) -> LossCurve:
        """Gaussian-kernel (Nadaraya–Watson) smoothing in log-SNR with std ``width``, applied to
        log L where L > 0 (multiplicative noise), preserving the curve's zeros."""
        width = check_positive_scalar("width", width)
        lam = self.log_snr
        kern = np.exp(-0.5 * ((lam[:, None] - lam[None, :]) / width) ** 2)
        kern /= kern.sum(1, keepdims=True)
        pos = self.loss_x0 > 0
        if pos.all():
            out = np.exp(kern @ np.log(self.loss_x0))
        else:
            out = kern @ self.loss_x0
        return LossCurve(
            self.sigma,
            out,
            self.stderr,
            self.num_samples,
            self.reduction,
            {**self.metadata, "smoothing_width_log_snr": width},
        )

    def to_information_curve(self) -> InformationCurve:
        """As an :class:`~scorelab.theory.InformationCurve` (increasing λ) for LAS and theory."""
        return InformationCurve.from_sigmas(self.sigma, self.loss_x0)

    def at_sigma(self, sigma) -> np.ndarray:
        """L_x0 at ``sigma``, linear in log-SNR between measured levels (no extrapolation)."""
        return self.to_information_curve().at_sigma(sigma)

    __call__ = at_sigma

    # -- persistence --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": "scorelab.loss_curve/1",
            "sigma": self.sigma.tolist(),
            "loss_x0": self.loss_x0.tolist(),
            "stderr": None if self.stderr is None else self.stderr.tolist(),
            "num_samples": self.num_samples,
            "reduction": self.reduction,
            "metadata": self.metadata,
        }

    def save(self, path: str | Path) -> Path:
        """Write JSON atomically (temporary file + rename, so no partial file is left); missing
        parent folders are created (as for every output file of scorelab)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        tmp.replace(path)
        return path

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "data") -> LossCurve:
        """Inverse of :meth:`to_dict`."""
        if data.get("format") != "scorelab.loss_curve/1":
            raise ValueError(f"{source} is not a scorelab loss curve (format field)")
        return cls(
            np.array(data["sigma"]),
            np.array(data["loss_x0"]),
            None if data["stderr"] is None else np.array(data["stderr"]),
            data["num_samples"],
            data["reduction"],
            data.get("metadata", {}),
        )

    @classmethod
    def load(cls, path: str | Path) -> LossCurve:
        """Read JSON written by :meth:`save`, or a two/three-column text file (σ, loss[, stderr])
        holding x0-MSE, comma- or whitespace-separated; a header line is allowed. Every problem
        with the file is a one-line ``ValueError`` naming it."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"loss curve file not found: {path}")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: cannot read the loss curve ({err})") from None
        if not text.strip():
            raise ValueError(
                f"{path} is empty (expected a scorelab loss-curve JSON or σ,loss rows)"
            )
        if text.lstrip().startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path} is not valid JSON ({err})") from None
            try:
                return cls.from_dict(data, source=str(path))
            except (KeyError, TypeError) as err:
                raise ValueError(f"{path}: loss-curve JSON lacks or garbles field {err}") from None
        rows = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        delimiter = "," if "," in rows[-1] else None
        try:
            float(rows[0].split(delimiter)[0])
        except ValueError:
            rows = rows[1:]  # a header line
        try:
            arr = np.loadtxt(rows, delimiter=delimiter, ndmin=2)
        except ValueError as err:
            raise ValueError(f"{path}: cannot parse σ,loss rows ({err})") from None
        if arr.size == 0:
            raise ValueError(f"{path} has a header but no σ,loss rows")
        if arr.shape[1] not in (2, 3):
            raise ValueError(f"{path}: expected 2 or 3 columns (sigma, loss[, stderr])")
        order = np.argsort(arr[:, 0])
        arr = arr[order]
        try:
            return cls(arr[:, 0], arr[:, 1], arr[:, 2] if arr.shape[1] == 3 else None)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None


def _as_x0_denoiser(model: Callable, parametrisation: str, sigma_data: float) -> Denoiser:
    if parametrisation in ("x0", "edm"):
        return model
    if parametrisation == "eps":
        return eps_to_denoiser(model)
    if parametrisation == "v":
        return v_to_denoiser(model, sigma_data)
    raise ValueError(
        f"unknown parametrisation {parametrisation!r}; expected one of {PARAMETRISATIONS}"
    )


@torch.no_grad()
def measure_loss_curve(
    model: Callable,
    data: Target | torch.Tensor,
    sigmas,
    *,
    samples_per_level: int = 1024,
    batch_size: int = 1024,
    parametrisation: str = "x0",
    sigma_data: float = 1.0,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    progress: bool = False,
) -> LossCurve:
    """Measure L_x0(σ) = E‖x0 − x̂0(x0 + σz)‖² of ``model`` at each σ in ``sigmas``.

    ``data`` is a :class:`Target` (fresh exact samples) or a tensor of data samples (drawn with
    replacement). The model's output is converted to x0 according to ``parametrisation``
    (``x0``/``edm``: a denoiser; ``eps``: ε̂; ``v``: v̂ with σ_data). Every level uses its own
    independent data and noise (seeded), and reports the standard error."""
    levels = np.sort(as_float64_array("sigmas", sigmas, ndim=1))
    if levels.size < 2 or np.any(levels <= 0) or np.any(np.diff(levels) <= 0):
        raise ValueError("sigmas must hold >= 2 distinct positive values")
    samples_per_level = check_positive_int("samples_per_level", samples_per_level, minimum=2)
    batch_size = check_positive_int("batch_size", batch_size)
    denoiser = _as_x0_denoiser(model, parametrisation, sigma_data)
    gen = torch.Generator().manual_seed(seed)
    if isinstance(data, torch.Tensor):
        if data.ndim < 2 or data.shape[0] == 0:
            raise ValueError(f"data must have shape (N, ...), got {tuple(data.shape)}")
        pool = data.to(dtype)
    elif isinstance(data, Target):
        pool = None
    else:
        raise TypeError(f"data must be a Target or a tensor, got {type(data).__name__}")

    def draw(n: int) -> torch.Tensor:
        if pool is None:
            return data.sample(n, gen, dtype=dtype)
        return pool[torch.randint(0, pool.shape[0], (n,), generator=gen)]

    means, errs = np.zeros(levels.size), np.zeros(levels.size)
    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("loss curve", total=levels.size)
        for i, s in enumerate(levels):
            total, total2, done = 0.0, 0.0, 0
            while done < samples_per_level:
                n = min(batch_size, samples_per_level - done)
                x0 = draw(n)
                x = x0 + float(s) * torch.randn(x0.shape, generator=gen, dtype=dtype)
                sig = torch.full((n,), float(s), dtype=dtype)
                err = (denoiser(x, sig) - x0).reshape(n, -1).double().square().sum(1)
                total += float(err.sum())
                total2 += float(err.square().sum())
                done += n
            means[i] = total / samples_per_level
            var = max(total2 / samples_per_level - means[i] ** 2, 0.0)
            errs[i] = math.sqrt(var / (samples_per_level - 1))
            bar.advance(task)
    return LossCurve(
        levels,
        means,
        errs,
        samples_per_level,
        "sum",
        {"source": "measured", "parametrisation": parametrisation},
    )
