"""LAS vs heuristic schedules on a diffusion model trained here, on the digits data.

Trains the default digits model (`scorelab train --data digits`, ≤ 15 min on 2 CPU cores) if the
checkpoint is missing, builds the Loss-Adaptive Schedule from the loss curve *recorded during
training* (stored in the checkpoint), and samples with the DDPM-posterior sampler (the frozen-x0
chain LAS is exact for, `las.md` §2) and an ODE sampler (DPM-Solver++(2M) by default) on LAS and
on EDM ρ=7 (karras), log-SNR uniform, cosine and uniform-t grids at NFE 5, 10, 20, 50, with the
same σ range for every grid (the range the loss curve covers) and common random numbers. Quality:
classifier-feature Fréchet distance to the training split (floor: the held-out test split) and
mode coverage (`scorelab.image_metrics`). Writes docs/digits/ (results.json, table, sample grid,
loss curve figure) and, with --write-readme, the table between the DIGITS-TABLE markers.

    python benchmarks/digits_model.py [--checkpoint runs/digits.safetensors] [--write-readme]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from _readme import write_readme_block
from scorelab._smoke import smoke
from scorelab.image_metrics import digits_quality
from scorelab.models import TrainConfig, load_checkpoint, train
from scorelab.samplers import SAMPLERS
from scorelab.schedules import get_schedule, las_objective, las_schedule

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "digits"
SCHEDULES = ["las", "karras", "log-snr", "cosine", "uniform-t"]
NFES = [5] if smoke() else [5, 10, 20, 50]  # SCORELAB_SMOKE=1: the README test's small run


def grid(name: str, nfe: int, curve, lo: float, hi: float) -> torch.Tensor:
    """NFE − 1 intervals from hi to lo, then the final denoise step to σ = 0 (NFE calls for the
    one-call-per-step samplers used here)."""
    if name == "las":
        return las_schedule(nfe - 1, curve, lo, hi, final_zero=True)
    return get_schedule(name, nfe - 1, lo, hi, final_zero=True, dtype=torch.float64)


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
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
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

    rows, best = [], None
    t0 = time.perf_counter()
    for lo in (curve_lo, args.coarse_sigma_min):
        for nfe in NFES:
            x_init = (
                torch.randn(args.samples, 64, generator=torch.Generator().manual_seed(nfe)) * hi
            )
            for sampler in ("ddpm", args.ode_sampler):
                for name in SCHEDULES:
                    sigmas64 = grid(name, nfe, curve, lo, hi)
                    sigmas = sigmas64.float()
                    spec = SAMPLERS[sampler]
                    assert spec.nfe(sigmas) == nfe, (sampler, name, spec.nfe(sigmas))
                    gen = torch.Generator().manual_seed(1000 + nfe)
                    with torch.no_grad():
                        out = spec(model, x_init.clone(), sigmas, generator=gen)
                    q = digits_quality(out)
                    r = las_objective(sigmas64[:-1].numpy(), curve)
                    row = {"sigma_min": lo, "nfe": nfe, "sampler": sampler, "schedule": name}
                    row.update(R=r, **q)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    if best is None or q["fd"] < best[0]:
                        best = (q["fd"], out, f"{sampler} / {name} / NFE {nfe} / σ_min {lo:.3g}")
    elapsed = time.perf_counter() - t0
    save_grid_png(best[1], OUT / "samples.png", f"{best[2]} (FD {best[0]:.1f})")
    (OUT / "results.json").write_text(
        json.dumps({"checkpoint_info": meta["info"], "rows": rows}, indent=1)
    )

    lines = [
        "| σ_min | sampler | NFE | " + " | ".join(SCHEDULES) + " | LAS rank |",
        "|---|---|---|" + "---|" * (len(SCHEDULES) + 1),
    ]
    for lo in (curve_lo, args.coarse_sigma_min):
        for sampler in ("ddpm", args.ode_sampler):
            for nfe in NFES:
                fds = {
                    r["schedule"]: r["fd"]
                    for r in rows
                    if r["sampler"] == sampler and r["nfe"] == nfe and r["sigma_min"] == lo
                }
                top = min(fds.values())
                cells = [
                    f"**{fds[s]:.1f}**" if fds[s] == top else f"{fds[s]:.1f}" for s in SCHEDULES
                ]
                rank = 1 + sum(v < fds["las"] for v in fds.values())
                lines.append(
                    f"| {lo:.3g} | {sampler} | {nfe} | " + " | ".join(cells) + f" | {rank} |"
                )
    table = "\n".join(lines)
    floor = rows[0]["fd_floor"]
    info = meta["info"]
    note = (
        f"Classifier-feature FD to the training split ({args.samples} samples, lower is better; "
        f"held-out real digits score {floor:.1f}). Model: {info['config']['steps']} steps, "
        f"{info['seconds'] / 60:.1f} min training; σ_max {hi:.4g}; sampling "
        f"{elapsed:.0f} s."
    )
    (OUT / "las_vs_heuristics.md").write_text(table + "\n\n" + note + "\n")
    print(table)
    print(note)
    if args.write_readme:
        write_readme_block(
            "DIGITS-TABLE", f"{table}\n\n{note}", "python benchmarks/digits_model.py --write-readme"
        )


if __name__ == "__main__":
    main()
