"""``scorelab bench``: samplers × schedules × NFE on exact targets, side by side with peers.

:func:`run_suite` runs the cells of a :class:`~scorelab.bench.config.Suite` that the
:class:`~scorelab.bench.store.ResultStore` does not hold yet and stores each row as it finishes;
:func:`best_per_nfe` and :func:`queries_per_error` (:mod:`.summary`) summarise the store.
"""

from __future__ import annotations

from collections.abc import Callable

from .config import Cell, Suite, load_suite, peer_library_available
from .runner import prepare_curves, run_cell, run_cells
from .store import ResultStore
from .summary import best_per_nfe, queries_per_error, queries_row_cells

__all__ = [
    "Cell",
    "ResultStore",
    "Suite",
    "best_per_nfe",
    "load_suite",
    "missing_peers",
    "pending_cells",
    "queries_per_error",
    "queries_row_cells",
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
    todo = pending_cells(suite, store)
    # mmse curves: computed once here, shared by the workers and kept beside the results file
    cache_dir = str(store.path.parent / ".scorelab-cache")
    prepare_curves(todo, cache_dir, suite.effort)
    rows = run_cells(
        todo,
        workers=workers,
        executor=executor,
        address=address,
        cache_dir=cache_dir,
        effort=suite.effort,
    )
    for row in rows:
        row["suite"] = suite.name
        if "failure" in row:
            store.insert_failure(row)
        else:
            store.insert(row)
        if on_row is not None:
            on_row(row)
    return len(todo)


def pending_cells(suite: Suite, store: ResultStore) -> list[Cell]:
    """The suite's cells the store does not hold yet (finished or failed), those of peers whose
    library is missing left out: what :func:`run_suite` runs."""
    done = store.finished_keys()
    missing = set(missing_peers(suite))
    return [c for c in suite.cells if c.key() not in done and c.method not in missing]


def missing_peers(suite: Suite) -> list[str]:
    """Peer methods of the suite whose library cannot be imported (reported, never dropped
    silently: the CLI prints them and their cells stay pending in the store)."""
    methods = sorted({c.method for c in suite.cells if c.is_peer})
    return [m for m in methods if not peer_library_available(m)]
