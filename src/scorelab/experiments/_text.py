"""Text rows of an experiment summary (for the CLI table and the README)."""

from __future__ import annotations

__all__ = ["summary_text_rows"]


def summary_text_rows(summary: dict) -> list[tuple[str, str, str]]:
    """``(case, quantity, value)`` rows of a ``{case: {quantity: value}}`` summary. Values: text
    as is, a ``(c, R²)`` pair of a through-origin fit as "c = …, R² = …", numbers to 3 digits."""
    out = []
    for case, res in summary.items():
        for key, value in res.items():
            if isinstance(value, tuple):
                text = f"c = {value[0]:.3g}, R² = {value[1]:.2f}"
            elif isinstance(value, str):
                text = value
            else:
                text = f"{value:.3f}"
            out.append((case, key, text))
    return out
