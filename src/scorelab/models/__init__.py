"""Trained denoisers: small networks with EDM preconditioning, CPU training that records the
per-level loss curve (the LAS input), and safetensors checkpoints."""

from .checkpoint import load_checkpoint, save_checkpoint
from .edm import EDMDenoiser, edm_loss_weight
from .networks import ARCHITECTURES, MLPNet, UNetNet, build_network
from .training import TrainConfig, TrainResult, train

__all__ = [
    "ARCHITECTURES",
    "EDMDenoiser",
    "MLPNet",
    "TrainConfig",
    "TrainResult",
    "UNetNet",
    "build_network",
    "edm_loss_weight",
    "load_checkpoint",
    "save_checkpoint",
    "train",
]
