"""Re-score one row of ``optimize_measured.py`` on several Monte-Carlo seeds: how much of a
ratio between two grids is the score's own noise.

The row's ``optimize`` grid is rebuilt exactly as ``optimize_measured.py`` builds it (same data,
proxy and settings), then it and the named standard grids are scored on the true law with
``--seeds`` different random numbers (2^15 outputs each, the benchmark's count; the benchmark
itself uses seed 7). Prints each grid's score per seed, their mean and sd.

    python benchmarks/optimize_rescore.py --group fresh --target aniso-12d --scale 0.5 \\
        --sampler dpmpp_2m --steps 10 --metric continuous --grids cosine
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from optimize_measured import DATA_SAMPLES, HI, LO, all_targets, curve_of, mc_score, optimized
from scorelab.grids import candidate_grids
from scorelab.samplers import SAMPLERS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--group", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--scale", type=float, required=True)
    ap.add_argument("--sampler", required=True, choices=sorted(SAMPLERS))
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--metric", choices=("continuous", "snapped"), required=True)
    ap.add_argument("--grids", nargs="+", default=["cosine"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9, 10, 11])
    args = ap.parse_args()
    found = [
        t for g, n, s, t in all_targets() if (g, n, s) == (args.group, args.target, args.scale)
    ]
    if not found:
        raise SystemExit(f"no target {args.target} x{args.scale} in group {args.group}")
    target = found[0]
    torch.set_num_threads(1)
    curve = curve_of(target)
    data = target.sample(DATA_SAMPLES, torch.Generator().manual_seed(123)).double()
    opt = optimized(args.sampler, args.steps, args.metric, target, data, curve)
    grids = candidate_grids(args.steps, LO, HI, curve=curve, final_zero=False)
    grids = {name: grids[name] for name in args.grids}
    grids[f"optimize ({opt.meta()['chosen']})"] = opt.sigmas[opt.sigmas > 0]
    column = 0 if args.metric == "continuous" else 1  # mc_score: (continuous, snapped, ...)
    for name, grid in grids.items():
        values = [mc_score(args.sampler, target, grid, s)[column] for s in args.seeds]
        print(
            f"{name}: "
            + ", ".join(f"{v:.4g}" for v in values)
            + f"; mean {np.mean(values):.4g} ± {np.std(values, ddof=1):.2g} (sd)",
            flush=True,
        )


if __name__ == "__main__":
    main()
