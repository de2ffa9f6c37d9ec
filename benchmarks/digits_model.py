"""Schedules on a diffusion model trained here, on the digits data: LAS, the heuristics, the
baselines users would pick and scorelab's own.

Trains the default digits model (`scorelab train --data digits`, ≤ 15 min on 2 CPU cores) if the
checkpoint is missing. Every loss-curve schedule is built from the loss curve *recorded during
training* (stored in the checkpoint): LAS (the paper's), entropic time, info-las, gauss-step and
``optimize`` (what ``scorelab schedule optimize`` picks for the sampler: the rule of
``scorelab.schedules.recommend``, from the curve alone); Align Your Steps (``ays-opt``) is
optimised with the model on 128 training images (4 sweeps of 8 candidates: a reduced search).
Samplers: DDPM-posterior (the frozen-x0 chain LAS is exact for, `las.md` §2), DPM-Solver++(2M)
and ``accel_sde``, at NFE 5, 10, 20 (NFE − 1 intervals plus the final denoise to σ = 0), with
the same σ range for every grid (the range the loss curve covers, and a coarser σ_min) and
common random numbers. Quality: classifier-feature Fréchet distance to the training split
(floor: the held-out test split) with its bootstrap spread (20 resamples of the generated set),
and mode coverage (`scorelab.image_metrics`). Writes docs/digits/ (results.json, table, sample
grid, loss curve figure) and, with --write-readme, the table between the DIGITS-TABLE markers.

    python benchmarks/digits_model.py [--checkpoint runs/digits.safetensors] [--write-readme]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from _readme import machine, write_readme_block
from scorelab._smoke import smoke, smoke_scaled
from scorelab.data import load_dataset
from scorelab.grids import gaussian_optimized_schedule
from scorelab.image_metrics import digits_quality
from scorelab.models import TrainConfig, load_checkpoint, train
from scorelab.samplers import SAMPLERS
from scorelab.schedules import get_schedule, las_objective, las_schedule, optimize_ays
from scorelab.schedules.information import entropic_schedule, information_las_schedule
from scorelab.schedules.recommend import (
    NEEDS,
    recommended_name,
    recommended_schedule,
    sampler_kind,
    surrogate_step,
)
from scorelab.schedules.surrogate import gaussian_step_schedule

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "digits"
SCHEDULES = [
    "cosine",
    "karras",
    "log-snr",
    "uniform-t",
    "ays-opt",
    "las",
    "entropic",
    "info-las",
    "gauss-step",
    "gauss-opt",
]
SAMPLERS_RUN = ["ddpm", "dpmpp_2m", "accel_sde"]
NFES = [5] if smoke() else [5, 10, 20]  # SCORELAB_SMOKE=1: the README test's small run
BOOTSTRAP = 5 if smoke() else 20


def grid(name: str, nfe: int, curve, lo: float, hi: float, sampler: str, data) -> torch.Tensor:
    """The grid ``name`` (a :data:`SCHEDULES` column): NFE − 1 intervals from hi to lo, then the
    final denoise step to σ = 0 (NFE calls for the one-call-per-level samplers used here).
    ``data()`` gives (model, training images) for AYS."""
    steps, opts = nfe - 1, {"final_zero": True, "dtype": torch.float64}
    kind = sampler_kind(sampler, SAMPLERS[sampler].stochastic)
    if name == "las":
        return las_schedule(steps, curve, lo, hi, final_zero=True)
    if name == "entropic":
        return entropic_schedule(steps, curve, lo, hi, **opts)
    if name == "info-las":
        return information_las_schedule(steps, curve, lo, hi, **opts)
    if name == "gauss-step":
        return gaussian_step_schedule(steps, curve, lo, hi, step=surrogate_step(kind), **opts)
    if name == "gauss-opt":
        return gaussian_optimized_schedule(sampler, steps, curve, lo, hi, final_zero=True)[0]
    if name not in SCHEDULES:  # a pick of the rule that is not a column (info-las-ms)
        return recommended_schedule(
            steps, curve, lo, hi, kind=kind, samples=data, sampler_optimizer=None, **opts
        )[1]
    if name == "ays-opt":
        # a reduced search (the default 12 × 12 on 512 images is ~1 h of UNet calls per grid
        # on 2 CPU cores): 4 sweeps of 8 candidates on 128 images
        small = {"sweeps": smoke_scaled(4, 1), "candidates": smoke_scaled(8, 3)}
        return optimize_ays(*data(), steps, lo, hi, final_zero=True, **small)[0]
    return get_schedule(name, steps, lo, hi, final_zero=True, dtype=torch.float64)


def save_grid_png(samples: torch.Tensor, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    imgs = samples[:100].reshape(10, 10, 8, 8).clamp(-1, 1).numpy()
    canvas = np.ones((10 * 9 + 1, 10 * 9 + 1))
    for i in range(10):
        for j in range(10):
            canvas[1 + 9 * i : 9 * i + 9, 1 + 9 * j : 9 * j + 9] = imgs[i, j]
    fig, ax = plt.subplots(figsize=(4.2, 4.4))
    ax.imshow(canvas, cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def save_curve_png(curve, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.errorbar(curve.sigma, curve.loss_x0, yerr=curve.stderr, fmt=".", ms=3, label="recorded")
    mono = curve.monotone()
    ax.plot(mono.sigma, mono.loss_x0, "-", lw=1, label="monotone (LAS input)")
    ax.set(xscale="log", yscale="log", xlabel="σ", ylabel="x0-MSE (sum over 64 pixels)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "runs" / "digits.safetensors"))
    parser.add_argument("--samples", type=int, default=200 if smoke() else 1000)
    parser.add_argument("--ode-sampler", default="dpmpp_2m")
    parser.add_argument(
        "--coarse-sigma-min",
        type=float,
        default=0.02,
        help="second σ_min setting (the final step to 0 covers the rest)",
    )
    parser.add_argument(
        "--columns",
        nargs="+",
        choices=SCHEDULES,
        help="recompute these schedules only and keep the other rows of docs/digits/results.json",
    )
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    columns = args.columns or SCHEDULES
    ckpt = Path(args.checkpoint)
    if not ckpt.is_file():
        print(f"training the default digits model -> {ckpt}")
        cfg = TrainConfig.tiny("digits") if smoke() else TrainConfig(data="digits")
        train(cfg, ckpt, progress=True)
    model, meta = load_checkpoint(ckpt)
    curve = meta["loss_curve"].monotone()
    curve_lo, hi = max(0.002, float(curve.sigma[0])), min(80.0, float(curve.sigma[-1]))
    OUT.mkdir(parents=True, exist_ok=True)
    save_curve_png(meta["loss_curve"], OUT / "loss_curve.png")

    images = torch.as_tensor(load_dataset("digits", "train")[: smoke_scaled(128, 64)])

    def data():
        return model, images

    def pick(sampler: str, lo: float) -> str:
        """What ``scorelab schedule optimize`` picks for this sampler (model and data at hand)."""
        kind = sampler_kind(sampler, SAMPLERS[sampler].stochastic)
        return recommended_name(curve, lo, hi, kind=kind, available=set(NEEDS.values()))[0]

    kept = []
    if args.columns:
        old = json.loads((OUT / "results.json").read_text())["rows"]
        kept = [r for r in old if r["schedule"] not in columns and r["n"] == args.samples]
    rows, best = [], None
    how = machine()
    t0 = time.perf_counter()
    cached: dict = {}  # grids that do not depend on the sampler, built once
    for lo in (curve_lo, args.coarse_sigma_min):
        for nfe in NFES:
            x_init = (
                torch.randn(args.samples, 64, generator=torch.Generator().manual_seed(nfe)) * hi
            )
            for sampler in SAMPLERS_RUN:
                chosen = pick(sampler, lo)
                extra = [] if chosen in SCHEDULES else [chosen]
                for name in [*columns, *extra]:
                    own = name in ("gauss-step", "gauss-opt") or name not in SCHEDULES
                    key = (lo, nfe, name, sampler if own else None)
                    if key not in cached:
                        cached[key] = grid(name, nfe, curve, lo, hi, sampler, data)
                    sigmas64 = cached[key]
                    sigmas = sigmas64.float()
                    spec = SAMPLERS[sampler]
                    assert spec.nfe(sigmas) == nfe, (sampler, name, spec.nfe(sigmas))
                    gen = torch.Generator().manual_seed(1000 + nfe)
                    with torch.no_grad():
                        out = spec(model, x_init.clone(), sigmas, generator=gen)
                    q = digits_quality(out, bootstrap=BOOTSTRAP)
                    r = las_objective(sigmas64[:-1].numpy(), curve)
                    row = {"sigma_min": lo, "nfe": nfe, "sampler": sampler, "schedule": name}
                    row.update(R=r, optimize=chosen, **q)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    if best is None or q["fd"] < best[0]:
                        best = (q["fd"], out, f"{sampler} / {name} / NFE {nfe} / σ_min {lo:.3g}")
    elapsed = time.perf_counter() - t0
    for r in kept:  # the rule may have changed since these rows were written
        r["optimize"] = pick(r["sampler"], r["sigma_min"])
    rows = kept + rows
    save_grid_png(best[1], OUT / "samples.png", f"{best[2]} (FD {best[0]:.1f})")
    (OUT / "results.json").write_text(
        json.dumps({"checkpoint_info": meta["info"], "rows": rows}, indent=1)
    )

    header = [*SCHEDULES, "optimize"]
    lines = [
        "| σ_min | sampler | NFE | " + " | ".join(header) + " | optimize / best | LAS rank |",
        "|---|---|---|" + "---|" * (len(header) + 2),
    ]
    for lo in (curve_lo, args.coarse_sigma_min):
        for sampler in SAMPLERS_RUN:
            for nfe in NFES:
                cell = {
                    r["schedule"]: r
                    for r in rows
                    if r["sampler"] == sampler and r["nfe"] == nfe and r["sigma_min"] == lo
                }
                pick = next(iter(cell.values()))["optimize"]
                fds = {s: r["fd"] for s, r in cell.items()}
                top = min(fds, key=fds.get)
                texts = [f"**{fds[s]:.1f}**" if s == top else f"{fds[s]:.1f}" for s in SCHEDULES]
                texts.append(pick if pick in SCHEDULES else f"{pick}: {fds[pick]:.1f}")
                # a gap inside two bootstrap sds of the difference is not a loss
                gap = fds[pick] - fds[top]
                spread = 2 * np.hypot(cell[pick]["fd_sd"], cell[top]["fd_sd"])
                verdict = f"{fds[pick] / fds[top]:.2f}" + (" (tie)" if gap <= spread else "")
                rank = 1 + sum(fds[s] < fds["las"] for s in SCHEDULES)
                lines.append(
                    f"| {lo:.3g} | {sampler} | {nfe} | "
                    + " | ".join(texts)
                    + f" | {verdict} | {rank} |"
                )
    table = "\n".join(lines)
    floor = rows[0]["fd_floor"]
    sd = np.median([r["fd_sd"] for r in rows])
    info = meta["info"]
    note = (
        f"Classifier-feature FD to the training split ({args.samples} samples, lower is better; "
        f"held-out real digits score {floor:.1f}; median bootstrap sd of a cell {sd:.2f}, "
        f"'(tie)': the gap to the row's best is within 2 sd of the difference). Model: "
        f"{info['config']['steps']} steps, {info['seconds'] / 60:.1f} min training; "
        f"σ_max {hi:.4g}; sampling {elapsed:.0f} s on a {how}"
        + (
            f" for the column(s) {', '.join(columns)}; the others are an earlier run's rows kept "
            "in docs/digits/results.json."
            if args.columns
            else "."
        )
    )
    (OUT / "las_vs_heuristics.md").write_text(table + "\n\n" + note + "\n")
    print(table)
    print(note)
    if args.write_readme:
        how_run = "python benchmarks/digits_model.py --write-readme"
        if args.columns:
            how_run += f" --columns {' '.join(args.columns)}"
        write_readme_block("DIGITS-TABLE", f"{table}\n\n{note}", how_run)


if __name__ == "__main__":
    main()
