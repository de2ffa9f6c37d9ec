"""Experiment results: rows in the DuckDB results file (one table per experiment, replaced on
each run), a JSON file with the rows and the fitted summary, in an output folder."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

__all__ = ["write_experiment"]


def write_experiment(name: str, rows: list[dict], summary: dict, db: str, out: str) -> Path:
    """Write ``out/NAME.json``, ``out/NAME.rows.json`` and table ``experiment_NAME`` in ``db``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    rows_file = folder / f"{name}.rows.json"
    rows_file.write_text(json.dumps(rows))
    table = "experiment_" + name.replace("-", "_")
    con = duckdb.connect(db)
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_json_auto(?)",
            [str(rows_file)],
        )
    finally:
        con.close()
    return folder
