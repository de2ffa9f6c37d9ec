"""Run ``scorelab bench --suite quick``, write its report to docs/bench-quick/ and its
best-per-NFE table into README.md.

Run:  python benchmarks/bench_quick.py [--db FILE] [--workers N]

The table between the BENCH-TABLE markers in README.md is replaced by what this run measured.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _readme import write_readme_block
from scorelab.bench import ResultStore, best_per_nfe, load_suite, run_suite
from scorelab.bench.report import write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="bench-quick.duckdb")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    suite = load_suite("quick")
    t0 = time.perf_counter()
    with ResultStore(args.db) as store:
        run_suite(suite, store, workers=args.workers)
        best = best_per_nfe(store)
        write_report(store, Path(__file__).resolve().parents[1] / "docs" / "bench-quick")
    elapsed = time.perf_counter() - t0
    lines = [
        "| target | NFE | metric | scorelab best (sampler / schedule) | error | best peer "
        "(library:sampler / schedule) | error | ratio | floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in best:
        lines.append(
            f"| {e['target']} | {e['nfe']} | {e['metric']} | {e.get('scorelab', '-')} | "
            f"{e.get('scorelab_error', float('nan')):.4g} | {e.get('peer', '-')} | "
            f"{e.get('peer_error', float('nan')):.4g} | {e.get('ratio', float('nan')):.2f} | "
            f"{e['floor']:.3g} |"
        )
    table = "\n".join(lines)
    print(table)
    print(f"{len(suite.cells)} cells, {elapsed:.0f} s with {args.workers} workers")
    write_readme_block(
        "BENCH-TABLE",
        table,
        f"python benchmarks/bench_quick.py; {len(suite.cells)} cells, "
        f"{elapsed:.0f} s on this machine",
    )


if __name__ == "__main__":
    main()
