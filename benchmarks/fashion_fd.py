"""Sample quality on the Fashion-MNIST EDM model: Fréchet distance in the features of a
classifier trained on the training split only, with the held-out split's floor at the same
sample size and a bootstrap sd on every cell.

This is the metric that cannot be bought by blurring. RMSE to the converged solution
(``fashion_model.py``) rewards a final denoise from a large σ — a posterior mean is the
least-squares guess of the detail it has not resolved — and at NFE 4 and 6 the best peer's RMSE
lead there comes with a third to a half of the converged solutions' high-frequency detail. FD
sees the blur: a blurred image is off the data's law.

Cells, from ``--samples`` initial noises (seed 2000, not the RMSE benchmark's or the proxy's):

* scorelab: iPNDM on ``optimize`` (the same grid as in ``fashion_model.py``: measured on the
  model's own trajectories from 64 other noises) and, as the blurred control, iPNDM on a log-SNR
  grid whose last level before the final denoise is σ = 0.5; at NFE 20 the ``optimize`` cell
  (RMSE 0.02 to the converged solution) stands for the model's own law;
* peers as users run them: diffusers' UniPCMultistep and DEISMultistep (default timesteps of a
  1000-step linear-β table) and DPMSolverMultistep (Karras σ).

Classifier: ``scorelab/assets/fashion_classifier.safetensors`` (``make_fashion_classifier.py``;
its held-out accuracy is printed). Writes ``docs/results/fashion-fd.csv`` and
``docs/results/fashion-fd.md``.

    python benchmarks/fashion_fd.py [--samples N] [--nfe 4 6 10]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

import torch

from _readme import add_from_csv_option, rows_from_run_or_csv
from fashion_model import DEFAULT_CHECKPOINT, HI, LO, _batched, model_proxy, optimized
from scorelab.compat.diffusers import diffusers_nfe, sample_with_diffusers
from scorelab.grids import steps_within
from scorelab.image_metrics import fashion_quality, load_fashion_classifier
from scorelab.models import load_checkpoint
from scorelab.samplers import SAMPLERS, SampleStreams
from scorelab.schedules import get_schedule

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "docs" / "results" / "fashion-fd.csv"
PAGE = ROOT / "docs" / "results" / "fashion-fd.md"
NFES = (4, 6, 10)
BLUR_LAST = 0.5
PEERS = (
    ("UniPCMultistep", "default"),
    ("DEISMultistep", "default"),
    ("DPMSolverMultistep", "karras"),
)
BOOTSTRAP = 50


def run(checkpoint: Path, n: int) -> list[dict]:
    torch.set_num_threads(2)
    model, meta = load_checkpoint(checkpoint)
    curve = meta.get("loss_curve")
    curve = curve.monotone() if curve is not None else None
    shape = model.sample_shape
    z = SampleStreams(2000, n).randn(n, *shape)
    rows: list[dict] = []

    def add(side, method, grid, nfe, out):
        q = fashion_quality(out, bootstrap=BOOTSTRAP, seed=0)
        rows.append(dict(side=side, method=method, grid=grid, nfe=nfe, **q))
        print(
            f"{side} {method} {grid} NFE {nfe}: FD {q['fd']:.3f} ± {q['fd_sd']:.3f} "
            f"(floor {q['fd_floor']:.3f}), coverage {q['coverage']:.2f}",
            flush=True,
        )

    proxy = model_proxy(model, LO, HI)  # as in fashion_model.py: the same optimize grids
    for nfe in (*NFES, 20):
        grids = {"optimize": optimized(proxy, curve, "ipndm", nfe, LO, HI)[0]}
        if nfe != 20:
            k, _ = steps_within("ipndm", nfe)
            grids[f"log-snr to {BLUR_LAST}"] = get_schedule(
                "log-snr", k, BLUR_LAST, HI, final_zero=True
            )
        for name, grid in grids.items():
            out = _batched(lambda b, g=grid: SAMPLERS["ipndm"](model, b, g.float()), z * HI, 128)
            add("scorelab", "ipndm", name, SAMPLERS["ipndm"].nfe(grid), out)
    for name, sigma_option in PEERS:
        for nfe in NFES:
            steps = max(s for s in range(1, nfe + 1) if diffusers_nfe(name, s) <= nfe)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = _batched(
                    lambda b, st=steps, nm=name, so=sigma_option: sample_with_diffusers(
                        nm, so, model, tuple(b.shape), st, latents=b
                    ),
                    z,
                    128,
                )
            add("diffusers", name, sigma_option, diffusers_nfe(name, steps), out)
    return rows


def summary(rows: list[dict]) -> str:
    for r in rows:
        for key in ("fd", "fd_sd", "fd_floor", "coverage", "class_tv"):
            r[key] = float(r[key])
        r["nfe"], r["n"] = int(r["nfe"]), int(r["n"])
    lines = [
        "| NFE | side | sampler (grid) | FD ± sd | FD / floor | coverage | class TV |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["nfe"], r["side"] != "scorelab", r["fd"])):
        lines.append(
            f"| {r['nfe']} | {r['side']} | {r['method']} ({r['grid']}) | "
            f"{r['fd']:.3f} ± {r['fd_sd']:.3f} | {r['fd'] / r['fd_floor']:.1f} | "
            f"{r['coverage']:.2f} | {r['class_tv']:.3f} |"
        )
    lines += [
        "",
        "| NFE | best scorelab | FD ± sd | best peer | FD ± sd | ratio | separated (> 2 sd) |",
        "|---|---|---|---|---|---|---|",
    ]
    for nfe in NFES:
        mine = [r for r in rows if r["side"] == "scorelab" and r["nfe"] == nfe]
        peer = [r for r in rows if r["side"] != "scorelab" and r["nfe"] == nfe]
        if not mine or not peer:
            continue
        a, b = min(mine, key=lambda r: r["fd"]), min(peer, key=lambda r: r["fd"])
        gap = abs(a["fd"] - b["fd"]) > 2 * math.hypot(a["fd_sd"], b["fd_sd"])
        lines.append(
            f"| {nfe} | ipndm ({a['grid']}) | {a['fd']:.3f} ± {a['fd_sd']:.3f} | "
            f"{b['method']} ({b['grid']}) | {b['fd']:.3f} ± {b['fd_sd']:.3f} | "
            f"{a['fd'] / b['fd']:.2f} | {'yes' if gap else 'no (tie)'} |"
        )
    return "\n".join(lines)


def main() -> None:
    global NFES
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    ap.add_argument("--samples", type=int, default=4000)
    ap.add_argument("--nfe", type=int, nargs="+", default=list(NFES), help="budgets to run")
    add_from_csv_option(ap)
    args = ap.parse_args()
    NFES = tuple(args.nfe)
    t0 = time.perf_counter()
    _, stats = load_fashion_classifier()
    rows, facts = rows_from_run_or_csv(
        args.from_csv, CSV, lambda: run(args.checkpoint, args.samples)
    )
    table = summary(rows)
    print(table)
    n = int(rows[0]["n"])
    PAGE.write_text(
        "# Fashion-MNIST model: Fréchet distance in classifier features\n\n"
        f"`python benchmarks/fashion_fd.py`; {facts}; {n} samples per cell, bootstrap sd over "
        f"{BOOTSTRAP} resamples; classifier held-out accuracy {stats['accuracy']:.1%} "
        f"(`benchmarks/make_fashion_classifier.py`); floor = the FD of {n} held-out images "
        f"= {float(rows[0]['fd_floor']):.3f}.\n\n{table}\n"
    )
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
