"""Run `scorelab experiment NAME` (fast mode by default) and write its summary table and figure
to docs/experiments/ and README.md (between the EXP-NAME markers).

    python benchmarks/experiment.py NAME [--full] [--db FILE] [--rows JSON|JSONL]

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
        help="re-summarise the rows of an earlier run (its JSON, or the JSONL an interrupted "
        "run kept) instead of running",
    )
    args = parser.parse_args()
    exp = get_experiment(args.name)
    cfg = exp.config() if args.full else exp.config.fast()
    t0, where = time.perf_counter(), machine()
    if args.rows:
        text = Path(args.rows).read_text()
        if args.rows.endswith(".jsonl"):  # the rows an interrupted run kept
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            rows = json.loads(text)["rows"]
    else:
        kept = Path(f"{args.db}.{args.name}.rows.jsonl")
        kept.write_text("")
        print(f"rows are kept as they finish in {kept} (re-summarise with --rows)", flush=True)

        def on_row(row: dict) -> None:
            with kept.open("a") as f:
                f.write(json.dumps(row, default=float) + "\n")
            print(exp.label(row), flush=True)

        rows = exp.run(cfg, on_row)
    summary, _ = record(exp, rows, args.db, str(ROOT / "docs" / "experiments"))
    elapsed = time.perf_counter() - t0
    lines = ["| case | quantity | value |", "|---|---|---|"]
    lines += [f"| {c} | {k} | {v} |" for c, k, v in exp.summary_rows(summary)]
    table = "\n".join(lines)
    if exp.extra_table:
        table += "\n\n" + exp.extra_table(rows)
    print(table)
    mode = "full" if args.full else "fast"
    run = f"rows of {args.rows} re-summarised" if args.rows else f"{elapsed:.0f} s on a {where}"
    write_readme_block(
        "EXP-" + args.name.upper(),
        table,
        f"python benchmarks/experiment.py {args.name}{' --full' if args.full else ''}; "
        f"{mode} mode, {run}",
    )


if __name__ == "__main__":
    main()
