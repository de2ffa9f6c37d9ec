"""Align Your Steps, optimised (``scorelab.schedules.optimize_ays``) on gaussian-16: the KLUB
(fresh noise) and the exact D of the optimised grid against EDM ρ = 7, log-SNR and oracle-LAS (the
exact minimiser of D), K = 10 and 20.

    python benchmarks/ays_gaussian.py
"""

from __future__ import annotations

import time

import torch

from scorelab.schedules import ays_klub, karras, log_snr_uniform, optimize_ays, oracle_las
from scorelab.targets import get_target
from scorelab.theory import discretization_error


def main() -> None:
    target = get_target("gaussian-16")
    x0 = target.sample(256, torch.Generator().manual_seed(1)).double()
    print("| K | grid | KLUB (fresh noise) | exact D | optimisation time [s] |")
    print("|---|---|---|---|---|")
    for k in (10, 20):
        t0 = time.perf_counter()
        opt, _ = optimize_ays(target, x0, k)
        elapsed = time.perf_counter() - t0
        for name, grid in (
            ("optimised", opt),
            ("EDM ρ=7", karras(k)),
            ("log-SNR", log_snr_uniform(k)),
            ("oracle-LAS", oracle_las(target, k)),
        ):
            klub = ays_klub(target, x0, grid, seed=5)
            d = discretization_error(grid.numpy(), target)
            when = f"{elapsed:.1f}" if name == "optimised" else ""
            print(f"| {k} | {name} | {klub:.4g} | {d:.4g} | {when} |")


if __name__ == "__main__":
    main()
