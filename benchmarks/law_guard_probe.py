"""The probe behind ``optimize``'s law guard: on the Fashion-MNIST EDM model, every candidate
grid ``optimize`` measures for an ODE sampler (the standard grids, each also ending at 10, 25
and 100 × σ_min before the final denoise) with four numbers:

* ``rmse``: the trajectory proxy's error (128 noises of seed 0, against DPM-Solver++(3M) on 256
  log-SNR-uniform levels), what ``optimize`` ranks by;
* ``detail``: the proxy outputs' high-frequency energy over the converged solutions';
* ``law``: the Fréchet distance in pixel coordinates between 1000 outputs (seed 2000) and the
  model's own law (2000 other starts, seed 7, DPM-Solver++(3M) on 64 log-SNR-uniform levels);
* ``fd``: the classifier-feature FD of the same 1000 outputs (floor 1.35 at that size).

Then what each rule would choose: the detail band (the previous rule), the lowest RMSE, the
lowest law distance, and the law guard (:data:`scorelab.grids.LAW_SLACK`). Writes
``docs/results/law-guard-probe.csv`` and prints a table. About 4 min per (sampler, NFE) on two
cores at load 3–4, plus 3 min for the law reference.

    python benchmarks/law_guard_probe.py --runs unipc:4 unipc:5 unipc:6 unipc:10 ipndm:4
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import torch

from _readme import write_rows
from fashion_model import DEFAULT_CHECKPOINT, HI, LO
from scorelab.grids import (
    DENOISE_POINTS,
    LAW_SLACK,
    STANDARD,
    TrajectoryProxy,
    candidate_grids,
    steps_within,
)
from scorelab.image_metrics import fashion_quality, frechet_distance
from scorelab.models import load_checkpoint
from scorelab.samplers import SAMPLERS, SampleStreams
from scorelab.schedules import log_snr_uniform

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "docs" / "results" / "law-guard-probe.csv"
SAMPLES, LAW_REFERENCE = 1000, 2000
#: the band the previous rule kept a later denoise point in
DETAIL_BAND = (0.9, 1 / 0.9)


def frechet(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance of Gaussian fits in pixel coordinates (the proxy's law distance)."""
    return frechet_distance(*(x.double().reshape(len(x), -1) for x in (a, b)))


def batched(sampler: str, model, x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat(
            [SAMPLERS[sampler](model, x[i : i + 250].clone(), grid) for i in range(0, len(x), 250)]
        )


def measure(model, law_ref: torch.Tensor, sampler: str, nfe: int) -> list[dict]:
    steps, _ = steps_within(sampler, nfe)
    proxy = TrajectoryProxy(
        model, model.sample_shape, LO, HI, num_samples=128, reference_steps=256,
        dtype=torch.float32, batch_size=256,
    )  # fmt: skip
    grids = candidate_grids(steps, LO, HI, names=STANDARD)
    for factor in DENOISE_POINTS:
        for name, grid in candidate_grids(steps, LO * factor, HI, names=STANDARD).items():
            grids[f"{name} to {LO * factor:.3g}"] = grid
    z = SampleStreams(2000, SAMPLES).randn(SAMPLES, *model.sample_shape) * HI
    rows = []
    for name, grid in grids.items():
        errors, detail = proxy.measure(sampler, proxy.prepare(sampler, grid))
        out = batched(sampler, model, z, grid.float())
        row = {
            "sampler": sampler,
            "nfe": nfe,
            "grid": name,
            "rmse": float(math.sqrt((errors**2).mean())),
            "detail": detail,
            "law": frechet(out, law_ref),
            "fd": fashion_quality(out)["fd"],
        }
        print(
            " ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
            ),
            flush=True,
        )
        rows.append(row)
    return rows


def choices(rows: list[dict]) -> dict[str, str]:
    """What each rule picks among one (sampler, NFE)'s rows (the law guard on every candidate's
    law distance: ``optimize`` measures fewer, with the same result where the leaders pass)."""
    by = {r["grid"]: r for r in rows}
    plain = min((g for g in by if g in STANDARD), key=lambda g: by[g]["rmse"])

    def keeps(g: str) -> bool:
        d, ref = by[g]["detail"], by[plain]["detail"]
        return (
            " to " not in g
            or DETAIL_BAND[0] <= d <= DETAIL_BAND[1]
            or (abs(math.log(d)) <= abs(math.log(ref)))
        )

    bar = LAW_SLACK * min(r["law"] for r in rows)
    return {
        "detail band": min(filter(keeps, by), key=lambda g: by[g]["rmse"]),
        "lowest RMSE": min(by, key=lambda g: by[g]["rmse"]),
        "lowest law": min(by, key=lambda g: by[g]["law"]),
        "law guard": min((g for g in by if by[g]["law"] <= bar), key=lambda g: by[g]["rmse"]),
    }


def summary(rows: list[dict]) -> list[str]:
    lines = [
        "| sampler | NFE | best plain grid (FD) | FD-best candidate | detail band | law guard |",
        "|---|---|---|---|---|---|",
    ]
    for key in dict.fromkeys((r["sampler"], int(r["nfe"])) for r in rows):
        part = [r for r in rows if (r["sampler"], int(r["nfe"])) == key]
        by = {r["grid"]: r for r in part}
        best_plain = min((g for g in by if g in STANDARD), key=lambda g: by[g]["fd"])
        best = min(by, key=lambda g: by[g]["fd"])
        picked = choices(part)

        cells = [
            f"{g} {by[g]['fd']:.1f}"
            for g in (best_plain, best, picked["detail band"], picked["law guard"])
        ]
        lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--runs", nargs="+", default=["unipc:4", "unipc:5", "unipc:6", "unipc:10", "ipndm:4"]
    )
    ap.add_argument("--from-csv", action="store_true", help="summarise the committed CSV")
    args = ap.parse_args()
    if args.from_csv:
        with CSV.open() as f:
            rows = [
                {**r, **{k: float(r[k]) for k in ("rmse", "detail", "law", "fd")}}
                for r in csv.DictReader(f)
            ]
    else:
        torch.set_num_threads(1)
        model, _ = load_checkpoint(DEFAULT_CHECKPOINT)
        starts = SampleStreams(7, LAW_REFERENCE).randn(LAW_REFERENCE, *model.sample_shape) * HI
        law_ref = batched(
            "dpmpp_3m", model, starts, log_snr_uniform(64, LO, HI, final_zero=True).float()
        )
        rows = []
        for run in args.runs:
            sampler, nfe = run.split(":")
            rows += measure(model, law_ref, sampler, int(nfe))
        write_rows(CSV, rows)
    print("\n".join(summary(rows)))


if __name__ == "__main__":
    main()
