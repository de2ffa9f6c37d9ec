"""Wall time of a whole `scorelab bench` suite with 1 and with 2 local workers, each from an empty
results file and empty curve caches (on disk and in memory, so each run computes its own mmse
curves and reference samples), in one run.

Run:  python benchmarks/bench_workers.py [--suite quick] [--write-readme]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _readme import machine, write_readme_block
from scorelab.bench import ResultStore, load_suite, run_suite, runner


def timed_run(suite, workers: int) -> tuple[float, float, int, int]:
    """(total seconds, of which mmse curves, cells run, cells failed)."""
    for cached in (runner._curve, runner._reference, runner._target):  # nothing carried over
        cached.cache_clear()
    with tempfile.TemporaryDirectory() as tmp, ResultStore(Path(tmp) / "r.duckdb") as store:
        t0 = time.perf_counter()
        runner.prepare_curves(suite.cells)  # what run_suite does first, timed on its own
        curves = time.perf_counter() - t0
        ran = run_suite(suite, store, workers=workers)
        return time.perf_counter() - t0, curves, ran, len(store.failures())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    suite = load_suite(args.suite)
    where = machine()
    rows = []
    for workers in (1, 2):
        seconds, curves, ran, failed = timed_run(suite, workers)
        rows.append((workers, seconds, curves, ran, failed))
        print(
            f"{workers} worker(s): {seconds:.1f} s ({curves:.1f} s curves), {ran} cells", flush=True
        )
    lines = [
        "| workers | wall time [s] | of which mmse curves [s] | cells | failed |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {w} | {s:.1f} | {c:.1f} | {n} | {f} |" for w, s, c, n, f in rows]
    lines.append(f"\n2 workers / 1 worker: {rows[1][1] / rows[0][1]:.2f}")
    table = "\n".join(lines)
    print(table)
    if args.write_readme:
        write_readme_block(
            "PERF-BENCH",
            table,
            f"python benchmarks/bench_workers.py --suite {args.suite} --write-readme; {where}",
        )


if __name__ == "__main__":
    main()
