"""Sampler-aware loss-curve schedules and ``schedule optimize``'s choice, scored exactly.

The exact targets of ``schedules_exact.py`` (3 atom laws and a 16-d Gaussian), ``gmm2-1000``
(exact too: a collinear mixture, ``scorelab.exact.exact_output_collinear``) and ``atoms64-r8``
(sampled: nearest-atom masses of 2^16 samples, snapped KL only, with the floor of as many exact
samples), each at data scale ×0.1, ×1, ×10; K = 5, 10, 20; σ 80 → 0.002, no final denoise. For
DDPM (exact: Markov kernel / Gaussian tracking), DPM-Solver++(2M) (exact: quadrature / Gaussian
tracking) and ``accel_sde`` (exact on the Gaussian; Monte Carlo with 2^20 samples on 1-D atom
laws and 2^18 on gmm2-1000's line, its floor in the CSV; ``clip=None`` on both Gaussian parts).
Every loss-curve schedule is built from the target's exact mmse curve (atoms64-r8: Monte Carlo,
16 384 samples with common random numbers on every 4th of the 801 levels, interpolated).
Columns: the heuristics, ``ays-opt`` (Align Your Steps' KLUB optimised on 512 exact samples
with the exact denoiser), LAS, info-las, info-las-ms (the multistep penalty), entropic time,
gauss-step (the Gaussian-surrogate single-step DP; ``posterior`` steps for the stochastic
samplers, ``deterministic`` for 2M), gauss-opt (the sampler's own exact output KL on that
surrogate, minimised: ``scorelab.grids.gaussian_optimized_schedule``) and ``optimize``: the
schedule that
``scorelab.schedules.recommend.RECOMMENDED`` picks for that sampler, metric and curve (it is one
of the other columns in each row). Writes
``docs/bench-schedules-surrogate.csv`` and, with ``--write-readme``, the README block
SCHEDULES-SURROGATE (geometric-mean ratio to the row's best / worst ratio / share of rows best
or within 5 %; a Monte-Carlo value below its floor counts as the floor).

    python benchmarks/schedules_surrogate.py [--write-readme] [--quick] [--only TARGET ...]

``--only`` / ``--columns`` recompute the named targets / schedule columns and keep the committed
CSV's other rows (with the current rule's choices).
"""

from __future__ import annotations

import argparse
import csv
import math
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from _readme import add_from_csv_option, ratio_cells, rows_from_run_or_csv, write_readme_block
from schedules_exact import laws
from scorelab.exact import (
    LINEAR_OPTIONS,
    exact_output_1d,
    exact_output_collinear,
    gaussian_output_kl,
    mmse_1d,
    mmse_collinear,
)
from scorelab.grids import gaussian_optimized_schedule
from scorelab.samplers import SAMPLERS
from scorelab.schedules import cosine, karras, las_schedule, log_snr_uniform, optimize_ays
from scorelab.schedules.information import (
    entropic_schedule,
    information_las_schedule,
    multistep_information_las_schedule,
)
from scorelab.schedules.recommend import (
    NEEDS,
    recommended_name,
    sampler_kind,
    surrogate_step,
)
from scorelab.schedules.surrogate import gaussian_step_schedule
from scorelab.targets import Discrete, Gaussian, GaussianMixture
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
    "gauss-opt",
    "optimize",
)


SCALES = (0.1, 1.0, 10.0)
#: sample count of the sampled (atoms64-r8) rows and of their floor
SAMPLED = 1 << 16


def targets() -> list[tuple[str, float, object]]:
    out = []
    for name, (atoms, w) in laws().items():
        for scale in SCALES:
            out.append((name, scale, Discrete((atoms * scale)[:, None], w)))
    eig = np.linspace(0.25, 2.0, 16)
    for scale in SCALES:
        out.append(("gaussian-16", scale, Gaussian(np.zeros(16), eig * scale**2)))
    mu = np.full(1000, 0.5)  # the gmm2-1000 preset, scaled
    for scale in SCALES:
        means = np.stack([mu, -mu]) * scale
        out.append(("gmm2-1000", scale, GaussianMixture([0.5, 0.5], means, 0.25 * scale**2)))
    code = Discrete.random_code(64, 8, scale=math.sqrt(8), seed=0).atoms  # atoms64-r8
    for scale in SCALES:
        out.append(("atoms64-r8", scale, Discrete(code * scale)))
    return out


def mmse_curve(target, sig: np.ndarray) -> np.ndarray:
    """The target's exact mmse on ``sig`` (Monte Carlo for the 8-d atom law)."""
    if isinstance(target, Gaussian):
        return target.mmse(sig)
    if target.dim == 1:
        return mmse_1d(target, sig)
    if isinstance(target, Discrete):  # Monte Carlo on every 4th level, log-log interpolated
        coarse = sig[::4]
        est = target.mmse(coarse, num_samples=SAMPLED // 4, seed=0)
        return np.exp(np.interp(np.log(sig), np.log(coarse[::-1]), np.log(est[::-1])))
    return mmse_collinear(target, sig)


def sampled_snapped(sampler: str, target: Discrete, grid: torch.Tensor) -> tuple[float, float]:
    """KL(w ‖ q̂) of the nearest-atom masses q̂ of SAMPLED outputs started from the exact law at
    σ_0, and the same estimator on SAMPLED exact samples at σ_K (its floor)."""
    gen = torch.Generator().manual_seed(0)
    s0, sk = float(grid[0]), float(grid[-1])
    x = target.sample_noised(SAMPLED, s0, gen, dtype=torch.float64)[1]
    out = SAMPLERS[sampler](target, x, grid, generator=gen)
    ref = target.sample_noised(SAMPLED, sk, gen, dtype=torch.float64)[1]

    def kl(y: torch.Tensor) -> float:
        q = np.bincount(target.nearest_atom(y).numpy(), minlength=target.num_components) / len(y)
        w = target.weights
        return float((w * (np.log(w) - np.log(np.maximum(q, 0.5 / len(y))))).sum())

    return kl(out), kl(ref)


def score(sampler: str, target, grid: torch.Tensor, quick: bool) -> tuple[float, ...]:
    """(continuous KL, snapped KL, their floors) of one sampler × grid on ``target``."""
    clip = LINEAR_OPTIONS.get(sampler, {})
    if isinstance(target, Gaussian):
        return gaussian_output_kl(sampler, target, grid, **clip), float("nan"), 0.0, 0.0
    if target.dim == 1:
        r = exact_output_1d(sampler, target, grid, monte_carlo_samples=1 << (16 if quick else 20))
    elif isinstance(target, Discrete):
        snap, floor = sampled_snapped(sampler, target, grid)
        return float("nan"), snap, 0.0, floor
    else:
        mc = 1 << (16 if quick else 18)
        r = exact_output_collinear(sampler, target, grid, monte_carlo_samples=mc, **clip)
    return r.kl_continuous, r.kl_snapped, r.floor_continuous, r.floor_snapped


def grids(curve, steps: int, target) -> dict[str, torch.Tensor]:
    """Every column's grid; ``gauss-step:<step kind>`` for each of gauss-step's step kinds."""
    x0 = target.sample(512, torch.Generator().manual_seed(0)).double()
    out = {
        "cosine": cosine(steps, LO, HI),
        "karras": karras(steps, LO, HI),
        "log-snr": log_snr_uniform(steps, LO, HI),
        "ays-opt": optimize_ays(target, x0, steps, LO, HI)[0],
        "las": las_schedule(steps, curve, LO, HI),
        "info-las": information_las_schedule(steps, curve, LO, HI),
        "info-las-ms": multistep_information_las_schedule(steps, curve, LO, HI),
        "entropic": entropic_schedule(steps, curve, LO, HI),
    }
    for step in {surrogate_step(sampler_kind(s, SAMPLERS[s].stochastic)) for s in SAMPLERS_RUN}:
        out[f"gauss-step:{step}"] = gaussian_step_schedule(steps, curve, LO, HI, step=step)
    return out


def prepare(args: tuple[int, bool, tuple[str, ...]]) -> tuple[dict, dict[int, dict]]:
    """Target ``index`` of :func:`targets`: its exact mmse curve's choices (the rule's pick per
    sampler and metric) and its sampler-independent grids per K, built once for all samplers."""
    index, quick, columns = args
    torch.set_num_threads(1)
    name, scale, target = targets()[index]
    sig = np.geomspace(HI, LO, 801)
    curve = InformationCurve.from_sigmas(sig, mmse_curve(target, sig))
    choices = {
        (sampler, metric): recommended_name(
            curve,
            LO,
            HI,
            kind=sampler_kind(sampler, SAMPLERS[sampler].stochastic),
            metric=metric,
            available=set(NEEDS.values()),
        )[0]
        for sampler in SAMPLERS_RUN
        for metric in ("continuous", "snapped")
    }
    print(f"grids: {name} x{scale}", flush=True)
    wanted = {c for c in columns if c != "gauss-opt"}
    by_steps = {
        k: grids(curve, k, target) if wanted else {} for k in ((5, 10) if quick else (5, 10, 20))
    }
    return {"choices": choices, "curve": curve}, by_steps


def score_target(args: tuple) -> list[dict]:
    """The rows of one target × sampler (the ``gauss-opt`` grid, which depends on the sampler,
    is built here)."""
    index, sampler, quick, columns, info, by_steps = args
    torch.set_num_threads(1)
    name, scale, target = targets()[index]
    kind = sampler_kind(sampler, SAMPLERS[sampler].stochastic)
    rows = []
    for steps, all_grids in by_steps.items():
        for sched in columns:
            if sched == "gauss-opt":
                grid = gaussian_optimized_schedule(sampler, steps, info["curve"], LO, HI)[0]
            elif sched == "gauss-step":
                grid = all_grids[f"gauss-step:{surrogate_step(kind)}"]
            else:
                grid = all_grids[sched]
            cont, snap, floor_cont, floor_snap = score(sampler, target, grid, quick)
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
                    choice_continuous=info["choices"][(sampler, "continuous")],
                    choice_snapped=info["choices"][(sampler, "snapped")],
                )
            )
    print(f"{sampler} {name} x{scale} done", flush=True)
    return rows


def run(
    quick: bool, only: tuple[str, ...] | None = None, columns: tuple[str, ...] | None = None
) -> list[dict]:
    """Every row, or (``only``, ``columns``) the rows of the named targets and schedule columns
    recomputed and the committed CSV's other rows kept (their rule choices updated)."""
    names = [name for name, _, _ in targets()]
    if only is not None and not set(only) <= set(names):
        raise SystemExit(f"unknown target(s) {sorted(set(only) - set(names))}; choose from {names}")
    columns = columns or SCHEDULES[:-1]
    if not set(columns) <= set(SCHEDULES[:-1]):
        raise SystemExit(f"unknown column(s) {sorted(set(columns) - set(SCHEDULES))}")
    picked = [i for i, name in enumerate(names) if only is None or name in only]
    with ProcessPoolExecutor(2) as pool:
        prepared = list(pool.map(prepare, [(i, quick, columns) for i in picked]))
        jobs = [
            (i, sampler, quick, columns, *prep)
            for i, prep in zip(picked, prepared, strict=True)
            for sampler in SAMPLERS_RUN
        ]
        rows = [row for part in pool.map(score_target, jobs) for row in part]
    if only is None and set(columns) == set(SCHEDULES[:-1]):
        return rows

    def key(r):
        return r["target"], float(r["scale"]), int(r["steps"]), r["sampler"], r["schedule"]

    fresh = {key(r) for r in rows}
    choices = {(r["target"], float(r["scale"]), r["sampler"]): r for r in rows}
    with CSV.open() as fh:
        kept = [r for r in csv.DictReader(fh) if key(r) not in fresh]
    for r in kept:  # the rule may have changed since the kept rows were written
        new = choices.get((r["target"], float(r["scale"]), r["sampler"]))
        if new is not None:
            r.update({c: new[c] for c in ("choice_continuous", "choice_snapped")})
    return kept + rows


def summary(rows: list[dict]) -> str:
    lines = [
        "| sampler | metric | targets (rows) | " + " | ".join(SCHEDULES) + " |",
        "|---|---|---|" + "---|" * len(SCHEDULES),
    ]
    families = {
        "1-D atom laws": lambda t: t.startswith("atoms") and t != "atoms64-r8",
        "gaussian-16": "gaussian-16".__eq__,
        "gmm2-1000": "gmm2-1000".__eq__,
        "atoms64-r8 (sampled)": "atoms64-r8".__eq__,
    }
    for sampler in SAMPLERS_RUN:
        for metric in ("snapped", "continuous"):
            for family, member in families.items():
                cells: dict = {}
                for r in rows:
                    value = float(r[f"kl_{metric}"])
                    if r["sampler"] != sampler or not member(r["target"]) or not np.isfinite(value):
                        continue
                    key = (r["target"], float(r["scale"]), int(r["steps"]))
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
    ap.add_argument("--only", nargs="+", metavar="TARGET", help="recompute these targets only")
    ap.add_argument("--columns", nargs="+", metavar="SCHEDULE", help="recompute these only")
    add_from_csv_option(ap)
    args = ap.parse_args()
    only = tuple(args.only) if args.only else None
    columns = tuple(args.columns) if args.columns else None
    rows, facts = rows_from_run_or_csv(args.from_csv, CSV, lambda: run(args.quick, only, columns))
    if only or columns:
        facts += (
            f"; rerun: targets {', '.join(only or ['all'])}, columns "
            f"{', '.join(columns or ['all'])}; the other rows kept from the CSV"
        )
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
