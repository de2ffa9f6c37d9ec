"""Run a `scorelab bench` suite, write its report to docs/bench-SUITE/ and its best-per-NFE table
into README.md (between the BENCH-TABLE markers for `quick`, STANDARD-TABLE for `standard`,
DIGITS-BENCH for `digits` on a trained checkpoint, FASHION-BENCH for `fashion` on the shipped
Fashion-MNIST model).

Run:  python benchmarks/bench_quick.py [--suite quick|standard|digits|fashion] [--db FILE]
          [--workers N]
          [--model CKPT] [--report-only]

`--model CKPT` runs the suite's methods on a scorelab checkpoint (`scorelab bench --model`); the
digits suite needs it (default runs/digits.safetensors, from `scorelab train --data digits`).

`--report-only` reports what the database holds without running the missing cells (the table
says how many of the suite's cells are finished).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

from _readme import machine, write_readme_block
from scorelab._smoke import smoke
from scorelab.bench import (
    ResultStore,
    best_per_nfe,
    load_suite,
    pending_cells,
    queries_per_error,
    queries_row_cells,
    run_suite,
)
from scorelab.bench.report import best_row_cells, display_name, write_report

MARKERS = {
    "quick": "BENCH-TABLE",
    "standard": "STANDARD-TABLE",
    "digits": "DIGITS-BENCH",
    "fashion": "FASHION-BENCH",
}
ROOT = Path(__file__).resolve().parents[1]
EXACT_HEADER = [
    "target",
    "NFE",
    "metric",
    "scorelab best",
    "exact KL",
    "best peer",
    "exact KL",
    "ratio",
]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def best_table(best: list[dict]) -> str:
    header = ["target", "NFE", "metric", "scorelab best (sampler / schedule)", "error"]
    header += ["best peer (library:sampler / schedule)", "error", "ratio", "floor"]
    return markdown_table(header, [best_row_cells(e) for e in best])


def queries_table(queries: list[dict]) -> str:
    header = ["target", "ε", "scorelab best (sampler / schedule)", "NFE*"]
    header += ["best peer (library:sampler / schedule)", "NFE*", "ratio"]
    rows = [[display_name(c) for c in queries_row_cells(e)] for e in queries]
    return markdown_table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="quick", choices=sorted(MARKERS))
    parser.add_argument("--db", default=None, help="default: bench-SUITE.duckdb")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default=None, help="a scorelab checkpoint to benchmark")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    suite = load_suite(args.suite)
    if args.suite == "digits" and args.model is None:
        args.model = str(ROOT / "runs" / "digits.safetensors")
    if args.model is not None:
        suite = suite.with_model(args.model)
    if smoke():  # the README test's seconds-sized run
        suite = suite.smoke()
    db = args.db or f"bench-{args.suite}.duckdb"
    t0, where = time.perf_counter(), machine()
    with ResultStore(db) as store:
        if not args.report_only:
            total, finished = len(pending_cells(suite, store)), itertools.count(1)

            def progress(row: dict) -> None:
                what = row.get("failure") or f"{row['metric']} {row['error']:.4g}"
                n = next(finished)
                print(f"{time.strftime('%H:%M:%S')} {n}/{total} {row['cell_key']} {what}")
                sys.stdout.flush()

            run_suite(suite, store, workers=args.workers, on_row=progress)
        done = len(store.finished_keys(include_failed=False) & {c.key() for c in suite.cells})
        best = best_per_nfe(store)
        queries = queries_per_error(store)
        exact_best = best_per_nfe(store, column="exact_kl")
        exact_queries = queries_per_error(store, column="exact_kl")
        write_report(store, ROOT / "docs" / f"bench-{args.suite}")
    elapsed = time.perf_counter() - t0
    table = (
        "Queries to reach an error (NFE*, fewest oracle-counted model calls; ratio = scorelab / "
        "best peer, < 1: fewer queries):\n\n"
        + queries_table(queries)
        + "\n\nError at a fixed NFE budget:\n\n"
        + best_table(best)
    )
    if exact_best:  # centred Gaussian targets: the exact output KL of every linear method
        table += (
            "\n\nFloor-free, on the exact output law (centred Gaussian targets; every method "
            "that is linear there, both sides): queries to reach ε nats, then the exact KL at "
            "a fixed NFE budget:\n\n"
            + queries_table(exact_queries)
            + "\n\n"
            + markdown_table(EXACT_HEADER, [best_row_cells(e)[:8] for e in exact_best])
        )
    print(table)
    print(f"{done} of {len(suite.cells)} cells finished")
    command = f"python benchmarks/bench_quick.py --suite {args.suite}"
    if args.model is not None and args.suite != "digits":
        command += f" --model {args.model}"
    how = f"{command}; {done}/{len(suite.cells)} cells"
    if not args.report_only:
        workers = f"{args.workers} worker" + ("s" if args.workers > 1 else "")
        how += f", {elapsed:.0f} s with {workers} on a {where}"
    write_readme_block(MARKERS[args.suite], table, how)


if __name__ == "__main__":
    main()
