"""The Fashion-MNIST headline: the model calls each side needs to reach a ladder of FD levels.

Reads the ``fashion`` suite's results (``python benchmarks/bench_quick.py --suite fashion``
writes them; every cell counted by the oracle, 1000 samples, classifier-feature FD to the
training split) and, per level ε, takes each side's fewest calls NFE*(ε): per (sampler, grid)
the first crossing of its FD ladder over NFE 4 … 20, interpolated in (log NFE, log FD)
(:func:`scorelab.metrics.queries_to_reach`), the best over scorelab's cells and over the peers'.

Two ladders:

* ε = 3 / 2 / 1.5 / 1.2 × the floor (the held-out split's FD at the same sample size);
* ε = 3 / 2 / 1.5 / 1.2 × the model's own FD, read as the lowest FD any cell of the suite
  reaches at its largest NFE. No sampler can go much below the law the model has learned; on a
  263 k-parameter model that law sits several floors above the data, so the first ladder is
  out of reach for every side (the table says so) and the second is the one that ranks samplers.

One seed per cell, no spread on a cell: the cells that decide the headline at NFE 4, 6 and 10
are re-run at 10 000 samples with a bootstrap sd by ``benchmarks/fashion_fd.py``.

    python benchmarks/fashion_headline.py [--db bench-fashion.duckdb] [--write-readme]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from _readme import write_readme_block
from scorelab.bench import ResultStore
from scorelab.metrics import fewest_queries

MULTIPLES = (3.0, 2.0, 1.5, 1.2)


def ladders(store: ResultStore) -> tuple[dict, float, int]:
    """``({(is_peer, method, schedule): [(nfe, fd), ...]}, floor, cells)`` of the fashion
    model's cells (every ``model:`` target whose path names ``fashion``); ``nfe`` is the
    oracle-counted number of calls, and budgets that count the same keep the lower FD."""
    rows = store.query(
        """SELECT method, schedule, is_peer, avg(nfe), avg(error), avg(floor)
           FROM results WHERE target LIKE 'model:%fashion%' AND error IS NOT NULL
           GROUP BY method, schedule, is_peer, nfe_budget ORDER BY 1, 2, 3, 4"""
    )
    if not rows:
        raise SystemExit("the database holds no fashion-model cells: run the fashion suite first")
    out: dict = {}
    for method, schedule, is_peer, nfe, fd, _ in rows:
        # budgets a method spends identically (Heun: two calls a step) share their counted NFE
        points = out.setdefault((bool(is_peer), method, schedule), {})
        points[nfe] = min(fd, points.get(nfe, math.inf))
    out = {key: sorted(points.items()) for key, points in out.items()}
    floor = sum(r[5] for r in rows) / len(rows)
    return out, floor, len(rows)


def best_side(found: dict, is_peer: bool, eps: float) -> tuple[float, str]:
    """The fewest calls to reach ``eps`` over one side's cells, and which cell ("-": none)."""
    side = {
        f"{method.removeprefix('scorelab:')} / {schedule}": points
        for (peer, method, schedule), points in found.items()
        if peer == is_peer
    }
    n_star, label, _ = fewest_queries(side, eps)
    return (n_star, label) if math.isfinite(n_star) else (math.inf, "-")


def model_fd(found: dict) -> tuple[float, str]:
    """The lowest FD any cell reaches at the suite's largest NFE, and which cell."""
    top = max(n for points in found.values() for n, _ in points)
    candidates = [
        (fd, f"{method.removeprefix('scorelab:')} / {schedule}")
        for (_, method, schedule), points in found.items()
        for n, fd in points
        if n == top
    ]
    return min(candidates)


def headline(found: dict, floor: float) -> str:
    reference, where = model_fd(found)
    lines = [
        "| FD level | scorelab best (sampler / grid) | NFE* | best peer | NFE* | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for label, base in (("floor", floor), ("model's FD", reference)):
        for m in MULTIPLES:
            eps = m * base
            ours, peer = best_side(found, False, eps), best_side(found, True, eps)

            def shown(n: float) -> str:
                return "never (≤ 20)" if not math.isfinite(n) else f"{n:.1f}"

            ratio = (
                f"{ours[0] / peer[0]:.2f}"
                if math.isfinite(ours[0]) and math.isfinite(peer[0])
                else "< 1 (peer never)"
                if math.isfinite(ours[0])
                else "-"
            )
            lines.append(
                f"| {eps:.2f} ({m:g} × {label}) | {ours[1]} | {shown(ours[0])} | {peer[1]} | "
                f"{shown(peer[0])} | {ratio} |"
            )
    lines.append(
        f"\nFloor (held-out images against the training split, 1000 samples): {floor:.2f}. "
        f"The model's own FD (lowest cell at the largest NFE, {where}): {reference:.2f}, "
        f"{reference / floor:.1f} × the floor."
    )
    return "\n".join(lines)


def optimize_choices(store: ResultStore) -> dict:
    """``{(method, nfe): config}`` of the fashion model's ``optimize`` cells: the grid chosen
    (``chosen_schedule``) and, for cells run since the bench records them, its proxy's cost
    (``optimize_evaluations`` model evaluations, ``optimize_seconds`` of build time)."""
    rows = store.query(
        """SELECT method, avg(nfe), any_value(config) FROM results
           WHERE target LIKE 'model:%fashion%' AND schedule = 'optimize'
           GROUP BY method, nfe_budget"""
    )
    return {(m, nfe): json.loads(config) for m, nfe, config in rows}


def optimize_rows(found: dict, choices: dict | None = None, max_nfe: float = math.inf) -> str:
    """Per scorelab sampler and NFE ≤ ``max_nfe``: ``optimize``'s FD against the best other grid
    of the same sampler, their ratio, and (from ``choices``, :func:`optimize_choices`) the grid
    it chose and what choosing it cost in model evaluations and minutes ("-" where the cell
    predates that record)."""
    choices = choices or {}
    lines = [
        "| sampler | NFE | optimize FD | its grid | best other grid | FD | ratio "
        "| proxy cost (evaluations, min) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    samplers = sorted({m for (peer, m, _) in found if not peer})
    for method in samplers:
        grids = {g: dict(p) for (peer, m, g), p in found.items() if not peer and m == method}
        if "optimize" not in grids:
            continue
        for nfe in sorted(n for n in grids["optimize"] if n <= max_nfe):
            mine = grids["optimize"][nfe]
            others = [(fds[nfe], g) for g, fds in grids.items() if g != "optimize" and nfe in fds]
            if not others:
                continue
            fd, grid = min(others)
            config = choices.get((method, nfe), {})
            evals, seconds = config.get("optimize_evaluations"), config.get("optimize_seconds")
            cost = "-" if evals is None else f"{evals:,} / {seconds / 60:.1f}"
            lines.append(
                f"| {method.removeprefix('scorelab:')} | {nfe:.0f} | {mine:.2f} | "
                f"{config.get('chosen_schedule', '-')} | {grid} | {fd:.2f} | {mine / fd:.2f} "
                f"| {cost} |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=Path("bench-fashion.duckdb"))
    ap.add_argument("--write-readme", action="store_true")
    args = ap.parse_args()
    if not args.db.is_file():
        raise SystemExit(f"no results database at {args.db}: run the fashion suite first")
    with ResultStore(str(args.db)) as store:
        found, floor, cells = ladders(store)
        choices = optimize_choices(store)
    table = (
        headline(found, floor)
        + "\n\n`optimize` against the best other grid of the same sampler (same cells; its "
        "proxy: the model's own trajectories, RMSE to the converged solution guarded by the "
        "law distance):\n\n" + optimize_rows(found, choices)
    )
    print(table)
    if args.write_readme:
        how = f"python benchmarks/fashion_headline.py --db {args.db.name}; {cells} cells"
        write_readme_block("FASHION-HEADLINE", table, how)


if __name__ == "__main__":
    main()
