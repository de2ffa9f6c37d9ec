"""``optimize`` on the digits model, scored by sample quality (classifier-feature FD).

The digits model (``scorelab train --data digits``, trained first if ``--checkpoint`` is
missing) with DDPM, ``accel_sde`` and DPM-Solver++(2M) at NFE 5, 10 and 20 (K = NFE − 1 steps and
the final denoise), σ from the recorded loss curve's lower end to 80, on the standard grids
(cosine = kl-optimal, EDM ρ = 7, log-SNR, beta(0.6, 0.6), uniform VP time), ``gits`` (a teacher-
trajectory DP in the style of GITS, ``TrajectoryProxy.gits_grid``) and ``optimize``:
:func:`scorelab.grids.optimize_grid` measured on the model's own trajectories (64 noises,
Brownian paths for the stochastic samplers; its cost is reported). Quality:
``scorelab.image_metrics.digits_quality`` on ``--samples`` outputs (FD to the training split,
floor = the held-out split, bootstrap sd over 20 resamples), common random numbers across grids.

Writes ``docs/results/digits-optimize.csv`` and, with ``--write-readme``, the README block
DIGITS-OPTIMIZE.

    python benchmarks/digits_optimize.py [--checkpoint runs/digits.safetensors] [--samples 2000]
        [--nfe 5 10 20]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from _readme import add_from_csv_option, rows_from_run_or_csv, write_readme_block
from scorelab.grids import TrajectoryProxy, optimize_grid
from scorelab.image_metrics import digits_quality
from scorelab.models import TrainConfig, load_checkpoint, train
from scorelab.samplers import SAMPLERS
from scorelab.schedules import get_schedule

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "docs" / "results" / "digits-optimize.csv"
SAMPLERS_RUN = ("ddpm", "accel_sde", "dpmpp_2m")
GRIDS = ("optimize", "gits", "cosine", "karras", "log-snr", "beta", "uniform-t")
NFES = (5, 10, 20)
HI = 80.0


def setup(checkpoint: Path):
    """``(model, its monotone loss curve, σ_min, optimize's proxy)``: the digits model (trained
    first if ``checkpoint`` is missing) and its trajectory proxy (64 noises, 256 levels)."""
    torch.set_num_threads(2)
    if not checkpoint.is_file():
        train(TrainConfig(data="digits"), checkpoint, log=print)
    model, meta = load_checkpoint(checkpoint)
    curve = meta["loss_curve"].monotone()
    lo = max(0.002, float(curve.sigma[0]))
    proxy = TrajectoryProxy(
        model, model.sample_shape, lo, HI, num_samples=64, reference_steps=256, dtype=torch.float32
    )
    return model, curve, lo, proxy


def optimized(proxy, curve, sampler: str, nfe: int, lo: float) -> tuple[torch.Tensor, dict]:
    """``optimize``'s grid for ``sampler`` within ``nfe`` calls (one refinement sweep), and the
    row's ``{"choice", "proxy_evaluations"}``."""
    before = proxy.evaluations
    opt = optimize_grid(sampler, nfe, lo, HI, proxy=proxy, curve=curve, refine_sweeps=1)
    return opt.sigmas, {
        "choice": opt.meta()["chosen"],
        "proxy_evaluations": proxy.evaluations - before,
    }


def cells(rows: list[dict], samplers: tuple[str, ...]):
    """``(sampler, nfe, {grid: row})`` per sampler and budget that has an ``optimize`` row."""
    for sampler in samplers:
        for nfe in sorted({int(r["nfe"]) for r in rows}):
            cell = {r["grid"]: r for r in rows if r["sampler"] == sampler and int(r["nfe"]) == nfe}
            if "optimize" in cell:
                yield sampler, nfe, cell


def run(checkpoint: Path, n: int, nfes: tuple[int, ...] = NFES) -> list[dict]:
    model, curve, lo, proxy = setup(checkpoint)
    rows = []
    for nfe in nfes:
        x_init = torch.randn(n, 64, generator=torch.Generator().manual_seed(nfe)) * HI
        for sampler in SAMPLERS_RUN:
            for name in GRIDS:
                extra = {}
                if name == "optimize":
                    sigmas, extra = optimized(proxy, curve, sampler, nfe, lo)
                elif name == "gits":  # the teacher-trajectory DP baseline, same proxy noises
                    sigmas = proxy.gits_grid(nfe - 1)
                else:
                    sigmas = get_schedule(name, nfe - 1, lo, HI, final_zero=True)
                assert SAMPLERS[sampler].nfe(sigmas) == nfe
                gen = torch.Generator().manual_seed(1000 + nfe)
                with torch.no_grad():
                    out = SAMPLERS[sampler](model, x_init.clone(), sigmas.float(), generator=gen)
                q = digits_quality(out, bootstrap=20)
                row = dict(
                    nfe=nfe,
                    sampler=sampler,
                    grid=name,
                    fd=q["fd"],
                    fd_sd=q["fd_sd"],
                    fd_floor=q["fd_floor"],
                    n=q["n"],
                    **extra,
                )
                rows.append(row)
                print(row, flush=True)
    return rows


def summary(rows: list[dict]) -> str:
    lines = [
        "| sampler | NFE | optimize (choice) FD ± sd | cosine | best standard grid | "
        "optimize best or tied (2 sd) |",
        "|---|---|---|---|---|---|",
    ]
    for sampler, nfe, cell in cells(rows, SAMPLERS_RUN):
        o = cell.pop("optimize")
        best = min(cell.values(), key=lambda r: float(r["fd"]))
        tie = float(o["fd"]) <= float(best["fd"]) + 2 * math.hypot(
            float(o["fd_sd"]), float(best["fd_sd"])
        )
        c = cell["cosine"]
        lines.append(
            f"| {sampler} | {nfe} | {float(o['fd']):.2f} ± {float(o['fd_sd']):.2f} "
            f"({o.get('choice', '')}) | {float(c['fd']):.2f} ± {float(c['fd_sd']):.2f} | "
            f"{best['grid']} {float(best['fd']):.2f} ± {float(best['fd_sd']):.2f} | "
            f"{'yes' if tie else 'no'} |"
        )
    floor = float(rows[0]["fd_floor"])
    lines.append(f"\nFD floor (held-out split vs training split): {floor:.2f}.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=ROOT / "runs" / "digits.safetensors")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--nfe", type=int, nargs="+", default=list(NFES), help="budgets to run")
    ap.add_argument("--write-readme", action="store_true")
    add_from_csv_option(ap)
    args = ap.parse_args()
    rows, facts = rows_from_run_or_csv(
        args.from_csv, CSV, lambda: run(args.checkpoint, args.samples, tuple(args.nfe))
    )
    table = summary(rows)
    print(table)
    if args.write_readme:
        write_readme_block(
            "DIGITS-OPTIMIZE", table, f"python benchmarks/digits_optimize.py; {facts}"
        )


if __name__ == "__main__":
    main()
