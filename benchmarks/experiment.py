"""Run `scorelab experiment NAME` (fast mode by default) and write its summary table and figure
to docs/experiments/ and README.md (between the EXP-NAME markers).

    python benchmarks/experiment.py NAME [--full] [--db FILE] [--set FIELD=JSON ...] [--part]
                                         [--rows JSON|JSONL ...]

Every finished row is also appended to FILE.NAME.rows.jsonl, so an interrupted run keeps what it
finished: ``--rows FILE.NAME.rows.jsonl`` re-summarises it (the README marker says so).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _readme import machine, write_readme_block
from scorelab.experiments import EXPERIMENTS, get_experiment, record

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(EXPERIMENTS))
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--db", default="experiments.duckdb")
    parser.add_argument(
        "--rows",
        nargs="+",
        help="re-summarise the rows of earlier runs (their JSON, or the JSONL an interrupted or "
        "partial run kept) instead of running; a row whose key (the experiment's row_key) an "
        "earlier file already holds is dropped",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="override a config field (JSON value, e.g. dims=[1024]) for a partial run",
    )
    parser.add_argument(
        "--part",
        action="store_true",
        help="a partial run: keep its rows (JSONL) only; docs/ and README are not touched",
    )
    args = parser.parse_args()
    exp = get_experiment(args.name)
    cfg = exp.config() if args.full else exp.config.fast()
    for item in args.set:
        field, _, value = item.partition("=")
        if not hasattr(cfg, field):
            raise SystemExit(f"{exp.config.__name__} has no field {field!r}")
        value = json.loads(value)
        setattr(cfg, field, tuple(value) if isinstance(value, list) else value)
    t0, where = time.perf_counter(), machine()
    if args.rows:
        rows, seen = [], set()
        for name in args.rows:
            text = Path(name).read_text()
            if name.endswith(".jsonl"):  # the rows an interrupted or partial run kept
                found = [json.loads(line) for line in text.splitlines() if line.strip()]
            else:
                found = json.loads(text)["rows"]
            for row in found:
                key = exp.row_key(row) if exp.row_key else id(row)
                if key not in seen:
                    seen.add(key)
                    rows.append(row)
    else:
        kept = Path(f"{args.db}.{args.name}.rows.jsonl")
        kept.write_text("")
        print(f"rows are kept as they finish in {kept} (re-summarise with --rows)", flush=True)

        def on_row(row: dict) -> None:
            with kept.open("a") as f:
                f.write(json.dumps(row, default=float) + "\n")
            print(exp.label(row), flush=True)

        rows = exp.run(cfg, on_row)
        if args.part:
            print(f"{len(rows)} rows in {kept}, {time.perf_counter() - t0:.0f} s")
            return
    summary, _ = record(exp, rows, args.db, str(ROOT / "docs" / "experiments"))
    elapsed = time.perf_counter() - t0
    lines = ["| case | quantity | value |", "|---|---|---|"]
    lines += [f"| {c} | {k} | {v} |" for c, k, v in exp.summary_rows(summary)]
    table = "\n".join(lines)
    if exp.extra_table:
        table += "\n\n" + exp.extra_table(rows)
    print(table)
    mode = "full" if args.full else "fast"
    run = (
        f"rows of {' '.join(args.rows)} re-summarised"
        if args.rows
        else f"{elapsed:.0f} s on a {where}"
    )
    write_readme_block(
        "EXP-" + args.name.upper(),
        table,
        f"python benchmarks/experiment.py {args.name}{' --full' if args.full else ''}; "
        f"{mode} mode, {run}",
    )


if __name__ == "__main__":
    main()
