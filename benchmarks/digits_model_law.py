"""DDPM and ``accel_sde`` on the digits model, scored on the model's own law (floor measured).

The classifier-feature FD of ``benchmarks/digits_optimize.py`` cannot rank the best cells at
10 calls: they sit *below* its floor (the digits held-out split against the training split,
10.3 at 2000 samples), so a difference of 0.7 there says nothing. This script asks the question
the sampler can answer: how far is the law of its outputs from the law the model has learned —
the model's converged probability-flow solution (DPM-Solver++(3M) on ``--levels`` log-SNR-uniform
levels) from other noises? The distance is the Fréchet distance in the 64 pixel coordinates
(``scorelab.image_metrics.frechet_distance``), on ``--samples`` outputs per cell, with

* its **floor**: the same distance between two converged batches from independent noises;
* the reference's **convergence**: converged on ``levels`` against ``levels / 2`` levels from
  the same noises (must be far below the floor);
* a **bootstrap sd** per cell (rows of both sides resampled, 20 times).

Grids: the standard ones (cosine = kl-optimal, EDM ρ = 7, log-SNR, beta(0.6, 0.6), uniform VP
time) and ``optimize`` (:func:`scorelab.grids.optimize_grid` on the model's trajectories, as in
``digits_optimize.py``: 64 proxy noises, a 512-sample law distance; its cost is reported). Every
noise here is fresh: the proxy never saw the starts or the Brownian draws scored here.

    python benchmarks/digits_model_law.py [--checkpoint runs/digits.safetensors]
        [--samples 8192] [--levels 128] [--nfe 5 10]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from _readme import add_from_csv_option, rows_from_run_or_csv, write_readme_block
from digits_optimize import HI, cells, optimized, setup
from scorelab.image_metrics import frechet_distance as frechet
from scorelab.samplers import SAMPLERS, SampleStreams, noise_source
from scorelab.schedules import get_schedule, log_snr_uniform

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "docs" / "results" / "digits-model-law.csv"
SAMPLERS_RUN = ("ddpm", "accel_sde")
GRIDS = ("optimize", "cosine", "karras", "log-snr", "beta", "uniform-t")
BOOTSTRAP = 20


def bootstrap_sd(a: np.ndarray, b: np.ndarray, seed: int) -> float:
    rng = np.random.default_rng(seed)
    draws = [
        frechet(a[rng.integers(0, len(a), len(a))], b[rng.integers(0, len(b), len(b))])
        for _ in range(BOOTSTRAP)
    ]
    return float(np.std(draws, ddof=1))


@torch.no_grad()
def sample(model, sampler: str, sigmas: torch.Tensor, n: int, seed: int) -> np.ndarray:
    """``n`` outputs from per-sample streams ``seed`` (initial noise and, for SDE samplers, the
    noise of every step), so a cell does not depend on batch size."""
    streams = SampleStreams(seed, n)
    x = streams.randn(n, 64) * float(sigmas[0])
    with noise_source(streams):
        out = SAMPLERS[sampler](model, x, sigmas.float())
    return out.double().numpy()


def run(checkpoint: Path, n: int, levels: int, nfes: tuple[int, ...]) -> list[dict]:
    model, curve, lo, proxy = setup(checkpoint)
    converged = log_snr_uniform(levels, lo, HI, final_zero=True, dtype=torch.float64)
    half = converged[::2]
    if float(half[-1]) != 0.0:
        half = torch.cat([half, half.new_zeros(1)])
    law = sample(model, "dpmpp_3m", converged, n, seed=101)
    floor = frechet(sample(model, "dpmpp_3m", converged, n, seed=102), law)
    change = frechet(sample(model, "dpmpp_3m", half, n, seed=101), law)
    print(f"floor {floor:.4g}, reference change under halving {change:.3g}", flush=True)
    rows = []
    for nfe in nfes:
        for sampler in SAMPLERS_RUN:
            for name in GRIDS:
                extra = {"choice": "", "proxy_evaluations": ""}
                if name == "optimize":
                    sigmas, extra = optimized(proxy, curve, sampler, nfe, lo)
                else:
                    sigmas = get_schedule(name, nfe - 1, lo, HI, final_zero=True)
                assert SAMPLERS[sampler].nfe(sigmas) == nfe
                out = sample(model, sampler, sigmas, n, seed=200 + nfe)
                row = dict(
                    nfe=nfe,
                    sampler=sampler,
                    grid=name,
                    law_fd=frechet(out, law),
                    sd=bootstrap_sd(out, law, seed=nfe),
                    floor=floor,
                    reference_change=change,
                    n=n,
                    levels=levels,
                    **extra,
                )
                rows.append(row)
                print(row, flush=True)
    return rows


def summary(rows: list[dict]) -> str:
    lines = [
        "| sampler | NFE | optimize (choice) | cosine | best standard grid | "
        "optimize − cosine (sd) | verdict against cosine |",
        "|---|---|---|---|---|---|---|",
    ]
    for sampler, nfe, cell in cells(rows, SAMPLERS_RUN):
        o, c = cell.pop("optimize"), cell["cosine"]
        best = min(cell.values(), key=lambda r: float(r["law_fd"]))
        gap = float(o["law_fd"]) - float(c["law_fd"])
        sd = math.hypot(float(o["sd"]), float(c["sd"]))
        verdict = "better" if gap < -2 * sd else "worse" if gap > 2 * sd else "tie (2 sd)"

        def show(r: dict) -> str:
            return f"{float(r['law_fd']):.3g} ± {float(r['sd']):.2g}"

        lines.append(
            f"| {sampler} | {nfe} | {show(o)} ({o['choice']}) | {show(c)} | "
            f"{best['grid']} {show(best)} | {gap:+.3g} ({sd:.2g}) | {verdict} |"
        )
    r = rows[0]
    lines.append(
        f"\nFloor (two converged batches of {int(r['n'])} from independent noises): "
        f"{float(r['floor']):.3g}; the converged law on {int(r['levels'])} levels against half "
        f"as many from the same noises: {float(r['reference_change']):.3g}."
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=ROOT / "runs" / "digits.safetensors")
    ap.add_argument("--samples", type=int, default=8192)
    ap.add_argument("--levels", type=int, default=128, help="levels of the converged law")
    ap.add_argument("--nfe", type=int, nargs="+", default=[5, 10], help="budgets to run")
    ap.add_argument("--write-readme", action="store_true")
    add_from_csv_option(ap)
    args = ap.parse_args()
    if args.samples < 128 or args.levels < 16 or args.levels % 2:
        raise SystemExit(
            f"need --samples >= 128 and an even --levels >= 16, got {args.samples}, {args.levels}"
        )
    rows, facts = rows_from_run_or_csv(
        args.from_csv,
        CSV,
        lambda: run(args.checkpoint, args.samples, args.levels, tuple(args.nfe)),
    )
    table = summary(rows)
    print(table)
    if args.write_readme:
        write_readme_block(
            "DIGITS-MODEL-LAW", table, f"python benchmarks/digits_model_law.py; {facts}"
        )


if __name__ == "__main__":
    main()
