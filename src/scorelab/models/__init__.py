"""Trained denoisers: small networks with EDM preconditioning, CPU training that records the
per-level loss curve (the LAS input), and safetensors checkpoints."""

from .checkpoint import load_checkpoint, save_checkpoint
from .edm import EDMDenoiser, edm_loss_weight
from .flow import FlowMatchingDenoiser, VelocityDenoiser, velocity_of
from .networks import ARCHITECTURES, MLPNet, UNetNet, build_network
from .training import TrainConfig, TrainResult, train

__all__ = [
    "ARCHITECTURES",
    "EDMDenoiser",
    "FlowMatchingDenoiser",
    "MLPNet",
    "TrainConfig",
    "TrainResult",
    "UNetNet",
    "VelocityDenoiser",
    "build_network",
    "edm_loss_weight",
    "load_checkpoint",
    "save_checkpoint",
    "train",
    "velocity_of",
]
