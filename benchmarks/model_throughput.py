"""Model evaluations per second on the shipped Fashion-MNIST models by batch size: the batch the
Fashion benchmarks use (64) against a plain loop over single samples, timed in the same run.

    python benchmarks/model_throughput.py [--threads 1] [--seconds 3]

Prints samples/s (one model call per sample) at batch 1, 8, 32, 64, 128 and 256, and the ratio
to batch 1, for each shipped checkpoint.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from scorelab.models import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ("fashion_edm.safetensors", "fashion_flow.safetensors")
BATCHES = (1, 8, 32, 64, 128, 256)


def samples_per_second(model, batch: int, seconds: float) -> float:
    x = torch.randn(batch, model.dim)
    done, t0 = 0, time.perf_counter()
    with torch.no_grad():
        model(x, 1.0)  # warm-up
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            model(x, 1.0)
            done += batch
    return done / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load {os.getloadavg()[0]:.2f}; {args.threads} torch thread(s)")
    for name in CHECKPOINTS:
        path = ROOT / "src" / "scorelab" / "assets" / name
        if not path.is_file():
            print(f"{name}: not shipped")
            continue
        model = load_checkpoint(path)[0]
        rates = {b: samples_per_second(model, b, args.seconds) for b in BATCHES}
        cells = ", ".join(f"batch {b}: {r:.0f}/s ({r / rates[1]:.1f}×)" for b, r in rates.items())
        print(f"{name}: {cells}", flush=True)


if __name__ == "__main__":
    main()
