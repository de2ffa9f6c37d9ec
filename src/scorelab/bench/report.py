"""``scorelab report``: markdown + HTML report with matplotlib figures from a results store.

Figures (PNG, written next to the report):

* ``error_vs_nfe_<target>.png`` — the headline error (mean over seeds) against NFE in two
  panels, scorelab and peers, each with its :data:`BEST_N` best methods (sampler × schedule,
  ranked by the geometric mean of their error over the NFE ladder) in distinct colours and
  markers; the best error of either side at each NFE is drawn in both panels as a thick grey
  line with its method named, and the finite-sample floor dotted.
* ``queries_vs_eps_<target>.png`` — NFE*(ε), the fewest oracle-counted calls reaching ε
  (:func:`scorelab.metrics.queries_to_reach`), against ε from the floor up, for the same
  best methods (same panels, colours and markers).
* ``exact_d_vs_k.png`` — the exact discretization term D of the frozen-x0 (``ddpm``) runs against
  its number of steps K, one line per schedule and target (log–log).

The best-per-NFE table is :func:`scorelab.bench.best_per_nfe`.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .model_target import is_model_target, parse_model_target
from .store import ResultStore

__all__ = ["best_row_cells", "display_name", "write_report"]


def _series(store: ResultStore, score_error: float):
    rows = store.query(
        """SELECT target, method, schedule, is_peer, nfe_budget, avg(error), avg(floor),
                  any_value(metric)
           FROM results WHERE score_error = ? GROUP BY ALL ORDER BY nfe_budget""",
        [score_error],
    )
    out: dict[str, dict[tuple, list]] = defaultdict(lambda: defaultdict(list))
    floors: dict[str, float] = {}
    metrics: dict[str, str] = {}
    for target, method, schedule, is_peer, nfe, err, floor, metric in rows:
        out[target][(method, schedule, is_peer)].append((nfe, err))
        floors[target] = floor
        metrics[target] = metric
    return out, floors, metrics


def _checkpoint(target: str) -> Path | None:
    """The checkpoint (or diffusers folder) of a ``model:`` target, None for a built-in
    target."""
    return parse_model_target(target)[0] if is_model_target(target) else None


def display_name(target: str) -> str:
    """A target's name for titles (``model:PATH`` shows the checkpoint's file name only)."""
    path = _checkpoint(target)
    return target if path is None else f"model {path.name}"


def _slug(target: str) -> str:
    """A file-name-safe form of a target name (``model:PATH`` becomes ``model-STEM``)."""
    path = _checkpoint(target)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", target if path is None else f"model-{path.stem}")


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table's lines, then a blank line."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return [*lines, *("| " + " | ".join(r) + " |" for r in rows), ""]


def _html_rows(rows: list[list[str]]) -> str:
    return "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )


#: methods drawn per panel of a figure
BEST_N = 6
_MARKERS = "osD^v<>ph*"


def _best_n(series: dict, is_peer: bool, show: tuple[str, ...] = ()) -> list[tuple]:
    """The BEST_N keys of one side with the most NFE points, lowest geometric-mean error first;
    then every other key whose sampler or schedule is in ``show`` (what the user asked about,
    and ``optimize``), so those are drawn even when they are not among the best."""
    side = {k: v for k, v in series.items() if bool(k[2]) == is_peer}
    if not side:
        return []
    longest = max(len(v) for v in side.values())

    def geo(pts) -> float:
        errs = np.maximum([e for _, e in pts], 1e-300)
        return float(np.exp(np.log(errs).mean()))

    full = [k for k, v in side.items() if len(v) == longest]
    picks = sorted(full, key=lambda k: geo(side[k]))[:BEST_N]
    asked = [
        k
        for k in sorted(side, key=lambda k: geo(side[k]))
        if k not in picks and (k[1] in show or k[0].split(":")[-1] in show)
    ]
    return picks + asked[: len(_MARKERS) - len(picks)]


def _label(key: tuple) -> str:
    method, schedule, _ = key
    return f"{method.removeprefix('scorelab:')} / {schedule}"


def _envelope(series: dict) -> list[tuple[float, float, str]]:
    """(NFE, best error, its method) of either side at each NFE budget."""
    best: dict = {}
    for key, pts in series.items():
        for nfe, err in pts:
            if nfe not in best or err < best[nfe][0]:
                best[nfe] = (err, _label(key))
    return [(n, *best[n]) for n in sorted(best)]


def _panels(title: str, ylabel: str, xlabel: str):
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharex=True, sharey=True)
    for ax, side in zip(axes, ("scorelab", "peers"), strict=True):
        ax.set(xscale="log", yscale="log", xlabel=xlabel, title=f"{title} — {side}")
    axes[0].set_ylabel(ylabel)
    return fig, axes


def _finish(fig, axes, path: Path) -> None:
    for ax in axes:
        ax.legend(fontsize=7, loc="best")
        ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _error_figure(
    path: Path, target: str, series: dict, floor: float, metric: str, show: tuple[str, ...] = ()
) -> None:
    title = f"{display_name(target)}: error vs NFE"
    fig, axes = _panels(title, metric, "NFE (oracle-counted queries)")
    env = _envelope(series)
    for ax, is_peer in zip(axes, (False, True), strict=True):
        for i, key in enumerate(_best_n(series, is_peer, show)):
            nfe, err = zip(*series[key], strict=True)
            style = {"marker": _MARKERS[i % len(_MARKERS)], "color": f"C{i}", "ms": 5, "lw": 1.3}
            ax.plot(nfe, err, label=_label(key), **style)
        ax.plot(
            [n for n, _, _ in env],
            [e for _, e, _ in env],
            color="0.5",
            lw=5,
            alpha=0.35,
            label="best of either side",
            zorder=0,
        )
        for n, e, who in env:
            ax.annotate(
                who,
                (n, e),
                fontsize=6,
                rotation=20,
                xytext=(3, -10),
                textcoords="offset points",
                color="0.3",
            )
        ax.axhline(floor, color="k", ls=":", lw=1, label="finite-sample floor")
        budgets = [n for n, _, _ in env]
        ax.set_xticks(budgets, [f"{n:g}" for n in budgets], minor=False)
        ax.set_xticks([], minor=True)
    _finish(fig, axes, path)


def _queries_figure(
    path: Path, target: str, series: dict, floor: float, metric: str, show: tuple[str, ...] = ()
) -> bool:
    """NFE*(ε) against ε for the best methods of each side; False if nothing reaches any ε."""
    from ..metrics import queries_to_reach

    top = max(e for pts in series.values() for _, e in pts)
    lo = min(e for pts in series.values() for _, e in pts)
    eps = np.geomspace(max(lo, 1e-300) * 1.01, top, 24)
    fig, axes = _panels(f"{display_name(target)}: queries to reach ε", "NFE*(ε)", f"ε ({metric})")
    drawn = False
    for ax, is_peer in zip(axes, (False, True), strict=True):
        for i, key in enumerate(_best_n(series, is_peer, show)):
            nfe, err = zip(*series[key], strict=True)
            need = np.array([queries_to_reach(nfe, err, e) for e in eps])
            ok = np.isfinite(need)
            if not ok.any():
                continue
            drawn = True
            style = {"marker": _MARKERS[i % len(_MARKERS)], "color": f"C{i}", "ms": 4, "lw": 1.3}
            ax.plot(eps[ok], need[ok], label=_label(key), **style)
        ax.axvline(floor, color="k", ls=":", lw=1, label="finite-sample floor")
    if drawn:
        _finish(fig, axes, path)
    else:
        plt.close(fig)
    return drawn


def _d_figure(path: Path, store: ResultStore) -> bool:
    rows = store.query(
        """SELECT target, schedule, steps, avg(exact_d) FROM results
           WHERE exact_d IS NOT NULL AND score_error = 0 GROUP BY ALL ORDER BY steps"""
    )
    if not rows:
        return False
    lines: dict[tuple, list] = defaultdict(list)
    for target, schedule, steps, d in rows:
        lines[(target, schedule)].append((steps, d))
    fig, ax = plt.subplots(figsize=(8, 5))
    for (target, schedule), pts in sorted(lines.items()):
        k, d = zip(*pts, strict=True)
        ax.plot(k, d, marker="o", ms=3, label=f"{target} / {schedule}")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="steps K",
        ylabel="exact D [nats]",
        title="discretization term D of the frozen-x0 sampler (las.md §2)",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _ratio(r: float) -> str:
    """A ratio with two decimals, or two significant digits below 0.1 (exact KLs can differ by
    orders of magnitude)."""
    return f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"


def best_row_cells(e: dict) -> list[str]:
    """One best-per-NFE entry as text cells: target, NFE, metric, scorelab best, its error, best
    peer, its error, ratio ("(tie)" when the gap is within the floor), floor ("-" where a side
    is missing)."""
    return [
        display_name(e["target"]),
        str(e["nfe"]),
        e["metric"],
        e.get("scorelab", "-"),
        f"{e['scorelab_error']:.4g}" if "scorelab_error" in e else "-",
        e.get("peer", "-"),
        f"{e['peer_error']:.4g}" if "peer_error" in e else "-",
        (_ratio(e["ratio"]) + ("" if e["significant"] else " (tie)")) if "ratio" in e else "-",
        f"{e['floor']:.3g}",
    ]


def write_report(
    store: ResultStore,
    out_dir: str | Path,
    *,
    score_error: float = 0.0,
    show: tuple[str, ...] = (),
) -> Path:
    """Write ``report.md``, ``report.html`` and the figures into ``out_dir``; returns the .md.
    The figures draw each side's best methods, plus every method whose sampler or schedule is
    in ``show`` or is ``optimize``."""
    from . import best_per_nfe, queries_per_error, queries_row_cells

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    series, floors, metrics = _series(store, score_error)
    if not series:
        raise ValueError(f"the store holds no rows with score_error = {score_error}")
    figures = _figures(out, store, series, floors, metrics, ("optimize", *show))
    best = best_per_nfe(store, score_error)
    header = [
        "target",
        "NFE",
        "metric",
        "scorelab best",
        "error",
        "best peer",
        "peer error",
        "ratio",
        "floor",
    ]
    table_rows = [best_row_cells(e) for e in best]
    (count,) = store.query("SELECT count(*) FROM results")[0]
    queries = queries_per_error(store, score_error)
    q_header = ["target", "ε", "scorelab best", "NFE*", "best peer", "peer NFE*", "ratio"]
    q_rows = [[display_name(c) for c in queries_row_cells(e)] for e in queries]
    md = [
        f"# scorelab benchmark report\n\n{count} stored runs; score error {score_error}.\n",
        "## Queries to reach an error (NFE*; ratio = scorelab / best peer, < 1: fewer queries)\n",
        "NFE*(ε) interpolated in log–log on each method's ladder of oracle-counted NFE; ε in "
        "multiples of the target's finite-sample floor; '> max' = not reached in the suite.\n",
        *_md_table(q_header, q_rows),
        "## Best per NFE (ratio = scorelab / best peer; < 1 means scorelab is better)\n",
        "'(tie)': the two errors differ by no more than the finite-sample floor.\n",
        *_md_table(header, table_rows),
    ]
    exact_queries = queries_per_error(store, score_error, column="exact_kl")
    exact_best = best_per_nfe(store, score_error, column="exact_kl")
    x_rows = [[display_name(c) for c in queries_row_cells(e)] for e in exact_queries]
    xb_rows = [best_row_cells(e)[:8] for e in exact_best]
    if exact_best:
        md += [
            "## Floor-free: exact KL(output ‖ data) on centred Gaussian targets\n",
            "The output law of every method that is linear there (scorelab's samplers but "
            "`accel_sde`, k-diffusion's, diffusers' unclipped schedulers), by coefficient "
            "tracking through each library's own code: no sampling floor, so every gap is "
            "real. Queries to reach ε nats:\n",
            *_md_table(q_header, x_rows),
            "Exact KL at a fixed NFE budget:\n",
            *_md_table(header[:8], xb_rows),
        ]
    failed = store.failures()
    fail_header = ["cell", "target", "method", "error"]
    fail_rows = [
        [c.replace("|", "/") for c in row]
        for row in (
            [f["cell_key"][:12], f["target"], f["method"], f["message"].splitlines()[0][:200]]
            for f in failed
        )
    ]
    md += [
        f"## Failed cells ({len(failed)})\n",
        *(
            _md_table(fail_header, fail_rows)
            if failed
            else ["None: every cell of the store finished.", ""]
        ),
    ]
    for title, name in figures:
        md += [f"## {title}\n", f"![{title}]({name})\n"]
    md_path = out / "report.md"
    md_path.write_text("\n".join(md))
    tables = {
        "best": (header, table_rows),
        "queries": (q_header, q_rows),
        "exact": (x_rows, xb_rows) if exact_best else None,
        "failed": (fail_header, fail_rows),
    }
    _write_html(out / "report.html", count, score_error, tables, figures)
    return md_path


def _figures(out: Path, store, series, floors, metrics, show) -> list[tuple[str, str]]:
    """Draw every target's error-vs-NFE and queries-vs-ε figures (and the exact D figure) into
    ``out``; returns ``(title, file name)`` of each figure drawn."""
    figures = []
    for target in sorted(series):
        args = (target, series[target], floors[target], metrics[target])
        slug = _slug(target)
        name = f"error_vs_nfe_{slug}.png"
        _error_figure(out / name, *args, show=show)
        figures.append((f"{display_name(target)}: error vs NFE", name))
        name = f"queries_vs_eps_{slug}.png"
        if _queries_figure(out / name, *args, show=show):
            figures.append((f"{display_name(target)}: queries to reach ε", name))
    if _d_figure(out / "exact_d_vs_k.png", store):
        figures.append(("exact D vs K (frozen-x0 sampler)", "exact_d_vs_k.png"))
    return figures


def _write_html(path: Path, count: int, score_error: float, tables: dict, figures) -> None:
    """The HTML twin of ``report.md`` (the same tables and figures)."""
    header, table_rows = tables["best"]
    q_header, q_rows = tables["queries"]
    fail_header, fail_rows = tables["failed"]
    cells = _html_rows(table_rows)
    heads = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    q_cells = _html_rows(q_rows)
    q_heads = "".join(f"<th>{html.escape(h)}</th>" for h in q_header)
    exact_html = ""
    if tables["exact"] is not None:
        x_rows, xb_rows = tables["exact"]
        exact_html = (
            "<h2>Floor-free: exact KL on centred Gaussian targets</h2>"
            f"<table><tr>{q_heads}</tr>{_html_rows(x_rows)}</table><table><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in header[:8])
            + f"</tr>{_html_rows(xb_rows)}</table>"
        )
    f_cells = _html_rows(fail_rows)
    f_heads = "".join(f"<th>{html.escape(h)}</th>" for h in fail_header)
    imgs = "".join(
        f"<h2>{html.escape(t)}</h2><img src='{n}' alt='{html.escape(t)}'>" for t, n in figures
    )
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>scorelab report</title>"
        "<style>body{font-family:sans-serif;max-width:960px;margin:auto}td,th{padding:2px 8px}"
        "table{border-collapse:collapse}tr:nth-child(even){background:#f3f3f3}</style></head>"
        f"<body><h1>scorelab benchmark report</h1><p>{count} stored runs; score error "
        f"{score_error}.</p><h2>Queries to reach an error (NFE*)</h2><table><tr>{q_heads}</tr>"
        f"{q_cells}</table><h2>Best per NFE</h2><table><tr>{heads}</tr>{cells}</table>"
        f"{exact_html}"
        f"<h2>Failed cells ({len(fail_rows)})</h2><table><tr>{f_heads}</tr>{f_cells}</table>"
        f"{imgs}</body></html>"
    )
