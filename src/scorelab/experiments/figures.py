"""Figures of the experiments (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["dimension_free_figure"]


def dimension_free_figure(rows: list[dict], path: str | Path) -> Path:
    """Left: steps to reach D ≤ target (log-SNR grid) vs d, one line per H and geometry.
    Right: K·D of the LAS grid vs H², per K."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for geometry, style in (("random-code", "-o"), ("subspace", "--s")):
        g = [r for r in rows if r["geometry"] == geometry and r["steps_to_target"] is not None]
        for h in sorted({round(r["entropy"], 6) for r in g}):
            pts = sorted((r["dim"], r["steps_to_target"]) for r in g if round(r["entropy"], 6) == h)
            if pts:
                d, k = np.array(pts).T
                a.plot(d, k, style, ms=4, label=f"{geometry}, H={h:.0f}")
        las = [r for r in rows if r["geometry"] == geometry and r["grid"] == "las"]
        for k in sorted({r["steps"] for r in las}):
            pts = [(r["entropy"] ** 2, k * r["exact_d"]) for r in las if r["steps"] == k]
            x, y = np.array(pts).T
            b.plot(x, y, style[-1], ms=4, label=f"{geometry}, K={k}")
    a.set(xscale="log", yscale="log", xlabel="ambient dimension d", ylabel="K with D ≤ target")
    a.set_title("log-SNR-uniform grid: steps to reach the target D", fontsize=9)
    b.set(xlabel="H² (nats²)", ylabel="K·D (LAS grid)")
    b.set_title("LAS: K·D against H²", fontsize=9)
    a.legend(fontsize=6, ncol=2)
    b.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
