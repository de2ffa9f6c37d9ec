"""Users' own models as benchmark targets: ``model:PATH`` names a scorelab checkpoint
(``scorelab train``), whose denoiser every method — ours and the peers — drives at the same NFE.

There is no exact law, so the headline metric compares samples with the model's *data*:

* digits models: the classifier-feature Fréchet distance to the training split
  (:func:`scorelab.image_metrics.digits_quality`), with the held-out split's FD as the floor;
* 2-D toy models (moons, ring8): sliced W₂ to fresh held-out data, with the sliced W₂ between two
  held-out sets as the floor.

Loss-curve schedules (las, info-las, entropic, sat-info) are built from the checkpoint's recorded
training loss curve; the exact discretization term D is not defined (no exact mmse) and stays
empty.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..metrics import METRICS, Metric

__all__ = ["MODEL_PREFIX", "DigitsModelTarget", "ModelTarget", "is_model_target", "model_target"]

MODEL_PREFIX = "model:"


def is_model_target(name: str) -> bool:
    return name.startswith(MODEL_PREFIX)


class ModelTarget:
    """A checkpoint as a benchmark target: a denoiser with an event shape, its data set (for the
    metric's references) and its recorded loss curve. Build it with :func:`model_target`."""

    mmse_is_exact = False

    def __init__(self, path: Path, denoiser, meta: dict) -> None:
        from ..data import load_dataset

        self.path = path
        self.denoiser = denoiser
        self.data_name = meta["info"]["config"]["data"]
        self.loss_curve = meta.get("loss_curve")
        self.event_shape = tuple(denoiser.sample_shape)
        self._test = torch.as_tensor(load_dataset(self.data_name, "test"), dtype=torch.float32)

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


def model_target(name: str) -> ModelTarget:
    """The target ``model:PATH``: the checkpoint loaded once, as a :class:`DigitsModelTarget`
    for digits models (so the registry picks the digits FD) and a :class:`ModelTarget`
    otherwise."""
    from ..models import load_checkpoint

    if not is_model_target(name):
        raise ValueError(f"a model target is named {MODEL_PREFIX}PATH, got {name!r}")
    path = Path(name[len(MODEL_PREFIX) :])
    denoiser, meta = load_checkpoint(path)
    cls = DigitsModelTarget if meta["info"]["config"]["data"] == "digits" else ModelTarget
    return cls(path, denoiser, meta)


METRICS["digits_fd"] = Metric(
    name="digits_fd", label="digits FD", applies_to=DigitsModelTarget, compute=_digits_fd
)
METRICS["data_sw2"] = Metric(
    name="data_sw2",
    label="sliced W2 to data",
    applies_to=ModelTarget,
    compute=METRICS["sw2"].compute,
)
