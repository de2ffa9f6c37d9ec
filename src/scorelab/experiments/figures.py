"""Figures of the experiments (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .query_lower_bound import fewest_per_dim

__all__ = [
    "acceleration_figure",
    "dimension_free_figure",
    "las_learned_figure",
    "query_lower_bound_figure",
]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _log_ticks(ax, values) -> None:
    """Label a log x axis at ``values`` only (no overlapping minor-tick labels)."""
    from matplotlib.ticker import NullFormatter

    ticks = sorted({int(v) for v in values})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())


def dimension_free_figure(rows: list[dict], path: str | Path) -> Path:
    """Left: steps to reach D ≤ target (log-SNR grid) vs d, one line per H and geometry.
    Right: K·D of the LAS grid vs H², per K."""
    plt = _pyplot()
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


def las_learned_figure(rows: list[dict], path: str | Path) -> Path:
    """Atom TV against K per grid: one panel per (error profile, sampler); the finite-sample
    floor as a dotted line."""
    plt = _pyplot()
    cases = sorted({(r["error"], r["sampler"]) for r in rows})
    errors = sorted({c[0] for c in cases})
    samplers = sorted({c[1] for c in cases})
    fig, axes = plt.subplots(
        len(samplers), len(errors), figsize=(3.6 * len(errors), 3.0 * len(samplers)), squeeze=False
    )
    for i, sampler in enumerate(samplers):
        for j, error in enumerate(errors):
            ax = axes[i][j]
            sel = [r for r in rows if r["error"] == error and r["sampler"] == sampler]
            for grid in dict.fromkeys(r["grid"] for r in sel):
                pts = sorted((r["steps"], r["tv"]) for r in sel if r["grid"] == grid)
                k, tv = np.array(pts).T
                style = "-o" if grid.startswith("las") else "--."
                ax.plot(k, tv, style, ms=4, label=grid)
            ax.axhline(sel[0]["floor"], color="gray", ls=":", lw=1)
            ax.set(xscale="log", yscale="log", xlabel="steps K", ylabel="atom TV")
            _log_ticks(ax, [r["steps"] for r in sel])
            ax.set_title(f"{error}, {sampler}", fontsize=8)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def acceleration_figure(rows: list[dict], path: str | Path) -> Path:
    """One panel per d: TV-scale error against score queries per sampler (exact-sample floor
    dotted); last panel: error at a fixed budget against the injected score error."""
    plt = _pyplot()
    curve = [r for r in rows if r["kind"] == "error-vs-nfe"]
    dims = sorted({r["dim"] for r in curve})
    fig, axes = plt.subplots(1, len(dims) + 1, figsize=(3.3 * (len(dims) + 1), 3.2))
    for ax, dim in zip(axes, dims, strict=False):
        for sampler in dict.fromkeys(r["sampler"] for r in curve):
            pts = sorted(
                (r["nfe"], r["tv"]) for r in curve if r["dim"] == dim and r["sampler"] == sampler
            )
            n, e = np.array(pts).T
            ax.plot(n, e, "-o" if len(ax.lines) < 10 else "--s", ms=3, label=sampler)
        for r in rows:
            if r["kind"] == "floor" and r["dim"] == dim:
                ax.axhline(r["tv"], color="gray", ls=":", lw=1)
        ax.set(xscale="log", yscale="log", xlabel="score queries (NFE)", title=f"d = {dim}")
    axes[0].set_ylabel("TV-scale error")
    axes[0].legend(fontsize=6)
    ax = axes[-1]
    sens = [r for r in rows if r["kind"] == "sensitivity"]
    for sampler in dict.fromkeys(r["sampler"] for r in sens):
        pts = sorted(
            (max(r["score_error"], 1e-4), r["tv"]) for r in sens if r["sampler"] == sampler
        )
        e, v = np.array(pts).T
        ax.plot(e, v, "-o", ms=3, label=sampler)
    for r in rows:
        if r["kind"] == "sensitivity-floor":
            ax.axhline(r["tv"], color="gray", ls=":", lw=1)
    if sens:
        ax.set_title(f"d = {sens[0]['dim']}, NFE ≈ {sens[0]['nfe']}", fontsize=9)
    ax.set(xscale="log", yscale="log", xlabel="injected score error ε (0 drawn at 1e-4)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def query_lower_bound_figure(rows: list[dict], path: str | Path) -> Path:
    """Fewest score queries (best schedule) against d per sampler, with a √d reference line:
    one panel per oracle (exact first, then the ε-accurate hiding oracles)."""
    plt = _pyplot()
    oracles = list(
        dict.fromkeys(r.get("oracle", "exact") for r in rows if r["kind"] == "fewest")
    ) or ["exact"]
    fig, axes = plt.subplots(1, len(oracles), figsize=(4.6 * len(oracles), 4), squeeze=False)
    for ax, oracle in zip(axes[0], oracles, strict=True):
        best = {key: r["queries"] for key, r in fewest_per_dim(rows, oracle).items()}
        for sampler in dict.fromkeys(s for s, _ in best):
            pts = sorted((d, q) for (s, d), q in best.items() if s == sampler)
            d, q = np.array(pts).T
            ax.plot(d, q, "--s" if sampler.startswith("sample_") else "-o", ms=4, label=sampler)
        if best:
            dims = np.array(sorted({d for _, d in best}), dtype=float)
            ref = min(best.values()) * np.sqrt(dims / dims[0])
            ax.plot(dims, ref, "k:", lw=1.5, label="∝ √d")
            _log_ticks(ax, [d for _, d in best])
        ax.set(xscale="log", yscale="log", xlabel="dimension d", ylabel="fewest score queries")
        ax.set_title(f"oracle: {oracle}", fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle("scale mixture: queries to reach radial KS ≤ target", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
