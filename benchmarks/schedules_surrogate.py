"""Sampler-aware loss-curve schedules and ``schedule optimize``'s choice, scored exactly.

The exact targets of ``schedules_exact.py`` (3 atom laws and a 16-d Gaussian, each at data scale
×0.1, ×1, ×10; K = 5, 10, 20; σ 80 → 0.002, no final denoise) for DDPM (exact: Markov kernel /
Gaussian tracking), DPM-Solver++(2M) (exact: quadrature / Gaussian tracking) and ``accel_sde``
(exact on the Gaussian; Monte Carlo with 2^20 samples on atom laws, its floor in the CSV).
Every loss-curve schedule is built from the target's exact mmse curve. Columns: the heuristics,
``ays-opt`` (Align Your Steps' KLUB optimised on 512 exact samples with the exact denoiser),
LAS, info-las, info-las-ms (the multistep penalty), entropic time, gauss-step (the Gaussian-
surrogate single-step DP; ``posterior`` steps for the stochastic samplers, ``deterministic``
for 2M) and ``optimize``: the schedule that ``scorelab.schedules.recommend.RECOMMENDED`` picks
for that sampler, metric and curve (it is one of the other columns in each row). Writes
``docs/bench-schedules-surrogate.csv`` and, with ``--write-readme``, the README block
SCHEDULES-SURROGATE (geometric-mean ratio to the row's best / worst ratio / share of rows best
or within 5 %; a Monte-Carlo value below its floor counts as the floor).

    python benchmarks/schedules_surrogate.py [--write-readme] [--quick]
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from _readme import add_from_csv_option, ratio_cells, rows_from_run_or_csv, write_readme_block
from schedules_exact import laws
from scorelab.exact import exact_output_1d, gaussian_output_kl, mmse_1d
from scorelab.samplers import SAMPLERS
from scorelab.schedules import cosine, karras, las_schedule, log_snr_uniform, optimize_ays
from scorelab.schedules.information import (
    entropic_schedule,
    information_las_schedule,
    multistep_information_las_schedule,
)
from scorelab.schedules.recommend import (
    RECOMMENDED,
    RESOLVED_THRESHOLD,
    sampler_kind,
    surrogate_step,
)
from scorelab.schedules.surrogate import gaussian_step_schedule, resolved_fraction
from scorelab.targets import Discrete, Gaussian
from scorelab.theory import InformationCurve

LO, HI = 0.002, 80.0
ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "docs" / "bench-schedules-surrogate.csv"
SAMPLERS_RUN = ("ddpm", "dpmpp_2m", "accel_sde")
SCHEDULES = (
    "cosine",
    "karras",
    "log-snr",
    "ays-opt",
    "las",
    "info-las",
    "info-las-ms",
    "entropic",
    "gauss-step",
    "optimize",
)


def targets() -> list[tuple[str, float, object]]:
    out = []
    for name, (atoms, w) in laws().items():
        for scale in (0.1, 1.0, 10.0):
            out.append((name, scale, Discrete((atoms * scale)[:, None], w)))
    eig = np.linspace(0.25, 2.0, 16)
    for scale in (0.1, 1.0, 10.0):
        out.append(("gaussian-16", scale, Gaussian(np.zeros(16), eig * scale**2)))
    return out


def grids(curve, steps: int, sampler: str, target) -> dict[str, torch.Tensor]:
    step = surrogate_step(sampler_kind(sampler, SAMPLERS[sampler].stochastic))
    x0 = target.sample(512, torch.Generator().manual_seed(0)).double()
    return {
        "cosine": cosine(steps, LO, HI),
        "karras": karras(steps, LO, HI),
        "log-snr": log_snr_uniform(steps, LO, HI),
        "ays-opt": optimize_ays(target, x0, steps, LO, HI)[0],
        "las": las_schedule(steps, curve, LO, HI),
        "info-las": information_las_schedule(steps, curve, LO, HI),
        "info-las-ms": multistep_information_las_schedule(steps, curve, LO, HI),
        "entropic": entropic_schedule(steps, curve, LO, HI),
        "gauss-step": gaussian_step_schedule(steps, curve, LO, HI, step=step),
    }


def run_sampler(args: tuple[str, bool]) -> list[dict]:
    sampler, quick = args
    torch.set_num_threads(1)
    rows = []
    sig = np.geomspace(HI, LO, 801)
    kind = sampler_kind(sampler, SAMPLERS[sampler].stochastic)
    for name, scale, target in targets():
        gaussian = isinstance(target, Gaussian)
        mmse = target.mmse(sig) if gaussian else mmse_1d(target, sig)
        curve = InformationCurve.from_sigmas(sig, mmse)
        continuous = resolved_fraction(curve, LO, HI) < RESOLVED_THRESHOLD
        for steps in (5, 10) if quick else (5, 10, 20):
            for sched, grid in grids(curve, steps, sampler, target).items():
                floor_cont = floor_snap = 0.0
                if gaussian:
                    opts = {"clip": None} if sampler == "accel_sde" else {}
                    cont = gaussian_output_kl(sampler, target, grid, **opts)
                    snap = float("nan")
                else:
                    r = exact_output_1d(
                        sampler, target, grid, monte_carlo_samples=1 << (16 if quick else 20)
                    )
                    cont, snap = r.kl_continuous, r.kl_snapped
                    floor_cont, floor_snap = r.floor_continuous, r.floor_snapped
                rows.append(
                    dict(
                        target=name,
                        scale=scale,
                        steps=steps,
                        sampler=sampler,
                        schedule=sched,
                        kl_continuous=cont,
                        kl_snapped=snap,
                        floor_continuous=floor_cont,
                        floor_snapped=floor_snap,
                        choice_continuous=RECOMMENDED[(continuous, kind, "continuous")],
                        choice_snapped=RECOMMENDED[(continuous, kind, "snapped")],
                    )
                )
        print(f"{sampler} {name} x{scale} done", flush=True)
    return rows


def run(quick: bool) -> list[dict]:
    with ProcessPoolExecutor(len(SAMPLERS_RUN)) as pool:
        parts = pool.map(run_sampler, [(s, quick) for s in SAMPLERS_RUN])
    return [row for part in parts for row in part]


def summary(rows: list[dict]) -> str:
    lines = [
        "| sampler | metric | targets (rows) | " + " | ".join(SCHEDULES) + " |",
        "|---|---|---|" + "---|" * len(SCHEDULES),
    ]
    families = {
        "1-D atom laws": lambda t: t.startswith("atoms"),
        "gaussian-16": "gaussian-16".__eq__,
    }
    for sampler in SAMPLERS_RUN:
        for metric in ("snapped", "continuous"):
            for family, member in families.items():
                cells: dict = {}
                for r in rows:
                    value = float(r[f"kl_{metric}"])
                    if r["sampler"] != sampler or not member(r["target"]) or not np.isfinite(value):
                        continue
                    key = (r["target"], r["scale"], r["steps"])
                    cell = cells.setdefault(key, {})
                    # a Monte-Carlo value inside its floor counts as the floor (a tie)
                    floor = float(r.get(f"floor_{metric}") or 0.0)
                    cell[r["schedule"]] = max(value, floor, 1e-12)
                    cell["_choice"] = r[f"choice_{metric}"]
                if not cells:
                    continue
                for cell in cells.values():
                    cell["optimize"] = cell[cell.pop("_choice")]
                out = ratio_cells(list(cells.values()), SCHEDULES)
                lines.append(
                    f"| {sampler} | {metric} | {family} ({len(cells)}) | " + " | ".join(out) + " |"
                )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write-readme", action="store_true")
    ap.add_argument("--quick", action="store_true", help="K = 5 and 10 only")
    add_from_csv_option(ap)
    args = ap.parse_args()
    rows, facts = rows_from_run_or_csv(args.from_csv, CSV, lambda: run(args.quick))
    table = summary(rows)
    print(table)
    if args.write_readme:
        write_readme_block(
            "SCHEDULES-SURROGATE",
            table,
            f"python benchmarks/schedules_surrogate.py --write-readme; {facts}",
        )


if __name__ == "__main__":
    main()
