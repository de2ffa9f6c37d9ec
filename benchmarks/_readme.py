"""Replace a generated block: the text between ``<!-- NAME:start ... -->`` and
``<!-- NAME:end -->`` in README.md or the docs page that holds those markers (shared by the
benchmark scripts that write result tables; most blocks live in ``docs/results/*.md``)."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def block_page(name: str, root: Path = ROOT) -> Path:
    """The one page (README.md or docs/**/*.md) that holds the NAME markers."""
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    found = [p for p in pages if p.is_file() and f"<!-- {name}:start" in p.read_text()]
    if len(found) != 1:
        where = ", ".join(str(p.relative_to(root)) for p in found) or "no page"
        raise SystemExit(f"the {name} markers must be in exactly one page; found in {where}")
    return found[0]


def write_readme_block(name: str, body: str, how: str, path: Path | None = None) -> None:
    """Put ``body`` between the NAME markers of ``path`` (default: the page that has them,
    :func:`block_page`); ``how`` (the command, run facts) goes in the start marker. Exits with an
    error when the markers are missing."""
    path = path or block_page(name)
    block = f"<!-- {name}:start ({how}) -->\n{body}\n<!-- {name}:end -->"
    pattern = rf"<!-- {re.escape(name)}:start.*?<!-- {re.escape(name)}:end -->"
    text, n = re.subn(pattern, lambda _: block, path.read_text(), flags=re.S)
    if n != 1:
        raise SystemExit(f"{path.name} has no {name} markers")
    path.write_text(text)


def machine() -> str:
    """The machine and its load, for the marker of a timed block: CPU count and the 1-minute load
    average when the run started (call it before the work)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()}-CPU {platform.machine()} machine, load {load:.1f} at start"


def add_from_csv_option(parser) -> None:
    """``--from-csv RUN_FACTS``: re-summarise a benchmark's committed CSV instead of rerunning."""
    parser.add_argument(
        "--from-csv",
        metavar="RUN_FACTS",
        default=None,
        help="re-summarise the committed CSV instead of recomputing; RUN_FACTS (time, machine "
        "of the run that wrote it) go in the README marker",
    )


def rows_from_run_or_csv(from_csv: str | None, path: Path, run) -> tuple[list[dict], str]:
    """The rows and the run facts for the README marker: ``run()`` timed and written to the CSV
    ``path``, or (with ``from_csv``) the rows read back from it."""
    import csv
    import time

    if from_csv is not None:
        with path.open() as fh:
            return list(csv.DictReader(fh)), f"{from_csv}; re-summarised from {path.name}"
    how = machine()
    t0 = time.perf_counter()
    rows = run()
    facts = f"{time.perf_counter() - t0:.0f} s on a {how}"
    write_rows(path, rows)
    return rows, facts


def write_rows(path: Path, rows: list[dict]) -> None:
    """Write ``rows`` (dicts with the same keys, the first row's order) as the CSV ``path``."""
    import csv

    if not rows:
        raise SystemExit(f"no rows to write to {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def ratio_cells(cells: list[dict[str, float]], columns) -> list[str]:
    """One table cell per column over rows of ``{column: error}``: the geometric mean of the
    ratio to the row's best, the worst ratio and the share of rows best or within 5 %, as
    ``"geo / worst / share%"``; the column with the lowest geometric mean in bold."""
    ratios = {c: np.array([row[c] / min(row.values()) for row in cells]) for c in columns}
    geo = {c: float(np.exp(np.log(v).mean())) for c, v in ratios.items()}
    out = []
    for c in columns:
        v = ratios[c]
        text = f"{geo[c]:.2f} / {v.max():.3g} / {100 * np.mean(v <= 1.05):.0f}%"
        out.append(f"**{text}**" if geo[c] == min(geo.values()) else text)
    return out
