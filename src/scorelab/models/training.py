"""Training a small EDM denoiser on CPU (``scorelab train``).

The loss is EDM's (Karras et al. 2022, eq. (2) with Table 1 weighting):
E_{σ, x0, z} λ(σ) ‖D(x0 + σz, σ) − x0‖² / d, λ(σ) = (σ² + σ_d²)/(σ σ_d)².
σ is drawn from EDM's log-normal (P_mean, P_std) with probability 1 − ``uniform_fraction`` and
log-uniformly on [σ_min, σ_max] otherwise, so that every noise level of the sampling range is
visited and the **per-level x0-MSE recorded during training** (summed over coordinates, in bins of
log σ, over the last ``1 − record_from`` of the steps) covers it: that curve is the input of the
Loss-Adaptive Schedule (``las.md`` §4). The EMA of the weights (``torch.optim.swa_utils``) is the
model that is saved and sampled.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .._validation import check_positive_int, check_sigma_range
from ..data import DATASETS, load_dataset
from ..loss_curve import LossCurve
from .checkpoint import save_checkpoint
from .edm import EDMDenoiser, edm_loss_weight
from .networks import ARCHITECTURES, build_network

__all__ = ["TrainConfig", "TrainResult", "train"]


@dataclass
class TrainConfig:
    data: str = "digits"
    arch: str | None = None  # default: unet for digits, mlp for 2-D toys
    arch_options: dict = field(default_factory=dict)
    steps: int = 6000
    batch_size: int = 128
    lr: float = 2e-3
    warmup: int = 200
    ema_decay: float = 0.999
    p_mean: float = -1.2
    p_std: float = 1.2
    uniform_fraction: float = 0.25
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    loss_bins: int = 48
    record_from: float = 0.5
    seed: int = 0

    @classmethod
    def tiny(cls, data: str = "digits", **overrides) -> TrainConfig:
        """A seconds-long run for tests: a very small network and a few hundred steps."""
        small = {"widths": [8, 16]} if data == "digits" else {"hidden": 32, "depth": 1}
        base = dict(
            data=data,
            arch_options=small,
            steps=150,
            batch_size=64,
            warmup=10,
            loss_bins=12,
            ema_decay=0.95,
        )
        base.update(overrides)
        return cls(**base)

    def resolved_arch(self) -> str:
        return self.arch or ("unet" if self.data == "digits" else "mlp")

    def validate(self) -> TrainConfig:
        if self.data not in DATASETS:
            raise ValueError(f"unknown data set {self.data!r}; expected one of {DATASETS}")
        if self.resolved_arch() not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r}; expected {ARCHITECTURES}")
        check_positive_int("steps", self.steps)
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("loss_bins", self.loss_bins, minimum=2)
        check_sigma_range(self.sigma_min, self.sigma_max)
        for name, value, lo, hi in (
            ("lr", self.lr, 0.0, math.inf),
            ("ema_decay", self.ema_decay, 0.0, 1.0),
            ("p_std", self.p_std, 0.0, math.inf),
        ):
            if not (lo < value < hi):
                raise ValueError(f"{name} must be in ({lo}, {hi}), got {value}")
        for name, value in (
            ("uniform_fraction", self.uniform_fraction),
            ("record_from", self.record_from),
        ):
            if not (0.0 <= value < 1.0):
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")
        return self


@dataclass
class TrainResult:
    model: EDMDenoiser  # the EMA model, eval mode
    losses: np.ndarray  # EDM-weighted training loss per step
    loss_curve: LossCurve  # per-level x0-MSE recorded during training
    seconds: float
    checkpoint: Path | None


def _sample_sigma(cfg: TrainConfig, n: int, gen: torch.Generator) -> torch.Tensor:
    lognormal = torch.exp(cfg.p_mean + cfg.p_std * torch.randn(n, generator=gen))
    lo, hi = math.log(cfg.sigma_min), math.log(cfg.sigma_max)
    uniform = torch.exp(lo + (hi - lo) * torch.rand(n, generator=gen))
    pick = torch.rand(n, generator=gen) < cfg.uniform_fraction
    return torch.where(pick, uniform, lognormal).clamp(cfg.sigma_min, cfg.sigma_max)


def train(
    config: TrainConfig, out: str | Path | None = None, *, progress: bool = False
) -> TrainResult:
    """Train, optionally writing a safetensors checkpoint to ``out``; seeded and reproducible
    for a fixed number of threads."""
    cfg = config.validate()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    data = torch.as_tensor(load_dataset(cfg.data, "train"), dtype=torch.float32)
    shape = tuple(data.shape[1:])
    sigma_data = float(data.std())
    arch = cfg.resolved_arch()
    model = EDMDenoiser(build_network(arch, shape, **cfg.arch_options), shape, sigma_data)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, (k + 1) / (cfg.warmup + 1)))

    edges = np.linspace(math.log(cfg.sigma_min), math.log(cfg.sigma_max), cfg.loss_bins + 1)
    acc = np.zeros((3, cfg.loss_bins))  # Σ L_x0, Σ L_x0², count per log-σ bin
    acc_logsig = np.zeros(cfg.loss_bins)
    record_start = int(cfg.record_from * cfg.steps)
    losses = np.zeros(cfg.steps)
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    start = time.perf_counter()
    model.train()
    with Progress(
        TextColumn("train {task.fields[data]}"),
        BarColumn(),
        TextColumn("step {task.completed}/{task.total} loss {task.fields[loss]:.4f}"),
        TimeRemainingColumn(),
        disable=not progress,
        transient=True,
    ) as bar:
        task = bar.add_task("train", total=cfg.steps, data=cfg.data, loss=float("nan"))
        for step in range(cfg.steps):
            x0 = data[torch.randint(0, data.shape[0], (cfg.batch_size,), generator=gen)]
            sigma = _sample_sigma(cfg, cfg.batch_size, gen)
            noise = torch.randn(x0.shape, generator=gen)
            s = sigma.reshape(-1, *([1] * len(shape)))
            denoised = model(x0 + s * noise, sigma)
            sq = (denoised - x0).square().flatten(1).sum(1)  # per-sample x0-MSE (sum over coords)
            loss = (edm_loss_weight(sigma, sigma_data) * sq).mean() / math.prod(shape)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            ema.update_parameters(model)
            losses[step] = float(loss.detach())
            if step >= record_start:
                ls = np.log(sigma.numpy())
                b = np.clip(np.searchsorted(edges, ls, side="right") - 1, 0, cfg.loss_bins - 1)
                v = sq.detach().double().numpy()
                np.add.at(acc[0], b, v)
                np.add.at(acc[1], b, v**2)
                np.add.at(acc[2], b, 1.0)
                np.add.at(acc_logsig, b, ls)
            if step % 25 == 0 or step == cfg.steps - 1:
                bar.update(
                    task,
                    completed=step + 1,
                    loss=float(np.mean(losses[max(0, step - 99) : step + 1])),
                )
    seconds = time.perf_counter() - start

    keep = acc[2] >= 2
    if keep.sum() < 2:
        raise ValueError("too few recorded loss samples per level: raise steps or lower loss_bins")
    n = acc[2][keep]
    mean = acc[0][keep] / n
    var = np.maximum(acc[1][keep] / n - mean**2, 0.0)
    curve = LossCurve(
        np.exp(acc_logsig[keep] / n),
        mean,
        np.sqrt(var / (n - 1)),
        int(n.min()),
        "sum",
        {"source": "training", "parametrisation": "x0", "data": cfg.data, "steps": cfg.steps},
    )
    final = ema.module.eval()
    info = {
        "config": asdict(cfg),
        "sigma_data": sigma_data,
        "seconds": seconds,
        "final_loss": float(np.mean(losses[-100:])),
    }
    path = None
    if out is not None:
        path = save_checkpoint(
            out, final, arch=arch, arch_options=cfg.arch_options, info=info, loss_curve=curve
        )
    return TrainResult(final, losses, curve, seconds, path)
