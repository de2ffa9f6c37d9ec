"""The Fashion-MNIST flow-matching model: scorelab against diffusers' flow schedulers, scored
without a sampling floor, and the shift question flow users ask.

Metric (as ``fashion_model.py``): per-pixel RMSE (pixels in [−1, 1]) of each output to the same
model's converged probability-flow solution from the same initial noise — DPM-Solver++(3M) on
``REFERENCE_STEPS`` log-SNR-uniform levels over σ ∈ [0.002, 1e4] (flow time 0.002 … 0.9999),
then the final denoise; its change on halving the level count is printed. ``--samples`` noises
(seed 1000), bootstrap sd on every cell.

scorelab: Euler, DPM-Solver++(2M), UniPC (bh2) and iPNDM through the flow model's σ-space
denoiser on the grids ``optimize`` (measured on the model's own trajectories from 32 *other*
noises; flow users' grids are among its standard candidates), ``flow-t`` and ``flow-t3``
(uniform flow time with shift 1 and 3, what FlowMatch schedulers run), kl-optimal, beta(0.6,
0.6) on flow time, EDM ρ = 7 and log-SNR. Peers, as flow users run them, each through diffusers'
own ``step`` from pure noise at t = 1: ``FlowMatchEulerDiscreteScheduler`` (shift 1, shift 3,
dynamic μ = 0.49 — Flux's rule for 196 latent tokens), ``FlowMatchHeunDiscreteScheduler`` (shift
1, 3), ``UniPCMultistep`` (bh2, flow sigmas, shift 1, 3) and ``DPMSolverMultistep`` (2M, flow
sigmas, shift 3). Every model call counted. (The reference starts at t = 0.9999 from 0.9999·z,
the peers at t = 1 from z: the two starts differ by 1e-4 of the noise.)

Writes ``docs/results/fashion-flow.csv`` and ``docs/results/fashion-flow.md``: per NFE the best
scorelab cell and best peer; the NFE each side needs for RMSE 0.1 / 0.05 / 0.02 / 0.01; and the
shift table — at NFE 4 / 8 / 16, FlowMatchEuler with each shift against scorelab's Euler on
flow-t, flow-t3 and ``optimize``.

    python benchmarks/fashion_flow.py [--checkpoint PATH] [--samples N] [--nfe 4 8 16]

Sized to finish in about 10 minutes on 2 idle cores: 64 scored noises by default, a 32-noise
proxy with a 192-level reference (the EDM model's benchmark uses 100 and 64/256).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from _readme import add_from_csv_option, rows_from_run_or_csv
from fashion_model import (
    _batched,
    detail,
    headlines,
    model_proxy,
    optimize_table,
    optimized,
    reference,
    rmse,
)
from scorelab.grids import steps_within
from scorelab.models import load_checkpoint
from scorelab.samplers import SAMPLERS, SampleStreams
from scorelab.schedules import get_schedule

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "docs" / "results" / "fashion-flow.csv"
PAGE = ROOT / "docs" / "results" / "fashion-flow.md"
DEFAULT_CHECKPOINT = ROOT / "src" / "scorelab" / "assets" / "fashion_flow.safetensors"
LO, HI = 0.002, 1e4
NFES = (4, 8, 16)
SAMPLERS_RUN = ("euler", "dpmpp_2m", "unipc", "ipndm")
GRIDS = ("optimize", "flow-t", "flow-t3", "kl-optimal", "beta", "karras", "log-snr")
MU = 0.49  # Flux's calculate_shift for 196 tokens: 0.5 + (1.15 − 0.5)/(4096 − 256)·(196 − 256)
REFERENCE_STEPS = 384
#: the optimize proxy's noises (seed 0, not the scored noises' 1000) and reference levels
PROXY_NOISES, PROXY_REFERENCE_STEPS = 32, 192


def _peers():
    """(name, factory, set_timesteps extra kwargs) of the diffusers flow schedulers."""
    import diffusers as d

    def unipc(shift):
        return d.UniPCMultistepScheduler(
            use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift=shift
        )

    return [
        ("FlowMatchEuler shift 1", lambda: d.FlowMatchEulerDiscreteScheduler(shift=1.0), {}),
        ("FlowMatchEuler shift 3", lambda: d.FlowMatchEulerDiscreteScheduler(shift=3.0), {}),
        (
            f"FlowMatchEuler dynamic μ={MU}",
            lambda: d.FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True),
            {"mu": MU},
        ),
        ("FlowMatchHeun shift 1", lambda: d.FlowMatchHeunDiscreteScheduler(shift=1.0), {}),
        ("FlowMatchHeun shift 3", lambda: d.FlowMatchHeunDiscreteScheduler(shift=3.0), {}),
        ("UniPC flow shift 1", lambda: unipc(1.0), {}),
        ("UniPC flow shift 3", lambda: unipc(3.0), {}),
        (
            "DPMSolverMultistep flow shift 3",
            lambda: d.DPMSolverMultistepScheduler(
                use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift=3.0
            ),
            {},
        ),
    ]


def _run_peer(model, factory, extra: dict, steps: int, z: torch.Tensor) -> tuple[torch.Tensor, int]:
    """One diffusers flow scheduler from x_1 = z; returns the samples and model calls per sample."""
    sched = factory()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched.set_timesteps(steps, **extra)
    x = z.clone()
    calls = 0
    with torch.no_grad():
        for t in sched.timesteps:
            v = model.velocity(x, float(t) / 1000.0)
            calls += 1
            x = sched.step(v, t, x).prev_sample
    return x, calls


def _peer_steps(model, factory, extra, nfe: int, z_probe: torch.Tensor) -> int | None:
    """The largest step count whose model calls stay within ``nfe``."""
    best = None
    for steps in range(1, nfe + 1):
        if _run_peer(model, factory, extra, steps, z_probe[:1])[1] <= nfe:
            best = steps
    return best


def run(checkpoint: Path, n: int) -> list[dict]:
    torch.set_num_threads(2)
    model, meta = load_checkpoint(checkpoint)
    if meta["parametrisation"] != "velocity":
        raise SystemExit(f"{checkpoint} is not a flow-matching model")
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

    def add(side, method, grid, nfe, out, **extra):
        value, sd = rmse(out, ref, rng)
        sharp = detail(out, ref)
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

    proxy = model_proxy(model, LO, HI, PROXY_NOISES, PROXY_REFERENCE_STEPS)
    for sampler in SAMPLERS_RUN:
        for nfe in NFES:
            k, _ = steps_within(sampler, nfe)
            for name in GRIDS:
                extra = {}
                if name == "optimize":
                    grid, extra = optimized(proxy, curve, sampler, nfe, LO, HI)
                else:  # flow models' beta runs on flow time (ComfyUI's beta on a flow model)
                    options = {"time": "flow"} if name == "beta" else {}
                    grid = get_schedule(name, k, LO, HI, final_zero=True, **options)
                calls = SAMPLERS[sampler].nfe(grid)
                out = _batched(
                    lambda b, g=grid, s=sampler: SAMPLERS[s](model, b, g.float()), z * HI
                )
                add("scorelab", sampler, name, calls, out, **extra)
    print(f"optimize proxy: {proxy.evaluations} model evaluations in all (reference included)")
    for name, factory, extra in _peers():
        for nfe in NFES:
            steps = _peer_steps(model, factory, extra, nfe, z)
            if steps is None:
                continue
            out_calls = [_run_peer(model, factory, extra, steps, b) for b in z.split(64)]
            out = torch.cat([o for o, _ in out_calls])
            add("diffusers", name, f"{steps} steps", out_calls[0][1], out)
    return rows


def summary(rows: list[dict]) -> str:
    for r in rows:
        r["nfe"], r["rmse"], r["sd"] = int(r["nfe"]), float(r["rmse"]), float(r["sd"])
        r["detail"] = float(r.get("detail") or "nan")
    nfes = sorted({r["nfe"] for r in rows if r["side"] == "scorelab"} | set(NFES))
    nfes = [n for n in NFES if n in nfes]
    lines = headlines(rows, nfes)
    lines += [
        "",
        "Which shift? Euler-type sampling at a budget: diffusers' FlowMatchEuler with each shift, "
        "and scorelab's Euler on uniform flow time (shift 1, 3) and on `optimize` (RMSE ± sd, "
        "detail):",
        "",
        "| NFE | FlowMatchEuler shift 1 | shift 3 | dynamic μ | scorelab flow-t | flow-t3 | "
        "optimize (its pick) |",
        "|---|---|---|---|---|---|---|",
    ]
    for nfe in nfes:

        def cell(side, method, grid=None, nfe=nfe):
            hit = [
                r
                for r in rows
                if r["side"] == side
                and r["method"] == method
                and r["nfe"] == nfe
                and (grid is None or r["grid"] == grid)
            ]
            if not hit:
                return "–"
            return f"{hit[0]['rmse']:.4f} ± {hit[0]['sd']:.4f} ({hit[0]['detail']:.2f})"

        opt = [
            r
            for r in rows
            if r["side"] == "scorelab"
            and r["method"] == "euler"
            and r["grid"] == "optimize"
            and r["nfe"] == nfe
        ]
        pick = f" ({opt[0].get('choice', '')})" if opt else ""
        lines.append(
            f"| {nfe} | {cell('diffusers', 'FlowMatchEuler shift 1')} | "
            f"{cell('diffusers', 'FlowMatchEuler shift 3')} | "
            f"{cell('diffusers', f'FlowMatchEuler dynamic μ={MU}')} | "
            f"{cell('scorelab', 'euler', 'flow-t')} | {cell('scorelab', 'euler', 'flow-t3')} | "
            f"{cell('scorelab', 'euler', 'optimize')}{pick} |"
        )
    lines += optimize_table(rows, SAMPLERS_RUN, nfes)
    return "\n".join(lines)


def main() -> None:
    global NFES
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--nfe", type=int, nargs="+", default=list(NFES), help="budgets to run")
    add_from_csv_option(ap)
    args = ap.parse_args()
    NFES = tuple(args.nfe)
    rows, facts = rows_from_run_or_csv(
        args.from_csv, CSV, lambda: run(args.checkpoint, args.samples)
    )
    table = summary(rows)
    print(table)
    ref_change = max(float(r["ref_change"]) for r in rows)
    smallest = min(float(r["rmse"]) for r in rows)
    PAGE.write_text(
        "# Fashion-MNIST flow-matching model: RMSE to the converged solution\n\n"
        f"`python benchmarks/fashion_flow.py`; {facts}; {args.samples} noises; reference change "
        f"on halving {ref_change:.1e} ({ref_change / smallest:.1%} of the smallest RMSE). "
        "Sample quality, which blur does not fool, is in "
        "[fashion-flow-fd.md](fashion-flow-fd.md).\n\n"
        f"{table}\n"
    )


if __name__ == "__main__":
    main()
