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

With ``--flow``: the shipped flow-matching model (NFE 4, 8, 16), iPNDM on ``optimize`` (the flow
benchmark's proxy) and the same blurred control, against diffusers' FlowMatchEuler (shift 3,
dynamic μ), UniPC and DPM-Solver++ with flow sigmas (shift 3); writes
``docs/results/fashion-flow-fd.csv`` and ``.md``.

    python benchmarks/fashion_fd.py [--samples N] [--nfe 4 6 10] [--flow] [--optimize-only]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

import torch

from _readme import add_from_csv_option, machine, rows_from_run_or_csv, write_rows
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
FLOW_CSV = ROOT / "docs" / "results" / "fashion-flow-fd.csv"
FLOW_PAGE = ROOT / "docs" / "results" / "fashion-flow-fd.md"
NFES = (4, 6, 10)
BLUR_LAST = 0.5
PEERS = (
    ("UniPCMultistep", "default"),
    ("DEISMultistep", "default"),
    ("DPMSolverMultistep", "karras"),
)
BOOTSTRAP = 50
#: ``--optimize-only``: run the ``optimize`` cells alone and keep the CSV's other rows
OPTIMIZE_ONLY = False


def _load(checkpoint: Path, n: int):
    """``(model, its recorded loss curve made monotone, n noises of seed 2000)``."""
    torch.set_num_threads(2)
    model, meta = load_checkpoint(checkpoint)
    curve = meta.get("loss_curve")
    curve = curve.monotone() if curve is not None else None
    return model, curve, SampleStreams(2000, n).randn(n, *model.sample_shape)


def _scorelab_cells(rows, model, proxy, curve, z, lo, hi, nfes, blurred_nfes) -> None:
    """iPNDM on ``optimize`` at every budget of ``nfes`` and, at those of ``blurred_nfes``, the
    blurred control: a log-SNR grid ending at σ = ``BLUR_LAST`` (none when ``OPTIMIZE_ONLY``)."""
    if OPTIMIZE_ONLY:
        blurred_nfes = ()
    for nfe in nfes:
        grids = {"optimize": optimized(proxy, curve, "ipndm", nfe, lo, hi)[0]}
        if nfe in blurred_nfes:
            k, _ = steps_within("ipndm", nfe)
            grids[f"log-snr to {BLUR_LAST}"] = get_schedule(
                "log-snr", k, BLUR_LAST, hi, final_zero=True
            )
        for name, grid in grids.items():
            out = _batched(lambda b, g=grid: SAMPLERS["ipndm"](model, b, g.float()), z * hi, 128)
            _add(rows, "scorelab", "ipndm", name, SAMPLERS["ipndm"].nfe(grid), out)


def run(checkpoint: Path, n: int) -> list[dict]:
    model, curve, z = _load(checkpoint, n)
    rows: list[dict] = []
    proxy = model_proxy(model, LO, HI)  # as in fashion_model.py: the same optimize grids
    _scorelab_cells(rows, model, proxy, curve, z, LO, HI, (*NFES, 20), NFES)
    for name, sigma_option in () if OPTIMIZE_ONLY else PEERS:
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
            _add(rows, "diffusers", name, sigma_option, diffusers_nfe(name, steps), out)
    return rows


FLOW_PEERS = (
    "FlowMatchEuler shift 3",
    "FlowMatchEuler dynamic μ=0.49",
    "UniPC flow shift 3",
    "DPMSolverMultistep flow shift 3",
)


def run_flow(checkpoint: Path, n: int) -> list[dict]:
    """The flow model: iPNDM on ``optimize`` (the flow benchmark's proxy) and on a log-SNR grid
    ending at σ = 0.5, against diffusers' flow schedulers as flow users run them."""
    from fashion_flow import HI as FLOW_HI
    from fashion_flow import LO as FLOW_LO
    from fashion_flow import PROXY_NOISES, PROXY_REFERENCE_STEPS, _peer_steps, _peers, _run_peer

    model, curve, z = _load(checkpoint, n)
    rows: list[dict] = []
    proxy = model_proxy(model, FLOW_LO, FLOW_HI, PROXY_NOISES, PROXY_REFERENCE_STEPS)
    _scorelab_cells(rows, model, proxy, curve, z, FLOW_LO, FLOW_HI, NFES, NFES)
    for name, factory, extra in () if OPTIMIZE_ONLY else _peers():
        if name not in FLOW_PEERS:
            continue
        for nfe in NFES:
            steps = _peer_steps(model, factory, extra, nfe, z)
            runs = [_run_peer(model, factory, extra, steps, b) for b in z.split(128)]
            out = torch.cat([o for o, _ in runs])
            _add(rows, "diffusers", name, f"{steps} steps", runs[0][1], out)
    return rows


def _add(rows: list[dict], side, method, grid, nfe, out) -> None:
    q = fashion_quality(out, bootstrap=BOOTSTRAP, seed=0)
    rows.append(dict(side=side, method=method, grid=grid, nfe=nfe, **q))
    print(
        f"{side} {method} {grid} NFE {nfe}: FD {q['fd']:.3f} ± {q['fd_sd']:.3f} "
        f"(floor {q['fd_floor']:.3f}), coverage {q['coverage']:.2f}",
        flush=True,
    )


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
    for nfe in sorted({r["nfe"] for r in rows}):
        mine = [r for r in rows if r["side"] == "scorelab" and r["nfe"] == nfe]
        peer = [r for r in rows if r["side"] != "scorelab" and r["nfe"] == nfe]
        if not mine or not peer:
            continue
        a, b = min(mine, key=lambda r: r["fd"]), min(peer, key=lambda r: r["fd"])
        gap = abs(a["fd"] - b["fd"]) > 2 * math.hypot(a["fd_sd"], b["fd_sd"])
        lines.append(
            f"| {nfe} | {a['method']} ({a['grid']}) | {a['fd']:.3f} ± {a['fd_sd']:.3f} | "
            f"{b['method']} ({b['grid']}) | {b['fd']:.3f} ± {b['fd_sd']:.3f} | "
            f"{a['fd'] / b['fd']:.2f} | {'yes' if gap else 'no (tie)'} |"
        )
    return "\n".join(lines)


def merged_with_csv(path: Path, run, how: str, n: int) -> tuple[list[dict], str]:
    """``run()``'s rows (``optimize`` cells) in place of the CSV's ``optimize`` rows at the same
    NFE, its other rows kept; the CSV at ``path`` is rewritten and the run facts say which
    rows are from which run."""
    import csv

    if not path.is_file():
        raise SystemExit(f"--optimize-only keeps the other rows of {path}, which does not exist")
    with path.open() as fh:
        old = list(csv.DictReader(fh))
    sizes = {int(r["n"]) for r in old}
    if sizes != {n}:
        raise SystemExit(f"{path} holds cells of {sorted(sizes)} samples; --samples is {n}")
    t0 = time.perf_counter()
    new = run()
    rerun = sorted({int(r["nfe"]) for r in new})
    kept = [r for r in old if r["grid"] != "optimize" or int(r["nfe"]) not in rerun]
    rows = kept + new
    write_rows(path, [{key: r[key] for key in new[0]} for r in rows])
    older = sorted({int(r["nfe"]) for r in kept if r["grid"] == "optimize"})
    facts = (
        f"the optimize rows at NFE {', '.join(map(str, rerun))} rerun with --optimize-only in "
        f"{time.perf_counter() - t0:.0f} s on a {how}, the other rows from the previous full run "
        "(their code is unchanged)"
        + (
            f"; the optimize rows at NFE {', '.join(map(str, older))} are from that run"
            if older
            else ""
        )
    )
    return rows, facts


def main() -> None:
    global NFES, OPTIMIZE_ONLY
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=None)
    ap.add_argument("--samples", type=int, default=4000)
    ap.add_argument("--nfe", type=int, nargs="+", default=None, help="budgets to run")
    ap.add_argument(
        "--flow", action="store_true", help="the shipped flow model against flow schedulers"
    )
    ap.add_argument(
        "--optimize-only",
        action="store_true",
        help="rerun the optimize cells alone, keeping the CSV's other rows (after a change to "
        "optimize; the other cells do not depend on it)",
    )
    add_from_csv_option(ap)
    args = ap.parse_args()
    NFES = tuple(args.nfe or ((4, 8, 16) if args.flow else NFES))
    OPTIMIZE_ONLY = args.optimize_only
    t0 = time.perf_counter()
    _, stats = load_fashion_classifier()
    if args.flow:
        from fashion_flow import DEFAULT_CHECKPOINT as FLOW_CHECKPOINT

        csv, page, what = FLOW_CSV, FLOW_PAGE, "flow-matching model"
        job = lambda: run_flow(args.checkpoint or FLOW_CHECKPOINT, args.samples)  # noqa: E731
    else:
        csv, page, what = CSV, PAGE, "model"
        job = lambda: run(args.checkpoint or DEFAULT_CHECKPOINT, args.samples)  # noqa: E731
    if args.optimize_only:
        rows, facts = merged_with_csv(csv, job, machine(), args.samples)
    else:
        rows, facts = rows_from_run_or_csv(args.from_csv, csv, job)
    table = summary(rows)
    print(table)
    n = int(rows[0]["n"])
    page.write_text(
        f"# Fashion-MNIST {what}: Fréchet distance in classifier features\n\n"
        f"`python benchmarks/fashion_fd.py{' --flow' if args.flow else ''}"
        f"{f' --samples {args.samples}' if args.samples != 4000 else ''}`; {facts}; "
        f"{n} samples per cell, bootstrap sd over "
        f"{BOOTSTRAP} resamples; classifier held-out accuracy {stats['accuracy']:.1%} "
        f"(`benchmarks/make_fashion_classifier.py`); floor = the FD of {n} held-out images "
        f"= {float(rows[0]['fd_floor']):.3f}.\n\n{table}\n"
    )
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
