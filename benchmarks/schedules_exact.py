"""Schedules × samplers × steps on exact targets, scored with no Monte-Carlo floor.

1-D atom laws (``scorelab.exact.exact_output_1d``; 3 laws at data scales ×0.1, ×1, ×10) and a
16-d Gaussian (coefficient tracking, same 3 scales). Every loss-curve schedule (LAS,
information-spread LAS, entropic time, saturating information) is built from the target's exact
mmse curve (``mmse_1d`` / closed form), i.e. the oracle loss a perfect model would record.
Grids run σ_max = 80 → σ_min = 0.002 with no
final denoise; DDPM and DPM-Solver++(2M) are exact, ``accel_sde`` is Monte Carlo (2^20 samples,
its floor in the CSV). Writes ``docs/bench-schedules-exact.csv`` and, with ``--write-readme``, the
README block SCHEDULES-EXACT: per sampler and schedule, the geometric-mean ratio to the best
schedule of the row, the worst ratio, and the share of rows where it is best or within 5 %.

    python benchmarks/schedules_exact.py [--write-readme] [--quick] [--samplers NAME ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from _readme import add_from_csv_option, ratio_cells, rows_from_run_or_csv, write_readme_block
from scorelab.exact import LINEAR_OPTIONS, exact_output_1d, gaussian_output_kl, mmse_1d
from scorelab.schedules import cosine, karras, las_schedule, log_snr_uniform
from scorelab.schedules.information import (
    entropic_schedule,
    information_las_schedule,
    saturating_schedule,
)
from scorelab.targets import Discrete, Gaussian
from scorelab.theory import InformationCurve

LO, HI = 0.002, 80.0
ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "docs" / "bench-schedules-exact.csv"
SCHEDULES = ("cosine", "karras", "log-snr", "las", "info-las", "entropic", "sat-info")
SAMPLERS = ("ddpm", "dpmpp_2m", "ipndm", "ipndm_v", "deis", "accel_sde")


def laws() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    return {
        "atoms4-unequal": (np.array([-1.0, 0.2, 0.5, 1.5]), np.array([0.1, 0.4, 0.3, 0.2])),
        "atoms8-random": (np.sort(rng.normal(size=8)), rng.dirichlet(np.ones(8))),
        "atoms5-clusters": (np.array([-1.0, -0.9, 1.0, 1.05, 1.1]), np.full(5, 0.2)),
    }


def grids(curve: InformationCurve, steps: int) -> dict[str, torch.Tensor]:
    return {
        "cosine": cosine(steps, LO, HI),
        "karras": karras(steps, LO, HI),
        "log-snr": log_snr_uniform(steps, LO, HI),
        "las": las_schedule(steps, curve, LO, HI),
        "info-las": information_las_schedule(steps, curve, LO, HI),
        "entropic": entropic_schedule(steps, curve, LO, HI),
        "sat-info": saturating_schedule(steps, curve, LO, HI),
    }


def run(quick: bool, samplers: tuple[str, ...] = SAMPLERS) -> list[dict]:
    """Every row of ``samplers``; with fewer than all, the CSV's rows of the others are kept."""
    rows = []
    steps_list = (5, 10) if quick else (5, 10, 20)
    sig = np.geomspace(HI, LO, 801)
    for name, (atoms, w) in laws().items():
        for scale in (0.1, 1.0, 10.0):
            target = Discrete((atoms * scale)[:, None], w)
            curve = InformationCurve.from_sigmas(sig, mmse_1d(target, sig))
            for steps in steps_list:
                for sched, grid in grids(curve, steps).items():
                    for sampler in samplers:
                        r = exact_output_1d(
                            sampler, target, grid, monte_carlo_samples=1 << (16 if quick else 20)
                        )
                        rows.append(
                            dict(
                                target=name,
                                scale=scale,
                                steps=steps,
                                schedule=sched,
                                sampler=sampler,
                                kl_snapped=r.kl_snapped,
                                kl_continuous=r.kl_continuous,
                                method=r.method,
                                floor_snapped=r.floor_snapped,
                                floor_continuous=r.floor_continuous,
                            )
                        )
                print(f"{name} x{scale} K={steps} done", flush=True)
    eig = np.linspace(0.25, 2.0, 16)
    for scale in (0.1, 1.0, 10.0):
        target = Gaussian(np.zeros(16), eig * scale**2)
        curve = InformationCurve.from_sigmas(sig, target.mmse(sig))
        for steps in steps_list:
            for sched, grid in grids(curve, steps).items():
                for sampler in samplers:
                    opts = LINEAR_OPTIONS.get(sampler, {})
                    kl = gaussian_output_kl(sampler, target, grid, **opts)
                    rows.append(
                        dict(
                            target="gaussian-16",
                            scale=scale,
                            steps=steps,
                            schedule=sched,
                            sampler=sampler,
                            kl_snapped=float("nan"),
                            kl_continuous=kl,
                            method="gaussian-tracking",
                            floor_snapped=0.0,
                            floor_continuous=0.0,
                        )
                    )
    if set(samplers) != set(SAMPLERS):
        import csv

        with CSV.open() as fh:
            rows = [r for r in csv.DictReader(fh) if r["sampler"] not in samplers] + rows
    return rows


def summary(rows: list[dict]) -> str:
    lines = [
        "| sampler | metric | targets (rows) | " + " | ".join(SCHEDULES) + " |",
        "|---|---|---|" + "---|" * len(SCHEDULES),
    ]
    families = {
        "1-D atom laws": lambda t: t.startswith("atoms"),
        "gaussian-16": "gaussian-16".__eq__,
    }
    for sampler in SAMPLERS:
        for metric in ("kl_snapped", "kl_continuous"):
            for family, member in families.items():
                cells: dict = {}
                for r in rows:
                    if r["sampler"] != sampler or not member(r["target"]):
                        continue
                    value = float(r[metric])
                    if np.isfinite(value):
                        key = (r["target"], r["scale"], r["steps"])
                        cells.setdefault(key, {})[r["schedule"]] = max(value, 1e-12)
                if not cells:
                    continue
                out = ratio_cells(list(cells.values()), SCHEDULES)
                name = metric.removeprefix("kl_")
                lines.append(
                    f"| {sampler} | {name} | {family} ({len(cells)}) | " + " | ".join(out) + " |"
                )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write-readme", action="store_true")
    ap.add_argument("--quick", action="store_true", help="K = 5, 10 and 2^16 MC samples")
    ap.add_argument(
        "--samplers",
        nargs="+",
        choices=SAMPLERS,
        default=SAMPLERS,
        help="rerun these samplers only, keep the CSV's other rows",
    )
    add_from_csv_option(ap)
    args = ap.parse_args()
    torch.set_num_threads(1)
    samplers = tuple(args.samplers)
    rows, facts = rows_from_run_or_csv(args.from_csv, CSV, lambda: run(args.quick, samplers))
    if set(samplers) != set(SAMPLERS):
        facts += f"; --samplers {' '.join(samplers)}: those rows only, the others kept from the CSV"
    table = summary(rows)
    print(table)
    if args.write_readme:
        write_readme_block(
            "SCHEDULES-EXACT",
            table,
            f"python benchmarks/schedules_exact.py --write-readme; {facts}",
        )


if __name__ == "__main__":
    main()
