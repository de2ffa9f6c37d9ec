"""Queries to reach an accuracy, NFE*(ε), on exact targets with no Monte-Carlo floor.

For every method (scorelab sampler × schedule, k-diffusion's deterministic samplers on their
own schedules and, on the Gaussians, diffusers' deterministic unclipped schedulers on their own
grids) the exact output KL at σ_min is computed on a ladder of grid sizes, the NFE of each
run is counted by a :class:`~scorelab.oracles.CountingOracle`, and NFE*(ε) is read off the ladder
by :func:`scorelab.metrics.queries_to_reach`. Targets: centred Gaussians in d = 16 and d = 256
(coefficient tracking) and two 1-D atom laws (density propagation / quadrature). Grids run
σ_max = 80 → σ_min = 0.002 with no final denoise, for every method alike. scorelab's schedules:
EDM ρ = 7, log-SNR, info-las and, on the Gaussians (data continuous at σ_min, where
``schedule optimize`` picks it), ``gauss-opt`` built for each sampler from the exact mmse curve
(ladder up to 24 steps: its coordinate search grows with K).

Writes ``docs/bench-queries-exact.csv`` and, with ``--write-readme``, the README block
QUERIES-EXACT: per target and ε, the best scorelab method, the best peer, and the ratio
scorelab-best NFE* / best-peer NFE* (< 1: scorelab needs fewer queries).

    python benchmarks/queries_exact.py [--write-readme] [--schedules NAME ...] [--samplers NAME ...]

``--schedules`` recomputes those scorelab schedules only and keeps the CSV's other rows;
``--diffusers`` computes the diffusers rows only and keeps the others; ``--samplers NAME ...``
recomputes those scorelab samplers only and keeps the others.

diffusers' schedulers run their own σ range (the linear-β table, σ ≈ 157 → 0 with the final
step), as shipped, from the exact law (KL_init excluded for them too: their start is N(0, I) in
VP coordinates, whose σ_T ≈ 157 makes the prior mismatch < 1e-4 nats here); their output is
compared with the data law N(0, Σ). Their exact law is :attr:`scorelab.methods.Method.
gaussian_law` (identity latents through diffusers' own code).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from _readme import add_from_csv_option, rows_from_run_or_csv, write_readme_block
from scorelab.compat.diffusers import sample_with_diffusers
from scorelab.compat.k_diffusion import k_diffusion_sampler
from scorelab.exact import (
    LINEAR_OPTIONS,
    _gaussian_kl,
    exact_output_1d,
    gaussian_output_kl,
    mmse_1d,
)
from scorelab.grids import gaussian_optimized_schedule
from scorelab.methods import Plan, get_method
from scorelab.metrics import queries_to_reach
from scorelab.oracles import CountingOracle
from scorelab.samplers import SAMPLERS
from scorelab.schedules import information_las_schedule, karras, log_snr_uniform
from scorelab.targets import Discrete, Gaussian
from scorelab.theory import InformationCurve

LO, HI = 0.002, 80.0
ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "docs" / "bench-queries-exact.csv"
STEPS = (3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64)
EPS = (0.1, 0.03, 0.01, 0.003)
OURS = ("ddpm", "dpmpp_2m", "dpmpp_3m", "unipc", "heun", "ipndm", "ipndm_v", "deis", "accel_sde")
OUR_SCHEDULES = ("karras", "log-snr", "info-las", "gauss-opt")
#: the largest step count gauss-opt is built for (Gaussian targets only)
GAUSS_OPT_MAX_STEPS = 24
#: k-diffusion's deterministic samplers (their noise bypasses scorelab's exact tracking, so the
#: stochastic ones cannot be scored exactly) on its two standard grids
PEERS = ("euler", "heun", "dpm_2", "lms", "dpmpp_2m")
PEER_SCHEDULES = ("karras", "log-snr")
#: diffusers' schedulers that are linear on a Gaussian (DDIM and DDPM clip x0: not exact)
DIFFUSERS_PEERS = (
    "DPMSolverMultistep",
    "UniPCMultistep",
    "UniPCMultistepBH1",
    "UniPCMultistep3",
    "DEISMultistep",
    "Euler",
    "Heun",
)
DIFFUSERS_SCHEDULES = ("default", "karras", "exponential")


def targets() -> dict:
    return {
        "gaussian-16": Gaussian(np.zeros(16), np.linspace(0.25, 2.0, 16)),
        "gaussian-256": Gaussian(np.zeros(256), np.geomspace(0.01, 4.0, 256)),
        "atoms4-unequal": Discrete(np.array([[-1.0], [0.2], [0.5], [1.5]]), [0.1, 0.4, 0.3, 0.2]),
        "atoms5-clusters": Discrete(np.array([[-1.0], [-0.9], [1.0], [1.05], [1.1]])),
    }


def curve_of(target) -> InformationCurve:
    sig = np.geomspace(HI, LO, 801)
    values = target.mmse(sig) if isinstance(target, Gaussian) else mmse_1d(target, sig)
    return InformationCurve.from_sigmas(sig, values)


def grid(schedule: str, steps: int, curve: InformationCurve, sampler: str = "") -> torch.Tensor:
    if schedule == "gauss-opt":
        return gaussian_optimized_schedule(sampler, steps, curve, LO, HI)[0]
    if schedule == "karras":
        return karras(steps, LO, HI)
    if schedule == "log-snr":
        return log_snr_uniform(steps, LO, HI)
    return information_las_schedule(steps, curve, LO, HI)


def counted_nfe(fn, target, sigmas: torch.Tensor, **options) -> int:
    oracle = CountingOracle(target)
    fn(oracle, torch.zeros(1, target.dim, dtype=torch.float64), sigmas, **options)
    return oracle.batch_calls


def error(fn_or_name, target, sigmas, **options) -> float:
    if isinstance(target, Gaussian):
        return gaussian_output_kl(fn_or_name, target, sigmas, **options)
    return exact_output_1d(fn_or_name, target, sigmas, **options).kl_continuous


def methods():
    for name in OURS:
        opts = LINEAR_OPTIONS.get(name, {})
        for sched in OUR_SCHEDULES:
            yield f"scorelab:{name}", sched, SAMPLERS[name], SAMPLERS[name].fn, opts
    for name in PEERS:
        fn = k_diffusion_sampler(name)
        for sched in PEER_SCHEDULES:
            yield f"k-diffusion:{name}", sched, fn, fn, {}


def diffusers_rows() -> list[dict]:
    """The diffusers peers on the Gaussian targets: exact KL(N(0, Σ) ‖ output), NFE counted."""
    rows = []
    for tname, target in targets().items():
        if not isinstance(target, Gaussian):
            continue
        for name in DIFFUSERS_PEERS:
            method = get_method(f"diffusers:{name}")
            for sched in DIFFUSERS_SCHEDULES:
                for steps in STEPS:
                    cov = method.gaussian_law(target, Plan(steps, steps, None, sched)).numpy()
                    oracle = CountingOracle(target)
                    sample_with_diffusers(name, sched, oracle, (1, target.dim), steps)
                    rows.append(
                        dict(
                            target=tname,
                            method=method.key,
                            schedule=sched,
                            steps=steps,
                            nfe=oracle.batch_calls,
                            kl=_gaussian_kl(target.covariance, 0.5 * (cov + cov.T)),
                        )
                    )
        print(f"{tname} diffusers done", flush=True)
    return rows


def run(
    schedules: tuple[str, ...] | None = None,
    diffusers_only: bool = False,
    samplers: tuple[str, ...] | None = None,
) -> list[dict]:
    """Every row; or, with ``schedules`` / ``diffusers_only`` / ``samplers`` (scorelab's), those
    rows recomputed and the CSV's others kept."""
    if diffusers_only:
        return _merge(diffusers_rows(), lambda r: not r["method"].startswith("diffusers:"))
    rows = []
    for tname, target in targets().items():
        gaussian = isinstance(target, Gaussian)
        curve = curve_of(target)
        for method, sched, handle, fn, opts in methods():
            if tname.startswith("atoms") and method == "scorelab:accel_sde":
                continue  # stochastic with memory: only Monte Carlo in 1-D, not floor-free
            if schedules is not None and (method.startswith("k-diff") or sched not in schedules):
                continue
            if samplers is not None and method.removeprefix("scorelab:") not in samplers:
                continue
            if sched == "gauss-opt" and not gaussian:
                continue  # resolved data: the rule does not pick it
            for steps in STEPS:
                if sched == "gauss-opt" and steps > GAUSS_OPT_MAX_STEPS:
                    continue
                sig = grid(sched, steps, curve, method.split(":")[1])
                rows.append(
                    dict(
                        target=tname,
                        method=method,
                        schedule=sched,
                        steps=steps,
                        nfe=counted_nfe(fn, target, sig, **opts),
                        kl=error(handle, target, sig, **opts),
                    )
                )
        print(f"{tname} done", flush=True)
    if samplers is not None:
        return _merge(rows, lambda r: r["method"].removeprefix("scorelab:") not in samplers)
    if schedules is None:
        return rows + diffusers_rows()
    return _merge(
        rows, lambda r: not r["method"].startswith("scorelab:") or r["schedule"] not in schedules
    )


def _merge(rows: list[dict], keep) -> list[dict]:
    """The CSV's rows that ``keep`` accepts, then ``rows``."""
    import csv

    with CSV.open() as fh:
        return [r for r in csv.DictReader(fh) if keep(r)] + rows


def nfe_star(rows: list[dict]) -> tuple[dict, dict]:
    """(target, method, schedule) -> {ε: NFE*}, and -> the ladder's smallest NFE (an NFE* equal
    to it is only an upper bound: the ladder does not go lower)."""
    out: dict = {}
    first: dict = {}
    keys = {(r["target"], r["method"], r["schedule"]) for r in rows}
    for key in sorted(keys):
        ladder = [r for r in rows if (r["target"], r["method"], r["schedule"]) == key]
        nfe = [int(r["nfe"]) for r in ladder]
        kl = [float(r["kl"]) for r in ladder]
        out[key] = {eps: queries_to_reach(nfe, kl, eps) for eps in EPS}
        first[key] = min(nfe)
    return out, first


def table(stars: dict, first: dict) -> str:
    lines = [
        "| target | ε (nats) | best scorelab: NFE* | best peer: NFE* | scorelab / peer |",
        "|---|---|---|---|---|",
    ]
    for tname in targets():
        for eps in EPS:
            mine = {k: v[eps] for k, v in stars.items() if k[0] == tname and "scorelab" in k[1]}
            peer = {k: v[eps] for k, v in stars.items() if k[0] == tname and "scorelab" not in k[1]}
            km, kp = min(mine, key=mine.get), min(peer, key=peer.get)
            vm, vp = mine[km], peer[kp]

            def cell(k, v):
                name = f"{k[1].removeprefix('scorelab:')} / {k[2]}"
                if not np.isfinite(v):
                    return f"none reaches ε (≤ {STEPS[-1]} steps)"
                return f"{name}: {'≤ ' if v <= first[k] else ''}{v:.1f}"

            ratio = vm / vp if np.isfinite(vm) and np.isfinite(vp) else float("nan")
            shown = f"**{ratio:.2f}**" if ratio < 0.95 else f"{ratio:.2f}"
            if vm <= first[km] and not vp <= first[kp]:
                shown = f"≤ {shown}"  # ours at its ladder's first point: a bound
            if not np.isfinite(vp) and np.isfinite(vm):
                shown = "peers never reach ε"
            lines.append(f"| {tname} | {eps:g} | {cell(km, vm)} | {cell(kp, vp)} | {shown} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write-readme", action="store_true")
    ap.add_argument("--schedules", nargs="+", choices=OUR_SCHEDULES, help="rerun these only")
    ap.add_argument("--diffusers", action="store_true", help="compute the diffusers rows only")
    ap.add_argument(
        "--samplers", nargs="+", choices=OURS, help="rerun these scorelab samplers only"
    )
    add_from_csv_option(ap)
    args = ap.parse_args()
    torch.set_num_threads(1)
    only = tuple(args.schedules) if args.schedules else None
    samplers = tuple(args.samplers) if args.samplers else None
    rows, facts = rows_from_run_or_csv(
        args.from_csv, CSV, lambda: run(only, args.diffusers, samplers)
    )
    if only:
        facts += f"; rerun: scorelab {', '.join(only)} only, the other rows kept from the CSV"
    if samplers:
        facts += f"; --samplers {' '.join(samplers)}: those rows only, the others kept from the CSV"
    if args.diffusers:
        facts += "; --diffusers: the diffusers rows only, the other rows kept from the CSV"
    text = table(*nfe_star(rows))
    print(text)
    if args.write_readme:
        write_readme_block(
            "QUERIES-EXACT",
            text,
            f"python benchmarks/queries_exact.py --write-readme; {facts}",
        )


if __name__ == "__main__":
    main()
