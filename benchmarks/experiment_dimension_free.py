"""Run `scorelab experiment dimension-free` (fast mode by default) and write its summary table
and figure to docs/experiments/ and README.md (between the EXP-DIMFREE markers).

    python benchmarks/experiment_dimension_free.py [--full] [--db FILE]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _readme import write_readme_block
from scorelab.experiments import (
    DimensionFreeConfig,
    run_dimension_free,
    summarize,
    summary_rows,
)
from scorelab.experiments import write_experiment as write
from scorelab.experiments.figures import dimension_free_figure

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--db", default="experiments.duckdb")
    parser.add_argument(
        "--rows", help="re-summarise the rows of an earlier run (its JSON) instead of running"
    )
    args = parser.parse_args()
    cfg = DimensionFreeConfig() if args.full else DimensionFreeConfig.fast()
    t0 = time.perf_counter()
    if args.rows:
        rows = json.loads(Path(args.rows).read_text())["rows"]
    else:
        rows = run_dimension_free(cfg)
    summary = summarize(rows)
    out = ROOT / "docs" / "experiments"
    write("dimension-free", rows, summary, args.db, str(out))
    dimension_free_figure(rows, out / "dimension-free.png")
    elapsed = time.perf_counter() - t0
    lines = ["| geometry | fit | value |", "|---|---|---|"]
    lines += [f"| {g} | {k} | {v} |" for g, k, v in summary_rows(summary)]
    star = ["| geometry | H | " + " | ".join(f"d={d}" for d in cfg.dims) + " |"]
    star.append("|---|---|" + "---|" * len(cfg.dims))
    for geometry in cfg.geometries:
        for h in cfg.entropies:
            ks = {
                r["dim"]: r["steps_to_target"]
                for r in rows
                if r["geometry"] == geometry
                and r["steps_to_target"] is not None
                and abs(r["entropy"] - h) < 1e-6
            }
            star.append(
                f"| {geometry} | {h:g} | " + " | ".join(str(ks[d]) for d in cfg.dims) + " |"
            )
    mode = "full" if args.full else "fast"
    run = f"rows of {args.rows} re-summarised" if args.rows else f"{elapsed:.0f} s"
    table = (
        "\n".join(lines)
        + f"\n\nSteps K for D ≤ {cfg.d_target} nats on the log-SNR-uniform grid:\n\n"
        + "\n".join(star)
    )
    print(table)
    write_readme_block(
        "EXP-DIMFREE",
        table,
        f"python benchmarks/experiment_dimension_free.py; {mode} mode, {run}",
    )


if __name__ == "__main__":
    main()
