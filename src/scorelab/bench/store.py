"""Results store: one row per finished cell in an embedded DuckDB database.

Each row is inserted and committed as soon as its cell finishes, so an interrupted sweep loses at
most the cells that were running; a rerun skips every cell whose key is already stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

__all__ = ["COLUMNS", "ResultStore"]

#: column name -> DuckDB type
COLUMNS = {
    "cell_key": "VARCHAR PRIMARY KEY",
    "suite": "VARCHAR",
    "target": "VARCHAR",
    "method": "VARCHAR",
    "is_peer": "BOOLEAN",
    "schedule": "VARCHAR",
    "nfe_budget": "INTEGER",
    "steps": "INTEGER",
    "seed": "INTEGER",
    "score_error": "DOUBLE",
    "samples": "INTEGER",
    "nfe": "DOUBLE",
    "distinct_levels": "INTEGER",
    "metric": "VARCHAR",
    "error": "DOUBLE",
    "floor": "DOUBLE",
    "sw2": "DOUBLE",
    "exact_d": "DOUBLE",
    "wall_time": "DOUBLE",
    "config": "VARCHAR",
    "versions": "VARCHAR",
    "created_at": "TIMESTAMP DEFAULT current_timestamp",
}


class ResultStore:
    """A DuckDB file of benchmark rows (created on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path))
        except duckdb.Error as err:
            first = str(err).strip().splitlines()[0]
            if "lock" in str(err).lower():
                raise ValueError(
                    f"{self.path} is in use by another process (a running bench?); wait for it "
                    "or use another --db file"
                ) from None
            raise ValueError(
                f"{self.path} is not a readable DuckDB results file ({first})"
            ) from None
        cols = ", ".join(f"{k} {v}" for k, v in COLUMNS.items())
        self.con.execute(f"CREATE TABLE IF NOT EXISTS results ({cols})")
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS failures (cell_key VARCHAR PRIMARY KEY, suite VARCHAR, "
            "target VARCHAR, method VARCHAR, config VARCHAR, message VARCHAR, "
            "created_at TIMESTAMP DEFAULT current_timestamp)"
        )

    def finished_keys(self, *, include_failed: bool = True) -> set[str]:
        """Keys of the stored cells; failed cells count as finished unless
        ``include_failed=False`` (a rerun retries them only when asked)."""
        keys = {row[0] for row in self.con.execute("SELECT cell_key FROM results").fetchall()}
        if include_failed:
            keys |= {row[0] for row in self.con.execute("SELECT cell_key FROM failures").fetchall()}
        return keys

    def insert_failure(self, row: dict) -> None:
        """Record a cell that raised: its key, config and one-line error message."""
        self.con.execute(
            "INSERT OR REPLACE INTO failures (cell_key, suite, target, method, config, message) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                row["cell_key"],
                row.get("suite"),
                row.get("target"),
                row.get("method"),
                json.dumps(row.get("config", {}), sort_keys=True),
                row["failure"],
            ],
        )

    def failures(self) -> list[dict]:
        cur = self.con.execute(
            "SELECT cell_key, target, method, message FROM failures ORDER BY cell_key"
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def clear_failures(self) -> int:
        """Forget the failed cells (so that the next run retries them); returns how many."""
        (n,) = self.con.execute("SELECT count(*) FROM failures").fetchone()
        self.con.execute("DELETE FROM failures")
        return int(n)

    def insert(self, row: dict) -> None:
        names = [k for k in COLUMNS if k in row]
        values = [
            json.dumps(row[k], sort_keys=True) if isinstance(row[k], dict) else row[k]
            for k in names
        ]
        placeholders = ", ".join("?" for _ in names)
        self.con.execute(
            f"INSERT OR REPLACE INTO results ({', '.join(names)}) VALUES ({placeholders})", values
        )

    def query(self, sql: str, params: list | None = None):
        return self.con.execute(sql, params or []).fetchall()

    def dataframe_rows(self) -> list[dict]:
        cur = self.con.execute("SELECT * FROM results ORDER BY target, nfe_budget, method")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
