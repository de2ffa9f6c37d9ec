"""Results store: one row per finished cell in an embedded DuckDB database.

Each row is inserted and committed as soon as its cell finishes, so an interrupted sweep loses at
most the cells that were running; a rerun skips every cell whose key is already stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import duckdb

__all__ = ["COLUMNS", "SCHEMA_VERSION", "ResultRow", "ResultStore"]

#: version of the ``results`` schema, stored in the file's ``meta`` table. 1: files written
#: before the version was recorded; 2: versioned; 3: + ``exact_kl``. Opening an older file adds
#: the columns it lacks (empty).
SCHEMA_VERSION = 3


@dataclass(frozen=True)
class ResultRow:
    """One finished cell: the single source of the ``results`` columns (:data:`COLUMNS`)."""

    cell_key: str
    target: str
    method: str
    is_peer: bool
    schedule: str
    nfe_budget: int
    steps: int
    seed: int
    score_error: float
    samples: int
    nfe: float
    distinct_levels: int
    metric: str
    error: float
    floor: float
    sw2: float
    exact_d: float | None
    wall_time: float
    config: dict
    versions: dict
    suite: str | None = None
    #: exact KL(output ‖ data) on centred Gaussian targets with the exact score, for every
    #: method linear there (:attr:`scorelab.methods.Method.gaussian_law`)
    exact_kl: float | None = None


_SQL_TYPES = {"str": "VARCHAR", "bool": "BOOLEAN", "int": "INTEGER", "float": "DOUBLE"}


def _sql_type(annotation: str) -> str:
    base = str(annotation).replace(" | None", "")
    return _SQL_TYPES.get(base, "VARCHAR")  # dicts are stored as JSON text


#: column name -> DuckDB type, derived from :class:`ResultRow` (plus the insertion time)
COLUMNS = {
    f.name: _sql_type(f.type) + (" PRIMARY KEY" if f.name == "cell_key" else "")
    for f in fields(ResultRow)
}
COLUMNS["created_at"] = "TIMESTAMP DEFAULT current_timestamp"


def _locked_elsewhere(path: Path) -> bool:
    """Whether another process holds DuckDB's write lock on ``path`` (an fcntl lock, tested
    directly rather than read from an error message)."""
    import fcntl

    try:
        with open(path, "rb+") as fh:
            try:
                fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB, 1)
            except OSError:
                return True
            fcntl.lockf(fh, fcntl.LOCK_UN, 1)
    except OSError:
        return False
    return False


class ResultStore:
    """A DuckDB file of benchmark rows (created on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path))
            self._migrate()  # reads the file's blocks: damage shows here, not at connect
        except duckdb.Error as err:
            first = str(err).strip().splitlines()[0]
            if isinstance(err, duckdb.IOException) and _locked_elsewhere(self.path):
                raise ValueError(
                    f"{self.path} is in use by another process (a running bench?); wait for it "
                    "or use another --db file"
                ) from None
            raise ValueError(
                f"{self.path} is damaged or not a DuckDB results file ({first}); move it aside "
                "and rerun to start a new one, or use another --db file"
            ) from None
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS failures (cell_key VARCHAR PRIMARY KEY, suite VARCHAR, "
            "target VARCHAR, method VARCHAR, config VARCHAR, message VARCHAR, "
            "created_at TIMESTAMP DEFAULT current_timestamp)"
        )

    def _migrate(self) -> None:
        """Create the tables, or bring an older file to :data:`SCHEMA_VERSION` (columns it
        lacks are added, empty); a file from a newer scorelab is refused with a clear error."""
        con = self.con
        con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        found = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        tables = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        version = int(found[0]) if found else (1 if "results" in tables else SCHEMA_VERSION)
        if version > SCHEMA_VERSION:
            raise ValueError(
                f"{self.path} was written by a newer scorelab (results schema {version} > "
                f"{SCHEMA_VERSION}); upgrade scorelab or use another --db file"
            )
        if "results" not in tables:
            cols = ", ".join(f"{k} {v}" for k, v in COLUMNS.items())
            con.execute(f"CREATE TABLE results ({cols})")
        else:
            have = {
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'results'"
                ).fetchall()
            }
            for name, kind in COLUMNS.items():
                if name not in have:
                    kind = kind.replace(" PRIMARY KEY", "")
                    con.execute(f"ALTER TABLE results ADD COLUMN {name} {kind}")
        con.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
        )

    @property
    def schema_version(self) -> int:
        (value,) = self.con.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        return int(value)

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
