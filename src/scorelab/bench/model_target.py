"""Users' own models as benchmark targets: ``model:PATH`` names a scorelab checkpoint
(``scorelab train``) or a diffusers model folder, whose denoiser every method — ours and the
peers — drives at the same NFE.

* **scorelab checkpoint** (a ``.safetensors`` file): its data set and recorded training loss
  curve come from the checkpoint.
* **diffusers folder** (``model:DIR#data=DATA``): a saved pipeline (``unet/`` and
  ``scheduler/``) or a ``UNet2DModel`` folder with its ``scheduler_config.json`` beside
  ``config.json``, wrapped by :class:`scorelab.models.diffusers.DiffusersModelDenoiser` (any
  ``prediction_type``). ``DATA`` names the data the model is scored against: a scorelab data
  set (``digits``, ``moons``, ``ring8``: its held-out split) or a ``.npy`` file of held-out
  samples. Its loss curve, for the loss-curve schedules, is measured on those samples (64
  levels × 512 draws) the first time a cell needs it.

There is no exact law, so the headline metric compares samples with the model's *data*:

* digits models: the classifier-feature Fréchet distance to the training split
  (:func:`scorelab.image_metrics.digits_quality`), with the held-out split's FD as the floor;
* Fashion-MNIST models: the same with the Fashion classifier
  (:func:`scorelab.image_metrics.fashion_quality`), whose reference statistics ship with it, so
  the data need not be on disk; the floor is the held-out split's FD at the cell's sample size;
* other models (2-D toys, any ``.npy`` data): sliced W₂ to the held-out samples, with the
  sliced W₂ between two held-out sets as the floor.

The exact discretization term D is not defined (no exact mmse) and stays empty.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..metrics import METRICS, Metric
from ..models.diffusers import diffusers_model_parts, load_diffusers_model

__all__ = [
    "BENCH_METRICS",
    "DATA_TAG",
    "MODEL_METRICS",
    "MODEL_PREFIX",
    "DigitsModelTarget",
    "FashionModelTarget",
    "ModelTarget",
    "check_model_source",
    "is_model_target",
    "model_target",
    "model_target_name",
    "parse_model_target",
]

MODEL_PREFIX = "model:"


def is_model_target(name: str) -> bool:
    return name.startswith(MODEL_PREFIX)


#: separates a diffusers folder from the data it is scored against in a target name
DATA_TAG = "#data="


def model_target_name(path: str | Path, data: str | None = None) -> str:
    """The target name of a model: ``model:PATH`` (a scorelab checkpoint) or
    ``model:DIR#data=DATA`` (a diffusers folder and its data)."""
    return f"{MODEL_PREFIX}{path}" + (f"{DATA_TAG}{data}" if data else "")


def shipped_model(path: Path) -> Path:
    """``path``, or — when it is a bare name such as ``fashion_edm`` that names no file here —
    the model of that name shipped in ``scorelab/assets`` (``fashion_edm``, ``fashion_flow``)."""
    from importlib import resources

    if path.exists() or path.suffix or len(path.parts) != 1:
        return path
    ref = resources.files("scorelab") / "assets" / f"{path}.safetensors"
    return Path(str(ref)) if ref.is_file() else path


def parse_model_target(name: str) -> tuple[Path, str | None]:
    """``(path, data)`` of a ``model:`` target name (``data`` None for a checkpoint); a bare
    name is looked up among the shipped models (:func:`shipped_model`)."""
    if not is_model_target(name):
        raise ValueError(f"a model target is named {MODEL_PREFIX}PATH, got {name!r}")
    body = name[len(MODEL_PREFIX) :]
    path, _, data = body.partition(DATA_TAG)
    return shipped_model(Path(path)), data or None


def check_model_source(name: str) -> None:
    """Raise a one-line error when a model target's files are missing or its data is not given
    (checked when a suite is loaded, before any cell runs)."""
    path, data = parse_model_target(name)
    if path.is_dir():
        diffusers_model_parts(path)
        if data is None:
            raise ValueError(
                f"diffusers model {path}: say which data it is scored against "
                "(--data digits|moons|ring8|FILE.npy)"
            )
        if data.endswith(".npy") and not Path(data).is_file():
            raise FileNotFoundError(f"no data file at {data}")
    elif not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")


def _references(data: str) -> torch.Tensor:
    """Held-out samples of ``data``: a scorelab data set's test split or a ``.npy`` file."""
    if data.endswith(".npy"):
        import numpy as np

        try:
            array = np.load(data)
        except (OSError, ValueError) as err:
            raise ValueError(f"cannot read data file {data}: {err}") from err
        if array.ndim < 2 or array.shape[0] < 16:
            raise ValueError(f"data file {data} must hold >= 16 samples, got shape {array.shape}")
        return torch.as_tensor(array, dtype=torch.float32)
    from ..data import load_dataset

    return torch.as_tensor(load_dataset(data, "test"), dtype=torch.float32)


class ModelTarget:
    """A model as a benchmark target: a denoiser with an event shape, held-out samples of its
    data (the metric's references) and a loss curve. Build it with :func:`model_target`."""

    mmse_is_exact = False
    #: the held-out samples are read when the target is built (their absence is an early
    #: error); False where the metric does not need them, which then reads them on first use
    references_needed = True

    def __init__(self, path: Path, denoiser, data: str, event_shape, loss_curve=None) -> None:
        self.path = path
        self.denoiser = denoiser
        self.data_name = data
        self.event_shape = tuple(event_shape)
        self._held_out = _references(data) if self.references_needed else None
        self._loss_curve = loss_curve

    @property
    def _test(self) -> torch.Tensor:
        if self._held_out is None:
            self._held_out = _references(self.data_name)
        return self._held_out

    @property
    def loss_curve(self):
        """The recorded training loss curve (checkpoints); for diffusers folders, measured on
        the held-out samples on first use."""
        if self._loss_curve is None and self.sigma_range is not None:
            import numpy as np

            from ..loss_curve import measure_loss_curve

            levels = np.geomspace(*self.sigma_range, 64)
            data = self._test.reshape(self._test.shape[0], *self.event_shape).double()
            self._loss_curve = measure_loss_curve(self, data, levels, samples_per_level=512)
        return self._loss_curve

    @property
    def sigma_range(self) -> tuple[float, float] | None:
        """The σ range the denoiser accepts, where it is limited (a diffusers model: its training
        table, narrowed by 1e-4 so float32 grids stay inside); None for checkpoints."""
        lo, hi = (getattr(self.denoiser, k, None) for k in ("sigma_min", "sigma_max"))
        if lo is None or hi is None:
            return None
        return float(lo) * (1 + 1e-4), float(hi) * (1 - 1e-4)

    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        with torch.no_grad():
            return self.denoiser(x, sigma)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` held-out data points, drawn with replacement (the metric's references)."""
        idx = torch.randint(0, self._test.shape[0], (n,), generator=generator)
        return self._test[idx]

    def __repr__(self) -> str:
        return f"ModelTarget({self.path}, data={self.data_name!r})"


def _digits_fd(samples, target, references, seed):
    from ..image_metrics import digits_quality

    q = digits_quality(samples.reshape(samples.shape[0], -1).double())
    return q["fd"], q["fd_floor"]


class DigitsModelTarget(ModelTarget):
    """A :class:`ModelTarget` trained on the digits (its metric is the digits FD)."""


def _fashion_fd(samples, target, references, seed):
    from ..image_metrics import fashion_quality

    q = fashion_quality(samples.reshape(samples.shape[0], -1).float())
    return q["fd"], q["fd_floor"]


class FashionModelTarget(ModelTarget):
    """A :class:`ModelTarget` trained on Fashion-MNIST (its metric is the Fashion FD, scored
    against statistics shipped with the classifier: the data set need not be on disk)."""

    references_needed = False


def model_target(name: str) -> ModelTarget:
    """The target ``model:PATH`` (a scorelab checkpoint) or ``model:DIR#data=DATA`` (a
    diffusers folder): loaded once, as a :class:`DigitsModelTarget` for digits models (so the
    registry picks the digits FD) and a :class:`ModelTarget` otherwise."""
    from ..models import load_checkpoint

    check_model_source(name)
    path, data = parse_model_target(name)
    if path.is_dir():
        denoiser, shape = load_diffusers_model(path)
        curve = None
    else:
        denoiser, meta = load_checkpoint(path)
        data, shape = meta["info"]["config"]["data"], denoiser.sample_shape
        curve = meta.get("loss_curve")
    cls = {"digits": DigitsModelTarget, "fashion": FashionModelTarget}.get(data, ModelTarget)
    return cls(path, denoiser, data, shape, curve)


#: the metrics of model targets, most specific target class first
MODEL_METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            name="digits_fd", label="digits FD", applies_to=DigitsModelTarget, compute=_digits_fd
        ),
        Metric(
            name="fashion_fd",
            label="Fashion-MNIST FD",
            applies_to=FashionModelTarget,
            compute=_fashion_fd,
        ),
        Metric(
            name="data_sw2",
            label="sliced W2 to data",
            applies_to=ModelTarget,
            compute=METRICS["sw2"].compute,
        ),
    )
}

#: the bench's metric table (:func:`scorelab.metrics.headline_metric` reads it in this order):
#: the library's metrics of exact targets, then those of model targets
BENCH_METRICS: dict[str, Metric] = {**METRICS, **MODEL_METRICS}
