"""``scorelab bench``: samplers × schedules × NFE on exact targets, side by side with peers.

:func:`run_suite` runs the cells of a :class:`~scorelab.bench.config.Suite` that the
:class:`~scorelab.bench.store.ResultStore` does not hold yet and stores each row as it finishes;
:func:`best_per_nfe` summarises the store.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..methods import get_method
from .config import Cell, Suite, load_suite, peer_library_available
from .runner import CURVE_CACHE_ENV, prepare_curves, run_cell, run_cells
from .store import ResultStore

__all__ = [
    "Cell",
    "ResultStore",
    "Suite",
    "best_per_nfe",
    "load_suite",
    "missing_peers",
    "run_cell",
    "run_cells",
    "run_suite",
]


def run_suite(
    suite: Suite,
    store: ResultStore,
    *,
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    on_row: Callable[[dict], None] | None = None,
    retry_failed: bool = False,
) -> int:
    """Run the unfinished cells; returns how many ran. Each row is committed when it arrives; a
    cell that raises is stored as a failure (``store.failures()``) and the sweep goes on.
    Failed cells are retried only with ``retry_failed=True``. Cells of peers whose library is
    not installed are not run (see :func:`missing_peers`)."""
    if retry_failed:
        store.clear_failures()
    done = store.finished_keys()
    missing = set(missing_peers(suite))
    todo = [c for c in suite.cells if c.key() not in done and c.method not in missing]
    # mmse curves: computed once here, shared by the workers and kept beside the results file
    saved = os.environ.get(CURVE_CACHE_ENV)
    os.environ[CURVE_CACHE_ENV] = str(store.path.parent / ".scorelab-cache")
    try:
        prepare_curves(todo)
        for row in run_cells(todo, workers=workers, executor=executor, address=address):
            row["suite"] = suite.name
            if "failure" in row:
                store.insert_failure(row)
            else:
                store.insert(row)
            if on_row is not None:
                on_row(row)
    finally:
        if saved is None:
            os.environ.pop(CURVE_CACHE_ENV, None)
        else:
            os.environ[CURVE_CACHE_ENV] = saved
    return len(todo)


def missing_peers(suite: Suite) -> list[str]:
    """Peer methods of the suite whose library cannot be imported (reported, never dropped
    silently: the CLI prints them and their cells stay pending in the store)."""
    methods = sorted({c.method for c in suite.cells if c.is_peer})
    return [m for m in methods if not peer_library_available(m)]


def best_per_nfe(store: ResultStore, score_error: float = 0.0) -> list[dict]:
    """Per target and NFE budget: the best scorelab cell and the best peer cell (lowest error,
    averaged over seeds) and their ratio (scorelab / peer; < 1 means scorelab is better)."""
    rows = store.query(
        """
        WITH avg AS (
            SELECT target, nfe_budget, method, schedule, is_peer, any_value(metric) AS metric,
                   avg(error) AS error, avg(floor) AS floor
            FROM results WHERE score_error = ? GROUP BY ALL
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY target, nfe_budget, is_peer
                                         ORDER BY error) AS rk
            FROM avg
        )
        SELECT target, nfe_budget, is_peer, method, schedule, metric, error, floor
        FROM ranked WHERE rk = 1 ORDER BY target, nfe_budget, is_peer
        """,
        [score_error],
    )
    table: dict[tuple, dict] = {}
    for target, nfe, is_peer, method, schedule, metric, error, floor in rows:
        entry = table.setdefault(
            (target, nfe), {"target": target, "nfe": nfe, "metric": metric, "floor": floor}
        )
        side = "peer" if is_peer else "scorelab"
        label = get_method(method).name if side == "scorelab" else method
        entry[side] = f"{label} / {schedule}"
        entry[f"{side}_error"] = error
    out = []
    for entry in table.values():
        if "scorelab_error" in entry and "peer_error" in entry and entry["peer_error"] > 0:
            entry["ratio"] = entry["scorelab_error"] / entry["peer_error"]
        out.append(entry)
    return out
