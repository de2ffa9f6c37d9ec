"""Replace a generated block of README.md: the text between ``<!-- NAME:start ... -->`` and
``<!-- NAME:end -->`` (shared by the benchmark scripts that write README tables)."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def write_readme_block(name: str, body: str, how: str, path: Path = README) -> None:
    """Put ``body`` between the NAME markers of ``path`` (default README.md); ``how`` (the
    command, run facts) goes in the start marker. Exits with an error when the markers are
    missing."""
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
