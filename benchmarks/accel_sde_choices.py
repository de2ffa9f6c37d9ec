"""How accel_sde's free parameters were chosen: TV-scale error of each variant at 8 / 16 / 32 / 64
score queries, exact score and injected score error 0.1, on the acceleration experiment's
4-component mixture in d = 16 (log-SNR grid σ ∈ [0.002, 80] + a final step to 0), beside
DPM-Solver++(2M) SDE and UniPC. Writes the table into docs/design/accel.md (CHOICES markers).

Run:  python benchmarks/accel_sde_choices.py [--samples N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from _readme import machine, write_readme_block
from scorelab.experiments.acceleration import acceleration_target
from scorelab.metrics import isotropic_mixture_metrics
from scorelab.oracles import ErrorInjectedDenoiser
from scorelab.samplers import SAMPLERS
from scorelab.schedules import append_zero, log_snr_uniform

DOC = Path(__file__).resolve().parents[1] / "docs" / "design" / "accel.md"
BUDGETS = (8, 16, 32, 64)
VARIANTS = [
    ("DPM-Solver++(2M) SDE (peer)", "dpmpp_2m_sde", {}),
    ("UniPC-2 (ODE)", "unipc", {}),
    (
        "exact weights, no clip, no burn-in",
        "accel_sde",
        dict(weights="exact", clip=None, burn_in=0),
    ),
    ("half weights, no clip, no burn-in", "accel_sde", dict(clip=None, burn_in=0)),
    ("half, clip 0.5, no burn-in", "accel_sde", dict(clip=0.5, burn_in=0)),
    ("half, clip 1, no burn-in", "accel_sde", dict(clip=1.0, burn_in=0)),
    ("half, clip 2, no burn-in", "accel_sde", dict(clip=2.0, burn_in=0)),
    ("half, clip 1, burn-in 1", "accel_sde", dict(burn_in=1)),
    ("**default**: half, clip 1, burn-in 2", "accel_sde", {}),
    ("half, clip 1, burn-in 3", "accel_sde", dict(burn_in=3)),
    ("default with η = 0.75", "accel_sde", dict(eta=0.75)),
    ("default with η = 0.5", "accel_sde", dict(eta=0.5)),
]


def error(target, sampler: str, budget: int, score_error: float, n: int, options) -> float:
    spec = SAMPLERS[sampler]
    k = spec.max_schedule_steps(budget)
    sigmas = append_zero(log_snr_uniform(k, 0.002, 80.0).double()).float()
    gen = torch.Generator().manual_seed(99)
    _, x = target.sample_noised(n, float(sigmas[0]), gen)
    model = target
    if score_error:
        model = ErrorInjectedDenoiser(target, score_error, kind="bias", space="score", seed=0)
    out = spec(model, x, sigmas, generator=gen, **options)
    return isotropic_mixture_metrics(out, target).tv_proxy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20000)
    args = parser.parse_args()
    t0, where = time.perf_counter(), machine()
    target = acceleration_target(16)
    floor = isotropic_mixture_metrics(
        target.sample(args.samples, torch.Generator().manual_seed(1)).float(), target
    ).tv_proxy
    head = " | ".join(f"{b} q: ε=0 / 0.1" for b in BUDGETS)
    lines = [f"| variant | {head} |", "|---|" + "---|" * len(BUDGETS)]
    for label, sampler, options in VARIANTS:
        cells = []
        for b in BUDGETS:
            e0, e1 = (error(target, sampler, b, eps, args.samples, options) for eps in (0.0, 0.1))
            cells.append(f"{e0:.3f} / {e1:.3f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    lines.append(f"\nExact-sample floor of the metric at n = {args.samples}: {floor:.3f}.")
    write_readme_block(
        "CHOICES",
        "\n".join(lines),
        f"python benchmarks/accel_sde_choices.py --samples {args.samples}; "
        f"{time.perf_counter() - t0:.0f} s on a {where}",
        DOC,
    )


if __name__ == "__main__":
    main()
