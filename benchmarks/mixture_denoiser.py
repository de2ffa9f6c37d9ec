"""Mixture/atom denoiser throughput as a fraction of this machine's float32 GEMM throughput,
measured in the same run, for several row-chunk budgets (``mixture.CHUNK_ELEMENTS``).

The denoiser of a K-component isotropic mixture with one shared variance needs two GEMMs,
x Mᵀ (n×d by d×K) and P M (n×K by K×d): 4nKd flops. The reference is torch's own time for exactly
those two GEMMs on the same shapes, so the ratio is the share of the arithmetic's speed the
denoiser reaches (1.0 = nothing but the two GEMMs).

Run:  python benchmarks/mixture_denoiser.py [--threads 1] [--write-readme]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch

from _readme import machine, write_readme_block
from _timing import run_times
from scorelab.targets import GaussianMixture, mixture

SHAPES = [(256, 256), (1024, 256), (256, 1024)]  # (K, d)
BUDGETS = [1 << 18, 1 << 20, 1 << 22, 1 << 23]
ROWS = 8192


def median_time(fn, repeats: int = 7) -> float:
    return statistics.median(run_times(fn, repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    where = machine()
    rng = np.random.default_rng(0)
    lines = [
        "| K | d | GEMM GFLOP/s | "
        + " | ".join(f"chunk 2^{b.bit_length() - 1}" for b in BUDGETS)
        + " |",
        "|---|---|---|" + "---|" * len(BUDGETS),
    ]
    saved = mixture.CHUNK_ELEMENTS
    try:
        for K, d in SHAPES:
            target = GaussianMixture(np.full(K, 1 / K), rng.normal(size=(K, d)), 0.25)
            x = torch.randn(ROWS, d)
            M = torch.randn(K, d)
            P = torch.softmax(torch.randn(ROWS, K), 1)
            gemm = median_time(lambda x=x, M=M, P=P: (x @ M.T, P @ M))
            flops = 4 * ROWS * K * d
            cells = []
            for budget in BUDGETS:
                mixture.CHUNK_ELEMENTS = budget
                t = median_time(lambda t=target, x=x: t.denoise(x, 1.0))
                cells.append(f"{gemm / t:.2f}")
            lines.append(f"| {K} | {d} | {flops / gemm / 1e9:.1f} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    finally:
        mixture.CHUNK_ELEMENTS = saved
    table = "\n".join(lines)
    print(table)
    if args.write_readme:
        write_readme_block(
            "MIXTURE-PERF",
            table + "\n\n(ratio = two-GEMM time / denoiser time, float32, 8192 rows, σ = 1)",
            f"python benchmarks/mixture_denoiser.py --threads {args.threads} --write-readme; "
            f"{where}",
        )


if __name__ == "__main__":
    main()
