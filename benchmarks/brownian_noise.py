"""What step-count-stable noise costs: stochastic samplers with per-sample Brownian paths
(``BrownianNoise``, built for the grid it runs on) against today's per-sample streams
(``SampleStreams``), same sampler, grid and target, timed in the same run.

    python benchmarks/brownian_noise.py [--samples 256] [--steps 20] [--repeats 5]

Two denoisers: the Fashion-MNIST EDM model (784 pixels; where a model call dominates, as in use)
and a 784-dimensional Gaussian target (the denoiser is nearly free, so the noise cost shows in
full). Prints the median seconds of each and the ratio Brownian / streams (goal ≤ 1.2).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from scorelab.models import load_checkpoint
from scorelab.samplers import SAMPLERS, BrownianNoise, SampleStreams, noise_source
from scorelab.schedules import karras
from scorelab.targets import Gaussian

ROOT = Path(__file__).resolve().parents[1]
SAMPLERS_RUN = ("ddpm", "dpmpp_2m_sde", "accel_sde", "euler_maruyama")


def _median(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    n, d = args.samples, 784
    model = load_checkpoint(ROOT / "src/scorelab/assets/fashion_edm.safetensors")[0]
    gauss = Gaussian(np.zeros(d), np.linspace(0.1, 1.0, d))
    grid = karras(args.steps, 0.002, 80.0, final_zero=True)
    print(f"load {os.getloadavg()[0]:.2f}; {n} samples, K = {args.steps}, 1 torch thread")
    print(f"{'denoiser':<10} {'sampler':<16} {'streams [s]':>12} {'Brownian [s]':>13} {'ratio':>6}")
    for label, den in (("fashion", model), ("gaussian", gauss)):
        dtype = torch.float32 if label == "fashion" else torch.float64
        for name in SAMPLERS_RUN:
            x = SampleStreams(0, n).randn(n, d, dtype=dtype) * grid[0]

            def streams(name=name, den=den, x=x, dtype=dtype):
                with torch.no_grad(), noise_source(SampleStreams(1, n)):
                    SAMPLERS[name](den, x.clone(), grid.to(dtype))

            def brownian(name=name, den=den, x=x, dtype=dtype):
                noise = BrownianNoise(grid, (d,), seed=1, num_samples=n)
                with torch.no_grad(), noise_source(noise):
                    SAMPLERS[name](den, x.clone(), grid.to(dtype))

            a, b = _median(streams, args.repeats), _median(brownian, args.repeats)
            print(f"{label:<10} {name:<16} {a:>12.3f} {b:>13.3f} {b / a:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
