"""Training a small EDM denoiser on CPU (``scorelab train``).

The loss is EDM's (Karras et al. 2022, eq. (2) with Table 1 weighting):
E_{σ, x0, z} λ(σ) ‖D(x0 + σz, σ) − x0‖² / d, λ(σ) = (σ² + σ_d²)/(σ σ_d)².
σ is drawn from EDM's log-normal (P_mean, P_std) with probability 1 − ``uniform_fraction`` and
log-uniformly on [σ_min, σ_max] otherwise, so that every noise level of the sampling range is
visited and the **per-level x0-MSE recorded during training** (summed over coordinates, in bins of
log σ, over the last ``1 − record_from`` of the steps) covers it: that curve is the input of the
Loss-Adaptive Schedule (``las.md`` §4). The EMA of the weights (``torch.optim.swa_utils``) is the
model that is saved and sampled.

``objective="flow"`` trains a flow-matching (rectified-flow) model instead, the way SD3-style
models are trained: x_t = (1 − t) x0 + t ε, loss E‖v̂(x_t, t) − (ε − x0)‖²/d, t logit-normal.
Since logit t = ln σ, SD3's logit-normal(0, 1) is EDM's log-normal with (P_mean, P_std) = (0, 1),
the defaults for that objective; the same log-uniform fraction covers every level. The recorded
curve is still the x0-MSE, t²‖v̂ − v‖² (:mod:`.flow`).

Long runs survive: the output path is checked before the first step, the whole training state
(weights, EMA, optimizer, learning-rate schedule, random generator, loss accumulators) is written
atomically to ``OUT.state.pt`` every ``save_every_s`` seconds and on Ctrl-C, and ``resume=True``
continues from it to the result of an uninterrupted run (bit-exact for the same number of torch
threads: every random draw comes from one saved generator). Progress is reported through
``log(line)`` every ``log_every_s`` seconds (step, loss, it/s, time left), terminal or not.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .._validation import check_output_path as _check_output_path
from .._validation import check_positive_int, check_sigma_range
from ..data import DATASETS, load_dataset
from ..loss_curve import LossCurve
from .checkpoint import save_checkpoint
from .edm import EDMDenoiser, edm_loss_weight
from .flow import FlowMatchingDenoiser
from .networks import ARCHITECTURES, build_network

__all__ = ["OBJECTIVES", "TrainConfig", "TrainResult", "check_output_path", "state_path", "train"]

IMAGE_DATA = ("digits", "fashion")
OBJECTIVES = ("edm", "flow")


@dataclass
class TrainConfig:
    data: str = "digits"  # a name of DATASETS or a path to a .npy image array
    data_dir: str | None = None  # folder of Fashion-MNIST's idx files (default: Debian's)
    objective: str = "edm"  # "edm" (x0 with EDM preconditioning) or "flow" (velocity)
    arch: str | None = None  # default: unet for images, mlp for 2-D toys
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
        image = data in IMAGE_DATA or str(data).endswith(".npy")
        small = {"widths": [8, 16]} if image else {"hidden": 32, "depth": 1}
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

    @classmethod
    def fashion(cls, **overrides) -> TrainConfig:
        """The shipped Fashion-MNIST models: a 3-level U-Net (28 → 14 → 7, widths 16/32/32, 263 k
        parameters) sized to train in about an hour on one CPU thread (0.42 s a step);
        ``objective="flow"`` gives the flow-matching twin (same network, steps and batch)."""
        base = dict(
            data="fashion",
            arch_options={"widths": [16, 32, 32]},
            steps=8000,
            batch_size=64,
            lr=2e-3,
            warmup=200,
            ema_decay=0.999,
        )
        if overrides.get("objective") == "flow":  # all of t ∈ (0, 1): σ_max = 1e4 is t = 0.9999
            base.update(p_mean=0.0, p_std=1.0, sigma_max=1e4)
        base.update(overrides)
        return cls(**base)

    def resolved_arch(self) -> str:
        image = self.data in IMAGE_DATA or str(self.data).endswith(".npy")
        return self.arch or ("unet" if image else "mlp")

    def validate(self) -> TrainConfig:
        if self.data not in DATASETS and not str(self.data).endswith(".npy"):
            raise ValueError(
                f"unknown data set {self.data!r}; expected one of {DATASETS} or a .npy file"
            )
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}; expected one of {OBJECTIVES}")
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


def state_path(out: str | Path) -> Path:
    """Where :func:`train` keeps its resumable state beside the checkpoint ``out``."""
    out = Path(out)
    return out.with_name(out.name + ".state.pt")


def check_output_path(out: str | Path) -> Path:
    """Fail early, in one line, when the checkpoint path ``out`` cannot be written."""
    return _check_output_path(out)


def _atomic_torch_save(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)  # as save_checkpoint does for the model
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(obj, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _format_seconds(s: float) -> str:
    s = max(0, int(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def train(
    config: TrainConfig,
    out: str | Path | None = None,
    *,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    log_every_s: float = 20.0,
    save_every_s: float = 300.0,
    resume: bool = False,
    stop_after: int | None = None,
) -> TrainResult:
    """Train, optionally writing a safetensors checkpoint to ``out``; seeded and reproducible
    for a fixed number of threads.

    Args:
        config: the run's settings (validated first).
        out: checkpoint file; its folder must be writable (checked before the first step).
        progress: a rich progress bar (for terminals).
        log: called with a plain progress line every ``log_every_s`` seconds and at the end.
        save_every_s: seconds between resumable state files ``OUT.state.pt`` (needs ``out``).
        resume: continue from ``OUT.state.pt`` (its configuration must equal ``config``).
        stop_after: stop (saving the state) after this many steps in total; for tests and
            time-limited jobs. The result then holds the model at that step, and no checkpoint.
    """
    cfg = config.validate()
    out = check_output_path(out) if out is not None else None
    if resume and out is None:
        raise ValueError("resume needs the output path whose state file to continue from")
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    data, sigma_data, arch, model, ema, opt, sched = _build(cfg)
    edges = np.linspace(math.log(cfg.sigma_min), math.log(cfg.sigma_max), cfg.loss_bins + 1)
    acc = np.zeros((3, cfg.loss_bins))  # Σ L_x0, Σ L_x0², count per log-σ bin
    acc_logsig = np.zeros(cfg.loss_bins)
    record_start = int(cfg.record_from * cfg.steps)
    losses = np.zeros(cfg.steps)
    first_step, spent = 0, 0.0
    if resume:
        first_step, spent = _load_state(
            state_path(out), cfg, model, ema, opt, sched, gen, acc, acc_logsig, losses
        )

    def save_state(step: int) -> None:
        if out is not None:
            seconds = spent + time.perf_counter() - start
            parts = (model, ema, opt, sched, gen, acc, acc_logsig, losses)
            _save_state(state_path(out), cfg, step, seconds, *parts)

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    last_step = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    start = time.perf_counter()
    last_log = last_save = start
    step = first_step
    model.train()
    try:
        with Progress(
            TextColumn("train {task.fields[data]}"),
            BarColumn(),
            TextColumn("step {task.completed}/{task.total} loss {task.fields[loss]:.4f}"),
            TimeRemainingColumn(),
            disable=not progress,
            transient=True,
        ) as bar:
            task = bar.add_task(
                "train", total=cfg.steps, completed=first_step, data=cfg.data, loss=float("nan")
            )
            for step in range(first_step, last_step):
                sigma, sq = _train_step(cfg, step, data, model, ema, opt, sched, gen, sigma_data)
                losses[step] = float(_weighted_loss(cfg, sq, sigma, sigma_data, data))
                if step >= record_start:
                    _record(edges, cfg.loss_bins, acc, acc_logsig, sigma, sq)
                now = time.perf_counter()
                if step % 25 == 0 or step == cfg.steps - 1:
                    recent = float(np.mean(losses[max(0, step - 99) : step + 1]))
                    bar.update(task, completed=step + 1, loss=recent)
                if log is not None and (now - last_log >= log_every_s or step == last_step - 1):
                    log(
                        _progress_line(
                            cfg, step, (step + 1 - first_step) / max(now - start, 1e-9), losses
                        )
                    )
                    last_log = now
                if out is not None and now - last_save >= save_every_s:
                    save_state(step + 1)
                    last_save = now
    except KeyboardInterrupt:
        save_state(step)
        where = state_path(out) if out is not None else None
        raise KeyboardInterrupt(
            f"training interrupted at step {step}; state saved to {where}, continue with --resume"
            if where
            else f"training interrupted at step {step} (no output path, nothing saved)"
        ) from None
    seconds = spent + time.perf_counter() - start
    if last_step < cfg.steps:
        save_state(last_step)
        return TrainResult(ema.module.eval(), losses[:last_step], None, seconds, None)

    return _finish(cfg, out, arch, ema.module.eval(), losses, acc, acc_logsig, sigma_data, seconds)


def _save_state(path, cfg, step, seconds, model, ema, opt, sched, gen, acc, acc_logsig, losses):
    """The resumable state after ``step`` steps, written atomically to ``path``."""
    state = {
        "config": asdict(cfg),
        "step": step,
        "seconds": seconds,
        "model": model.state_dict(),
        "ema": ema.state_dict(),
        "opt": opt.state_dict(),
        "sched": sched.state_dict(),
        "gen": gen.get_state(),
        "acc": acc.copy(),
        "acc_logsig": acc_logsig.copy(),
        "losses": losses.copy(),
    }
    _atomic_torch_save(state, path)


def _build(cfg: TrainConfig):
    """``(data, σ_data, arch, model, its EMA, optimiser, learning-rate schedule)`` of a run."""
    data = torch.as_tensor(
        load_dataset(cfg.data, "train", data_dir=cfg.data_dir), dtype=torch.float32
    )
    shape = tuple(data.shape[1:])
    sigma_data = float(data.std())
    arch = cfg.resolved_arch()
    kind = FlowMatchingDenoiser if cfg.objective == "flow" else EDMDenoiser
    model = kind(build_network(arch, shape, **cfg.arch_options), shape, sigma_data)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, (k + 1) / (cfg.warmup + 1)))
    return data, sigma_data, arch, model, ema, opt, sched


def _progress_line(cfg: TrainConfig, step: int, rate: float, losses: np.ndarray) -> str:
    """One plain progress line: step, loss of the last 100 steps, it/s and time left."""
    recent = float(np.mean(losses[max(0, step - 99) : step + 1]))
    rate = max(rate, 1e-9)
    return (
        f"train {cfg.data}: step {step + 1}/{cfg.steps} loss {recent:.4f} "
        f"{rate:.2f} it/s, {_format_seconds((cfg.steps - step - 1) / rate)} left"
    )


def _finish(cfg, out, arch, final, losses, acc, acc_logsig, sigma_data, seconds) -> TrainResult:
    """The finished run: its recorded loss curve, and the checkpoint written to ``out`` (the
    resumable state file removed)."""
    curve = _recorded_curve(cfg, acc, acc_logsig)
    info = {
        "config": asdict(cfg),
        "sigma_data": sigma_data,
        "seconds": seconds,
        "final_loss": float(np.mean(losses[-100:])),
        "parameters": sum(p.numel() for p in final.parameters()),
        "threads": torch.get_num_threads(),
    }
    path = None
    if out is not None:
        path = save_checkpoint(
            out, final, arch=arch, arch_options=cfg.arch_options, info=info, loss_curve=curve
        )
        state_path(out).unlink(missing_ok=True)
    return TrainResult(final, losses, curve, seconds, path)


def _weighted_loss(cfg, sq: torch.Tensor, sigma: torch.Tensor, sigma_data: float, data):
    """The training loss per coordinate from the per-sample summed x0 errors ``sq``: EDM's
    λ(σ)‖x̂0 − x0‖², or for flow matching ‖v̂ − v‖² = ‖x̂0 − x0‖²/t² with t = σ/(1 + σ)."""
    if cfg.objective == "flow":
        weight = ((1.0 + sigma) / sigma) ** 2
    else:
        weight = edm_loss_weight(sigma, sigma_data)
    return (weight * sq).mean() / math.prod(data.shape[1:])


def _train_step(cfg, step, data, model, ema, opt, sched, gen, sigma_data):
    """One optimizer step; returns the batch's σ and detached per-sample x0 errors."""
    shape = tuple(data.shape[1:])
    x0 = data[torch.randint(0, data.shape[0], (cfg.batch_size,), generator=gen)]
    sigma = _sample_sigma(cfg, cfg.batch_size, gen)
    noise = torch.randn(x0.shape, generator=gen)
    s = sigma.reshape(-1, *([1] * len(shape)))
    if cfg.objective == "flow":
        t = s / (1 + s)
        v_err = model.velocity((1 - t) * x0 + t * noise, sigma / (1 + sigma)) - (noise - x0)
        loss = v_err.square().mean()
        sq = (t * v_err).square().flatten(1).sum(1)  # x0 error = t (v − v̂)
    else:
        denoised = model(x0 + s * noise, sigma)
        sq = (denoised - x0).square().flatten(1).sum(1)  # per-sample x0-MSE (sum over coords)
        loss = _weighted_loss(cfg, sq, sigma, sigma_data, data)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    ema.update_parameters(model)
    return sigma, sq.detach()


def _record(edges, bins, acc, acc_logsig, sigma, sq) -> None:
    ls = np.log(sigma.numpy())
    b = np.clip(np.searchsorted(edges, ls, side="right") - 1, 0, bins - 1)
    v = sq.double().numpy()
    np.add.at(acc[0], b, v)
    np.add.at(acc[1], b, v**2)
    np.add.at(acc[2], b, 1.0)
    np.add.at(acc_logsig, b, ls)


def _recorded_curve(cfg: TrainConfig, acc: np.ndarray, acc_logsig: np.ndarray) -> LossCurve:
    keep = acc[2] >= 2
    if keep.sum() < 2:
        raise ValueError("too few recorded loss samples per level: raise steps or lower loss_bins")
    n = acc[2][keep]
    mean = acc[0][keep] / n
    var = np.maximum(acc[1][keep] / n - mean**2, 0.0)
    return LossCurve(
        np.exp(acc_logsig[keep] / n),
        mean,
        np.sqrt(var / (n - 1)),
        int(n.min()),
        "sum",
        {"source": "training", "parametrisation": "x0", "data": cfg.data, "steps": cfg.steps},
    )


def _load_state(path, cfg, model, ema, opt, sched, gen, acc, acc_logsig, losses):
    if not path.is_file():
        raise ValueError(f"nothing to resume: no training state at {path}")
    try:
        state = torch.load(path, weights_only=False)
    except Exception as err:  # torch raises several types for a damaged pickle
        raise ValueError(f"{path}: training state unreadable ({err})") from None
    if state.get("config") != asdict(cfg):
        raise ValueError(
            f"{path} was written for another configuration; resume with the same options "
            f"(saved: {state.get('config')})"
        )
    model.load_state_dict(state["model"])
    ema.load_state_dict(state["ema"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    gen.set_state(state["gen"])
    acc[...] = state["acc"]
    acc_logsig[...] = state["acc_logsig"]
    losses[...] = state["losses"]
    return int(state["step"]), float(state["seconds"])
