"""Plot helpers shared by the experiments' figures (matplotlib, Agg backend); each figure lives
in its experiment's module."""

from __future__ import annotations

__all__ = ["log_ticks", "pyplot"]


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def log_ticks(ax, values) -> None:
    """Label a log x axis at ``values`` only (no overlapping minor-tick labels)."""
    from matplotlib.ticker import NullFormatter

    ticks = sorted({int(v) for v in values})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
