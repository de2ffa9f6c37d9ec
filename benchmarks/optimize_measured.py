"""``optimize`` against every grid a practitioner would pick, scored on the true output law.

For each target × sampler (DDPM, DPM-Solver++(2M), ``accel_sde``) × K (5, 10, 20) × error kind
(continuous: the law at σ_min; snapped: after snapping to the data's atoms or components), the
columns are the standard grids (EDM ρ = 7, log-SNR, cosine = kl-optimal, beta(0.6, 0.6),
uniform VP time), scorelab's curve-built grids (info-las, info-las-ms, entropic, gauss-step,
gauss-opt) and:

* ``rule``: the previous fixed rule (``scorelab.schedules.recommend.RECOMMENDED``);
* ``optimize``: :func:`scorelab.grids.optimize_grid` measured on what a user has — 4096 data
  samples of the target and its denoiser, through :func:`scorelab.grids.proxy_for` (a mixture
  surrogate fitted to the samples for d ≤ 16; the denoiser's own trajectories above). The proxy
  never sees the true law.

Three groups of targets, reported apart:

* **tuned**: the targets the previous rule was tuned on (1-D atom laws, a 16-d Gaussian, the
  collinear ``gmm2-1000``; data scales ×0.1, ×1, ×10), scored exactly;
* **new** (not tuned on; defined here, first run after the code was written): non-collinear
  mixtures of anisotropic Gaussians in 2-D (4 components) and 8-D (6 components, rank-2
  factors), scales ×0.3 and ×1, scored by Monte Carlo on 2^15 outputs with the floor of as
  many exact samples (and, in the summary, the level the mass KL of exact draws reaches by
  chance, :func:`mass_kl_resolution`: values below it are ties): ``snapped`` = KL(w ‖ ŵ) of
  the most-likely-component frequencies,
  ``continuous`` = that plus the within-component moment KL (``mixture_metrics``). Two
  changes to ``optimize`` (the surrogate's component count, the re-ranking of near-ties) were
  made after looking at this group's misses, so it is no longer held out for them;
* **fresh**: mixtures of the same kind in 3-D (5 components) and 12-D (3 components) at scales
  ×0.5 and ×2, defined after those changes and run once with that code; its misses were then
  diagnosed and a change tried on it (and rejected), so it is no longer held out;
* **fresh2**: 5-D and 16-D, 4 components each, scales ×0.7 and ×1.5, defined after that and
  run with the final code.

Writes ``docs/results/optimize-measured.csv`` and, with ``--write-readme``, the README block
OPTIMIZE-MEASURED: per group, sampler and error kind, for ``optimize``, ``rule`` and the best
single standard grid: the share of rows best or within 5 % of the best column, the geometric
mean and the worst of the ratio to the best column, and the worst ratio to the best standard
grid of the row.

    python benchmarks/optimize_measured.py [--write-readme] [--quick]
        [--group tuned|new|fresh|fresh2]
"""

from __future__ import annotations

import argparse
import math
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from _readme import add_from_csv_option, rows_from_run_or_csv, write_readme_block
from schedules_surrogate import mmse_curve
from schedules_surrogate import targets as tuned_targets
from scorelab.exact import (
    LINEAR_OPTIONS,
    exact_output_1d,
    exact_output_collinear,
    gaussian_output_kl,
)
from scorelab.grids import (
    STANDARD,
    candidate_grids,
    gaussian_optimized_schedule,
    optimize_grid,
    proxy_for,
)
from scorelab.metrics import mixture_metrics
from scorelab.samplers import SAMPLERS
from scorelab.schedules.recommend import NEEDS, recommended_name, sampler_kind
from scorelab.targets import Gaussian, GaussianMixture
from scorelab.theory import InformationCurve

LO, HI = 0.002, 80.0
ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "docs" / "results" / "optimize-measured.csv"
SAMPLERS_RUN = ("ddpm", "dpmpp_2m", "accel_sde")
CURVE_COLUMNS = ("info-las", "info-las-ms", "entropic", "gauss-step", "gauss-opt")
COLUMNS = (*STANDARD, *CURVE_COLUMNS, "rule", "optimize")
MC_SAMPLES = 1 << 15
DATA_SAMPLES = 4096


def anisotropic_mixture(d: int, k: int, scale: float, seed: int) -> GaussianMixture:
    """k components in R^d with means spread in all directions (not collinear) and
    anisotropic covariances: isotropic 0.02·scale² plus a rank-2 factor of scale 0.3–0.8·scale
    in random directions; unequal weights."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(k, d)) * 1.5 * scale
    factors = rng.normal(size=(k, d, 2)) * rng.uniform(0.3, 0.8, size=(k, 1, 2)) * scale
    weights = rng.dirichlet(np.full(k, 3.0))
    var = np.full(k, 0.02 * scale**2)
    return GaussianMixture(weights, means, var, cov_kind="lowrank", factors=factors)


#: per group: (data scales, ((dimension, components, seed), ...)), one mixture per scale × entry
MIXTURE_GROUPS = {
    # defined before the surrogate code was written; tuned on since (module docstring)
    "new": ((0.3, 1.0), ((2, 4, 11), (8, 6, 12))),
    # defined after the surrogate fit and the near-tie re-ranking were changed by looking at the
    # new group's misses, run once with that code; diagnosed since
    "fresh": ((0.5, 2.0), ((3, 5, 21), (12, 3, 22))),
    # defined after the fresh group's diagnosis, run with the final code: held out
    "fresh2": ((0.7, 1.5), ((5, 4, 31), (16, 4, 32))),
}


def mixture_targets(group: str) -> list[tuple[str, float, object]]:
    """``(name, scale, mixture)`` of a group of :data:`MIXTURE_GROUPS`."""
    scales, entries = MIXTURE_GROUPS[group]
    return [
        (f"aniso-{d}d", scale, anisotropic_mixture(d, k, scale, seed=seed))
        for scale in scales
        for d, k, seed in entries
    ]


def all_targets() -> list[tuple[str, str, float, object]]:
    tuned = [("tuned", n, s, t) for n, s, t in tuned_targets() if n != "atoms64-r8"]
    return tuned + [(g, n, s, t) for g in MIXTURE_GROUPS for n, s, t in mixture_targets(g)]


def mc_score(
    sampler: str, target: GaussianMixture, grid: torch.Tensor, seed: int = 7
) -> tuple[float, ...]:
    """(continuous, snapped, their floors) on MC_SAMPLES outputs (see the module docstring);
    the table uses seed 7, ``optimize_rescore.py`` others."""
    gen = torch.Generator().manual_seed(seed)
    x = target.sample_noised(MC_SAMPLES, float(grid[0]), gen, dtype=torch.float64)[1]
    out = SAMPLERS[sampler](target, x, torch.cat([grid, grid.new_zeros(1)]), generator=gen)
    ref = target.sample(MC_SAMPLES, gen).double()

    def both(y: torch.Tensor) -> tuple[float, float]:
        label = target.posterior(y, 1e-150).argmax(1).numpy()
        w = target.weights
        q = np.bincount(label, minlength=w.size) / len(label)
        mass = float((w * (np.log(w) - np.log(np.maximum(q, 0.5 / len(label))))).sum())
        return mass + float(mixture_metrics(y, target).moment_kl), mass

    (c, s), (fc, fs) = both(out), both(ref)
    return c, s, fc, fs


def score(sampler: str, target, grid: torch.Tensor) -> tuple[float, float, float, float]:
    """(continuous KL, snapped KL, floor continuous, floor snapped) of one sampler × grid."""
    grid = grid[grid > 0]
    clip = LINEAR_OPTIONS.get(sampler, {})
    if isinstance(target, Gaussian):
        return gaussian_output_kl(sampler, target, grid, **clip), float("nan"), 0.0, 0.0
    if target.dim == 1:
        r = exact_output_1d(sampler, target, grid, monte_carlo_samples=1 << 18)
    elif isinstance(target, GaussianMixture) and target.cov_kind == "lowrank":
        return mc_score(sampler, target, grid)
    else:
        r = exact_output_collinear(sampler, target, grid, monte_carlo_samples=1 << 16, **clip)
    return r.kl_continuous, r.kl_snapped, r.floor_continuous, r.floor_snapped


def curve_of(target) -> InformationCurve:
    sig = np.geomspace(HI, LO, 801)
    if isinstance(target, GaussianMixture) and target.cov_kind == "lowrank":
        mmse = target.mmse(sig[::8], num_samples=8192, seed=0)
        mmse = np.exp(np.interp(np.log(sig), np.log(sig[::8][::-1]), np.log(mmse[::-1])))
    else:
        mmse = mmse_curve(target, sig)
    return InformationCurve.from_sigmas(sig, mmse)


def optimized(sampler: str, steps: int, metric: str, target, data, curve):
    """``optimize``'s grid for one row, built as the table builds it: a surrogate proxy fitted
    to ``data`` (``metric``: the error kind it measures), one refinement sweep, no final zero."""
    proxy = proxy_for(target, data, LO, HI, metric=metric, exact=True)
    return optimize_grid(
        sampler,
        None,
        LO,
        HI,
        steps=steps,
        proxy=proxy,
        curve=curve,
        final_zero=False,
        refine_sweeps=1,
    )


def run_target(args: tuple[int, bool]) -> list[dict]:
    index, quick = args
    torch.set_num_threads(1)
    group, name, scale, target = all_targets()[index]
    curve = curve_of(target)
    data = target.sample(DATA_SAMPLES, torch.Generator().manual_seed(123)).double()
    rows = []
    for sampler in SAMPLERS_RUN:
        kind = sampler_kind(sampler, SAMPLERS[sampler].stochastic)
        for steps in (5, 10) if quick else (5, 10, 20):
            grids = candidate_grids(steps, LO, HI, curve=curve, final_zero=False)
            grids["gauss-opt"] = gaussian_optimized_schedule(sampler, steps, curve, LO, HI)[0]
            scored = {col: score(sampler, target, g) for col, g in grids.items()}
            for m, metric in enumerate(("continuous", "snapped")):
                if all(not np.isfinite(v[m]) for v in scored.values()):
                    continue
                rule = recommended_name(
                    curve, LO, HI, kind=kind, metric=metric, available=set(NEEDS.values())
                )[0]
                opt = optimized(sampler, steps, metric, target, data, curve)
                values = {col: v[m] for col, v in scored.items()}
                floors = {col: v[m + 2] for col, v in scored.items()}
                values["rule"] = values.get(rule, float("nan"))
                floors["rule"] = floors.get(rule, 0.0)
                o = score(sampler, target, opt.sigmas)
                values["optimize"], floors["optimize"] = o[m], o[m + 2]
                for col in COLUMNS:
                    rows.append(
                        dict(
                            group=group,
                            target=name,
                            scale=scale,
                            steps=steps,
                            sampler=sampler,
                            metric=metric,
                            schedule=col,
                            kl=values.get(col, float("nan")),
                            floor=floors.get(col, 0.0),
                            choice=opt.meta()["chosen"]
                            if col == "optimize"
                            else (rule if col == "rule" else col),
                            proxy=opt.proxy if col == "optimize" else "",
                        )
                    )
            print(f"{group} {name} x{scale} {sampler} K={steps} done", flush=True)
    return rows


def run(quick: bool, group: str | None, scales: tuple[float, ...] | None = None) -> list[dict]:
    """Every row, or (``group``) that group's rows recomputed and the CSV's others kept;
    ``scales`` keeps only those data scales."""
    import csv

    picked = [
        i
        for i, t in enumerate(all_targets())
        if (group is None or t[0] == group) and (scales is None or t[2] in scales)
    ]
    with ProcessPoolExecutor(2) as pool:
        rows = [r for part in pool.map(run_target, [(i, quick) for i in picked]) for r in part]
    if group is not None and CSV.is_file():
        with CSV.open() as fh:
            rows = [r for r in csv.DictReader(fh) if r["group"] != group] + rows
    return rows


def mass_kl_resolution(components: int, outputs: int = MC_SAMPLES) -> float:
    """What the component-mass KL of ``outputs`` draws from the exact law reaches by chance:
    2n·KL is about χ² with k − 1 degrees of freedom, so KL has mean (k − 1)/(2n) and sd
    √(2(k − 1))/(2n); this returns the mean plus two sd. Two grids whose scores both lie
    below it cannot be told apart by the Monte-Carlo score (8-d mixture, k = 6: 1.7e-4 nats
    at n = 2^15)."""
    dof = components - 1
    return (dof + 2 * math.sqrt(2 * dof)) / (2 * outputs)


def _resolutions() -> dict[tuple[str, float], float]:
    """(target, scale) -> :func:`mass_kl_resolution` for the Monte-Carlo-scored mixtures."""
    return {
        (name, scale): mass_kl_resolution(t.num_components)
        for _, name, scale, t in all_targets()
        if isinstance(t, GaussianMixture) and t.cov_kind == "lowrank"
    }


def _effective(value: float, floor: float) -> float:
    """A Monte-Carlo value inside its floor counts as the floor (a tie); exact values ≥ 1e-12."""
    return max(value, floor, 1e-12)


def summary(rows: list[dict]) -> str:
    lines = [
        "| group | sampler | error | rows | optimize: best or ≤ 5 % | geo-mean / worst × best "
        "| worst × best standard | rule: best or ≤ 5 % | geo-mean / worst | best single "
        "standard grid: ≤ 5 % | geo-mean / worst |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    cells: dict = {}
    resolution = _resolutions()
    for r in rows:
        v = float(r["kl"])
        if not np.isfinite(v):
            continue
        key = (
            r["group"],
            r["sampler"],
            r["metric"],
            r["target"],
            float(r["scale"]),
            int(r["steps"]),
        )
        floor = max(float(r["floor"] or 0.0), resolution.get((r["target"], float(r["scale"])), 0))
        cells.setdefault(key, {})[r["schedule"]] = _effective(v, floor)
    for group in ("tuned", *MIXTURE_GROUPS):
        for sampler in SAMPLERS_RUN:
            for metric in ("continuous", "snapped"):
                mine = [c for k, c in cells.items() if k[:3] == (group, sampler, metric)]
                mine = [c for c in mine if "optimize" in c]
                if not mine:
                    continue

                def stats(col: str, group_cells=mine) -> tuple[float, float, float, float]:
                    ratios = np.array([c[col] / min(c.values()) for c in group_cells if col in c])
                    std = np.array(
                        [
                            c[col] / min(c[s] for s in STANDARD if s in c)
                            for c in group_cells
                            if col in c
                        ]
                    )
                    return (
                        (ratios <= 1.05).mean(),
                        math.exp(np.log(ratios).mean()),
                        ratios.max(),
                        std.max(),
                    )

                o, rl = stats("optimize"), stats("rule")
                best_std = min(
                    STANDARD, key=lambda s: stats(s)[1] if all(s in c for c in mine) else math.inf
                )
                b = stats(best_std)
                lines.append(
                    f"| {group} | {sampler} | {metric} | {len(mine)} | {o[0]:.0%} | "
                    f"{o[1]:.2f} / {o[2]:.2f} | {o[3]:.2f} | {rl[0]:.0%} | {rl[1]:.2f} / "
                    f"{rl[2]:.3g} | {best_std}: {b[0]:.0%} | {b[1]:.2f} / {b[2]:.3g} |"
                )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write-readme", action="store_true")
    ap.add_argument("--quick", action="store_true", help="K = 5 and 10 only")
    ap.add_argument("--group", choices=("tuned", *MIXTURE_GROUPS), default=None)
    ap.add_argument("--scale", type=float, nargs="+", default=None, help="data scales to run")
    add_from_csv_option(ap)
    args = ap.parse_args()
    rows, facts = rows_from_run_or_csv(
        args.from_csv, CSV, lambda: run(args.quick, args.group, args.scale and tuple(args.scale))
    )
    table = summary(rows)
    print(table)
    if args.write_readme:
        write_readme_block(
            "OPTIMIZE-MEASURED", table, f"python benchmarks/optimize_measured.py; {facts}"
        )


if __name__ == "__main__":
    main()
