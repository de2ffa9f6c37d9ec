"""Sampler benchmarks: per-step overhead against k-diffusion, and accuracy vs NFE.

Run:  python benchmarks/samplers.py [--quick] [--write-readme]

1. Overhead: every scorelab sampler and its k-diffusion equivalent run on the same trivial
   denoiser (D(x, σ) = x/(1+σ²), negligible cost), same σ grid and input, in the same process;
   best-of-N wall time, reported as the ratio scorelab / k-diffusion, at batch 256 × 64 and
   4096 × 1024 (1 torch thread). k-diffusion's
   ``dpmpp_2m_sde`` draws its noise from a torchsde Brownian tree, so that row compares different
   noise generators and is marked.
2. Accuracy vs NFE: 64 equally likely atoms in R⁸ (the ``atoms64-r8`` preset), Karras ρ=7 grid on
   [0.002, 80] plus a final denoise step, steps chosen so every sampler spends the same NFE;
   metric = TV of the nearest-atom histogram (finite-sample floor printed).
"""

from __future__ import annotations

import argparse

import torch

from _readme import machine, write_readme_block
from _timing import run_times
from scorelab.compat.k_diffusion import KDiffusionUnavailable, load_sampling
from scorelab.methods import K_DIFFUSION_COUNTERPARTS
from scorelab.metrics import atom_histogram_metrics
from scorelab.samplers import SAMPLERS
from scorelab.schedules import karras
from scorelab.targets import get_target

#: scorelab name -> (k-diffusion function, scorelab options, k-diffusion options)
PAIRS = K_DIFFUSION_COUNTERPARTS


def trivial(x, sigma):
    return x / (1 + sigma**2)[:, None]


def best_time(fn, repeats: int) -> float:
    return min(run_times(fn, repeats))


SHAPES = [(256, 64), (4096, 1024)]


def overhead(repeats: int) -> str | None:
    """The overhead table (markdown), or None without k-diffusion."""
    try:
        K = load_sampling()
    except KDiffusionUnavailable as err:
        print(f"k-diffusion unavailable ({err}); overhead table skipped")
        return None
    sigmas = karras(50, 0.002, 80.0, final_zero=True, dtype=torch.float32)
    head = " | ".join(f"{n}×{d}: ours / k-diff [ms] | ratio" for n, d in SHAPES)
    lines = [f"| sampler | {head} |", "|---|" + "---|---|" * len(SHAPES)]
    for name, (kd_name, ours_opts, kd_opts) in PAIRS.items():
        ours_fn, kd_fn = SAMPLERS[name], getattr(K, kd_name)
        cells = []
        for n, d in SHAPES:
            x = torch.randn(n, d) * sigmas[0]

            def run_ours(fn=ours_fn, opts=ours_opts, x=x):
                return fn(trivial, x, sigmas, **opts)

            def run_theirs(fn=kd_fn, opts=kd_opts, x=x):
                return fn(trivial, x, sigmas, disable=True, **opts)

            reps = repeats if n * d < 1 << 20 else max(2, repeats // 3)
            ours, theirs = best_time(run_ours, reps), best_time(run_theirs, reps)
            cells.append(f"{ours * 1e3:.2f} / {theirs * 1e3:.2f} | {ours / theirs:.2f}")
        note = " (k-diffusion: torchsde noise)" if name == "dpmpp_2m_sde" else ""
        lines.append(f"| {name}{note} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def accuracy(num_samples: int, budgets: list[int]) -> None:
    target = get_target("atoms64-r8")
    print(f"\nAtom-histogram TV vs NFE on atoms64-r8 ({num_samples} samples, Karras ρ=7 + final 0)")
    print(f"{'sampler':>14} " + " ".join(f"{'NFE ' + str(b):>10}" for b in budgets))
    floor = None
    for name, spec in SAMPLERS.items():
        cells = []
        for nfe in budgets:
            steps = next(
                (k for k in range(nfe, 0, -1) if spec.nfe(karras(k, final_zero=True)) <= nfe), None
            )
            if steps is None:
                cells.append(f"{'-':>10}")
                continue
            sigmas = karras(steps, final_zero=True, dtype=torch.float32)
            gen = torch.Generator().manual_seed(0)
            x = torch.randn(num_samples, target.dim, generator=gen) * sigmas[0]
            out = spec(target, x, sigmas, generator=gen)
            m = atom_histogram_metrics(out, target)
            floor = m.tv_floor
            cells.append(f"{m.tv:>10.4f}")
        print(f"{name:>14} " + " ".join(cells))
    print(f"{'floor':>14} {floor:>10.4f}  (E[TV] of exact samples)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write-readme", action="store_true", help="overhead table only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    where = machine()
    table = overhead(repeats=3 if args.quick else 10)
    if args.write_readme:
        if table is None:
            raise SystemExit("k-diffusion is needed for the overhead table")
        write_readme_block(
            "PERF-SAMPLERS",
            table + "\n\n(trivial denoiser, K = 50 Karras steps, float32, 1 thread, best of N)",
            f"python benchmarks/samplers.py --write-readme; {where}",
        )
        return
    accuracy(2000 if args.quick else 20000, [5, 10, 20, 50])


if __name__ == "__main__":
    main()
