"""Deterministic samplers on the shipped Fashion-MNIST model, scored without a sampling floor.

Metric: the per-pixel RMSE (pixels in [−1, 1]) of each output to the same model's converged
probability-flow solution from the same initial noise — DPM-Solver++(3M) on 256 log-SNR-uniform
levels, then the final denoise; its change when the level count is halved is printed and must
stay below 1 % of the smallest RMSE reported. ``--samples`` initial noises (default 100; seed
1000, not the proxy's), a bootstrap sd over them on every cell.

Columns: scorelab's DPM-Solver++(2M), UniPC (bh2) and iPNDM on σ ∈ [0.002, 80] with the grids
``optimize`` (measured on the model's own trajectories from 64 *other* noises — its one-time
cost in model evaluations is reported), EDM ρ = 7 (``karras``), log-SNR, kl-optimal (= cosine)
beta(0.6, 0.6) and ``gits`` (a teacher-trajectory DP in the style of GITS on the same 64 noises:
``TrajectoryProxy.gits_grid``); the peers as users run them on this model: k-diffusion's
``dpmpp_2m`` and
``lms`` on its Karras grid, diffusers' DPMSolverMultistep (Karras σ), UniPC (bh2; and order 3),
DEIS, Euler and Heun on a 1000-step linear-β table (start σ ≈ 157; their reference starts there
from the same noise and ends at the table's σ_min). NFE 4, 6, 10, 20 (``--nfe``), every call
counted.

Writes ``docs/results/fashion.csv`` and, with ``--write-readme``, the README block FASHION-RMSE:
per NFE the best scorelab cell and the best peer with their RMSE ± sd; the NFE each side needs
to reach RMSE 0.1 / 0.05 / 0.02 / 0.01 (log-log interpolation of its best-per-NFE envelope);
and per scorelab sampler at NFE ≤ 10 whether ``optimize`` is best or tied (within 2 sd) among
its grids.

    python benchmarks/fashion_model.py [--checkpoint PATH] [--samples N] [--write-readme]
        [--nfe N ...] [--samplers NAME ...] [--out NAME]

``--out NAME`` writes ``docs/results/NAME.csv`` and ``NAME.md`` instead (for a run on other
budgets or samplers that must not replace the main table).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from _readme import add_from_csv_option, rows_from_run_or_csv, write_readme_block
from scorelab import processes
from scorelab.effort import effort_settings
from scorelab.grids import TrajectoryProxy, optimize_grid, steps_within
from scorelab.grids import detail_ratio as detail
from scorelab.models import load_checkpoint
from scorelab.samplers import SAMPLERS, SampleStreams
from scorelab.schedules import get_schedule, log_snr_uniform

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "docs" / "results" / "fashion.csv"
DEFAULT_CHECKPOINT = ROOT / "src" / "scorelab" / "assets" / "fashion_edm.safetensors"
LO, HI = 0.002, 80.0
NFES = (4, 6, 10, 20)
SAMPLERS_RUN = ("dpmpp_2m", "unipc", "ipndm")
GRIDS = ("optimize", "gits", "karras", "log-snr", "kl-optimal", "beta")
KD_PEERS = ("dpmpp_2m", "lms")
DIFFUSERS_PEERS = (
    ("DPMSolverMultistep", "karras"),
    ("UniPCMultistep", "default"),
    ("UniPCMultistep3", "default"),
    ("DEISMultistep", "default"),
    ("Euler", "default"),
    ("Heun", "default"),
)
LEVELS = (0.1, 0.05, 0.02, 0.01)
#: last nonzero levels of the log-SNR grids in the "where the grid ends" sweep (σ units)
LAST_LEVELS = (0.02, 0.05, 0.2, 0.5)
#: the detail (high-frequency energy over the converged solutions') of cells counted as sharp
#: in the headline's first table: RMSE rewards blur, so blurred cells are set apart
DETAIL_BAND = (0.9, 1 / 0.9)


def as_detailed(row: dict) -> bool:
    """Whether a cell's detail (its outputs' high-frequency energy over the converged
    solutions') is within :data:`DETAIL_BAND`: neither blurred nor noisy."""
    return DETAIL_BAND[0] <= row["detail"] <= DETAIL_BAND[1]


REFERENCE_STEPS = 256


def model_proxy(model, lo: float, hi: float, noises: int = 64, reference_steps: int = 256):
    """``optimize``'s proxy on the model: its own trajectories from ``noises`` noises of seed 0
    (not the scored ones) against a ``reference_steps``-level DPM-Solver++(3M) solution; its law
    distance (the guard of the RMSE ranking) sized as the bench's ``full`` effort sizes it."""
    spend = effort_settings("full")
    return TrajectoryProxy(
        model,
        model.sample_shape,
        lo,
        hi,
        num_samples=noises,
        reference_steps=reference_steps,
        dtype=torch.float32,
        seed=0,
        batch_size=64,
        law_samples=spend["law_samples"],
        law_reference_steps=spend["law_reference_steps"],
    )


def optimized(proxy, curve, sampler: str, nfe: int, lo: float, hi: float):
    """The ``optimize`` grid for ``sampler`` within ``nfe`` calls (one full refinement sweep),
    and ``{"choice", "proxy_evaluations"}`` for the results row."""
    before = proxy.evaluations
    opt = optimize_grid(
        sampler,
        nfe,
        lo,
        hi,
        proxy=proxy,
        curve=curve,
        refine_sweeps=1,
        progress=lambda line: print(f"{time.strftime('%H:%M:%S')} {line}", flush=True),
    )
    return opt.sigmas, {
        "choice": opt.meta()["chosen"],
        "proxy_evaluations": proxy.evaluations - before,
    }


def _batched(fn, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
    return torch.cat([fn(x[i : i + batch]) for i in range(0, len(x), batch)])


def reference(model, x: torch.Tensor, hi: float, lo: float, steps: int) -> torch.Tensor:
    grid = log_snr_uniform(steps, lo, hi, final_zero=True)
    return _batched(lambda b: SAMPLERS["dpmpp_3m"](model, b, grid.float()), x)


def rmse(out: torch.Tensor, ref: torch.Tensor, rng: np.random.Generator) -> tuple[float, float]:
    """Per-pixel RMSE over all samples, and its bootstrap sd over the samples."""
    per = (out.double() - ref.double()).reshape(len(out), -1).square().mean(1).numpy()
    boots = [math.sqrt(per[rng.integers(0, len(per), len(per))].mean()) for _ in range(200)]
    return math.sqrt(per.mean()), float(np.std(boots))


def run(checkpoint: Path, n: int) -> list[dict]:
    torch.set_num_threads(2)
    model, meta = load_checkpoint(checkpoint)
    curve = meta.get("loss_curve")
    curve = curve.monotone() if curve is not None else None
    shape = model.sample_shape
    z = SampleStreams(1000, n).randn(n, *shape)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    ref = reference(model, z * HI, HI, LO, REFERENCE_STEPS)
    half = reference(model, z * HI, HI, LO, REFERENCE_STEPS // 2)
    ref_change = rmse(half, ref, rng)[0]
    print(f"reference: {time.perf_counter() - t0:.0f} s, change on halving {ref_change:.2e}")
    rows: list[dict] = []

    def add(side, method, grid, nfe, out, reference_out, **extra):
        value, sd = rmse(out, reference_out, rng)
        sharp = detail(out, reference_out)
        rows.append(
            dict(
                side=side,
                method=method,
                grid=grid,
                nfe=nfe,
                rmse=value,
                sd=sd,
                detail=sharp,
                ref_change=ref_change,
                choice=extra.get("choice", ""),
                proxy_evaluations=extra.get("proxy_evaluations", ""),
            )
        )
        print(
            f"{side} {method} {grid} NFE {nfe}: {value:.4f} ± {sd:.4f}, detail {sharp:.2f}",
            flush=True,
        )

    proxy = model_proxy(model, LO, HI)
    for sampler in SAMPLERS_RUN:
        for nfe in NFES:
            k, _ = steps_within(sampler, nfe)
            for name in GRIDS:
                extra = {}
                if name == "optimize":
                    grid, extra = optimized(proxy, curve, sampler, nfe, LO, HI)
                elif name == "gits":  # the teacher-trajectory DP baseline, same proxy noises
                    grid = proxy.gits_grid(k)
                else:
                    grid = get_schedule(name, k, LO, HI, final_zero=True)
                calls = SAMPLERS[sampler].nfe(grid)
                out = _batched(
                    lambda b, g=grid, s=sampler: SAMPLERS[s](model, b, g.float()), z * HI
                )
                add("scorelab", sampler, name, calls, out, ref, **extra)
    print(f"optimize proxy: {proxy.evaluations} model evaluations in all (reference included)")
    # where the grid ends: a later last level spends the last model call better at low NFE,
    # and past some point buys RMSE by blurring (the detail column shows which)
    for sampler in SAMPLERS_RUN:
        for nfe in NFES[:3]:
            k, _ = steps_within(sampler, nfe)
            for last in LAST_LEVELS:
                grid = get_schedule("log-snr", k, last, HI, final_zero=True)
                out = _batched(
                    lambda b, g=grid, s=sampler: SAMPLERS[s](model, b, g.float()), z * HI
                )
                add(
                    "scorelab", sampler, f"log-snr to {last}", SAMPLERS[sampler].nfe(grid), out, ref
                )
    _peers(model, z, ref, rows, add)
    return rows


def _peers(model, z, ref, rows, add) -> None:
    from scorelab.compat.diffusers import diffusers_nfe, sample_with_diffusers
    from scorelab.compat.k_diffusion import load_sampling

    kd = load_sampling()
    for name in KD_PEERS:
        for nfe in NFES:
            sigmas = kd.get_sigmas_karras(nfe, LO, HI, rho=7.0).double()
            fn = getattr(kd, f"sample_{name}")
            out = _batched(lambda b, s=sigmas, f=fn: f(model, b, s.float(), disable=True), z * HI)
            add("k-diffusion", name, "karras", nfe, out, ref)
    table = processes.ddpm_sigmas(processes.ddpm_betas("linear", 1000))
    top, bottom = float(table[-1]), float(table[0])
    ref_peer = reference(model, z * top, top, bottom, REFERENCE_STEPS)
    for name, sigma_option in DIFFUSERS_PEERS:
        for nfe in NFES:
            steps = max(s for s in range(1, nfe + 1) if diffusers_nfe(name, s) <= nfe)
            out = _batched(
                lambda b, st=steps, nm=name, so=sigma_option: sample_with_diffusers(
                    nm, so, model, tuple(b.shape), st, latents=b
                ),
                z,
            )
            add("diffusers", name, sigma_option, diffusers_nfe(name, steps), out, ref_peer)


def _nfe_to_reach(points: list[tuple[int, float]], level: float) -> float:
    """The NFE at which the best-per-NFE envelope first reaches ``level`` (log-log
    interpolation between the measured budgets); inf if it never does."""
    points = sorted(points)
    for (n0, e0), (n1, e1) in zip([(None, math.inf), *points], points, strict=False):
        if e1 <= level:
            if n0 is None or not math.isfinite(e0):
                return float(n1)
            t = (math.log(e0) - math.log(level)) / (math.log(e0) - math.log(e1))
            return math.exp(math.log(n0) + t * (math.log(n1) - math.log(n0)))
    return math.inf


#: what the tables below measure, on the results page
EXPLAIN = (
    "RMSE to the converged solution is floor-free but rewards blur: a final denoise from a "
    "large σ returns a posterior mean, the least-squares guess of the detail it has not "
    "resolved. The `detail` column (high-frequency energy of the outputs — the mean square of "
    "their 3×3 Laplacian — over the converged solutions') shows which cells bought their RMSE "
    "that way; the first table keeps only cells within 10 % of the converged detail. "
    "diffusers' default (linspace) timesteps put their last model call at σ ≈ 0.96, 0.58, "
    "0.34, 0.18 for 4, 6, 10, 20 steps and jump from there to the end. Sample quality, which "
    "blur does not fool, is in "
    "[fashion-fd.md](fashion-fd.md)."
)


def _headline(rows: list[dict], keep, nfes=None) -> list[str]:
    """Per NFE (of ``nfes``, default :data:`NFES`) the best scorelab cell and the best peer
    among ``rows`` passing ``keep``, then the NFE each side's best-per-NFE envelope needs for
    each RMSE level."""
    lines = [
        "| NFE | best scorelab (sampler, grid) | RMSE ± sd | detail | best peer | RMSE ± sd "
        "| detail | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    envelopes: dict[str, list[tuple[int, float]]] = {"scorelab": [], "peer": []}
    for nfe in nfes or NFES:
        mine = [r for r in rows if r["side"] == "scorelab" and r["nfe"] <= nfe and keep(r)]
        peer = [r for r in rows if r["side"] != "scorelab" and r["nfe"] <= nfe and keep(r)]
        cells = []
        for key, side in (("scorelab", mine), ("peer", peer)):
            if not side:
                cells.append("none | – | –")
                continue
            best = min(side, key=lambda r: r["rmse"])
            envelopes[key].append((nfe, best["rmse"]))
            who = (
                f"{best['method']}, {best['grid']}"
                if key == "scorelab"
                else (f"{best['side']} {best['method']} ({best['grid']})")
            )
            cells.append(f"{who} | {best['rmse']:.4f} ± {best['sd']:.4f} | {best['detail']:.2f}")
        ratio = (
            f"{min(r['rmse'] for r in mine) / min(r['rmse'] for r in peer):.2f}"
            if mine and peer
            else "–"
        )
        lines.append(f"| {nfe} | {cells[0]} | {cells[1]} | {ratio} |")
    reach = [
        (
            level,
            _nfe_to_reach(envelopes["scorelab"], level),
            _nfe_to_reach(envelopes["peer"], level),
        )
        for level in LEVELS
    ]
    if all(math.isinf(m) and math.isinf(p) for _, m, p in reach):
        return lines  # no budget run reaches any level: the table would be all inf
    lines += ["", "| RMSE level | NFE scorelab | NFE best peer | ratio |", "|---|---|---|---|"]
    for level, m, p in reach:
        ratio = f"{m / p:.2f}" if math.isfinite(m) and math.isfinite(p) else "–"
        lines.append(f"| {level} | {m:.1f} | {p:.1f} | {ratio} |")
    return lines


def headlines(rows: list[dict], nfes) -> list[str]:
    """The headline twice: among cells within the detail band, then among all cells."""
    return [
        f"Cells whose outputs have {DETAIL_BAND[0]:.0%}–{DETAIL_BAND[1]:.0%} of the converged "
        "solutions' "
        "detail (high-frequency energy, the `detail` column: 1 = as sharp, below = blurred, "
        "above = noisy):",
        "",
        *_headline(rows, as_detailed, nfes),
        "",
        "All cells, blurred ones included (RMSE alone rewards blur):",
        "",
        *_headline(rows, lambda r: True, nfes),
    ]


def optimize_table(rows: list[dict], samplers, nfes) -> list[str]:
    """Per sampler at NFE ≤ 10: is ``optimize`` best or tied (2 sd) among its grids, and its
    worst ratio to the best other grid (the "where the grid ends" cells left out)."""
    lines = [
        "",
        "| sampler | NFE ≤ 10: optimize best or tied (2 sd) | worst × best other grid |",
        "|---|---|---|",
    ]
    for sampler in samplers:
        ok, worst = 0, 0.0
        cells = [n for n in nfes if n <= 10]
        for nfe in cells:
            row = {
                r["grid"]: r
                for r in rows
                if r["side"] == "scorelab"
                and r["method"] == sampler
                and r["nfe"] == nfe
                and not r["grid"].startswith("log-snr to")
            }
            if "optimize" not in row:
                continue
            o = row.pop("optimize")
            best = min(row.values(), key=lambda r: r["rmse"])
            ok += o["rmse"] <= best["rmse"] + 2 * math.hypot(o["sd"], best["sd"])
            worst = max(worst, o["rmse"] / best["rmse"])
        lines.append(f"| {sampler} | {ok}/{len(cells)} | {worst:.2f} |")
    return lines


def summary(rows: list[dict]) -> str:
    for r in rows:
        r["nfe"], r["rmse"], r["sd"] = int(r["nfe"]), float(r["rmse"]), float(r["sd"])
        r["detail"] = float(r.get("detail") or "nan")
    lines = headlines(rows, NFES)
    lines += [
        "",
        "Where the grid ends: log-SNR grids whose last level before the final denoise is σ_last "
        "(RMSE, detail):",
        "",
        "| sampler | NFE | " + " | ".join(f"σ_last {v}" for v in (LO, *LAST_LEVELS)) + " |",
        "|---|---|" + "---|" * (1 + len(LAST_LEVELS)),
    ]
    for sampler in SAMPLERS_RUN:
        for nfe in NFES:
            cells = []
            for last in (LO, *LAST_LEVELS):
                name = "log-snr" if last == LO else f"log-snr to {last}"
                hit = [
                    r
                    for r in rows
                    if r["side"] == "scorelab"
                    and r["method"] == sampler
                    and r["grid"] == name
                    and r["nfe"] == nfe
                ]
                cells.append(f"{hit[0]['rmse']:.4f}, {hit[0]['detail']:.2f}" if hit else "–")
            if cells.count("–") < len(cells) - 1:
                lines.append(f"| {sampler} | {nfe} | " + " | ".join(cells) + " |")
    lines += optimize_table(rows, SAMPLERS_RUN, NFES)
    return "\n".join(lines)


def main() -> None:
    global NFES, SAMPLERS_RUN, CSV
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--nfe", type=int, nargs="+", default=list(NFES), help="budgets to run")
    ap.add_argument("--samplers", nargs="+", choices=sorted(SAMPLERS), default=list(SAMPLERS_RUN))
    ap.add_argument("--out", default="fashion", help="results name under docs/results/")
    ap.add_argument("--write-readme", action="store_true")
    add_from_csv_option(ap)
    args = ap.parse_args()
    NFES, SAMPLERS_RUN = tuple(args.nfe), tuple(args.samplers)
    CSV = ROOT / "docs" / "results" / f"{args.out}.csv"
    rows, facts = rows_from_run_or_csv(
        args.from_csv, CSV, lambda: run(args.checkpoint, args.samples)
    )
    table = summary(rows)
    print(table)
    ref_change = max(float(r["ref_change"]) for r in rows)
    smallest = min(float(r["rmse"]) for r in rows)
    print(
        f"reference change on halving {ref_change:.2e} = {ref_change / smallest:.1%} of the "
        "smallest RMSE"
    )
    command = "python benchmarks/fashion_model.py" + (
        f" --nfe {' '.join(map(str, NFES))} --samplers {' '.join(SAMPLERS_RUN)} --out {args.out}"
        if args.out != "fashion"
        else ""
    )
    CSV.with_suffix(".md").write_text(
        "# Fashion-MNIST model: RMSE to the converged solution\n\n"
        f"`{command}`; {facts}; {args.samples} noises; reference "
        f"change on halving {ref_change:.1e} ({ref_change / smallest:.1%} of the smallest "
        f"RMSE).\n\n{EXPLAIN}\n\n{table}\n"
    )
    if args.write_readme:
        block = "\n".join(_headline(rows, as_detailed))
        write_readme_block("FASHION-RMSE", block, f"python benchmarks/fashion_model.py; {facts}")


if __name__ == "__main__":
    main()
