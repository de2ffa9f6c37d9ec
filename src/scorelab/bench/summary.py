"""The store's summaries (DuckDB SQL): the best scorelab and peer cell per target and NFE
budget, and the queries each needs to reach an error."""

from __future__ import annotations

import math

from ..methods import get_method
from .store import ResultStore

__all__ = ["best_per_nfe", "queries_per_error", "queries_row_cells"]


#: error columns the summaries read: ``error`` (the target's headline metric, from samples)
#: and ``exact_kl`` (the exact output KL on centred Gaussians: no floor, rows without it left out)
COLUMNS = ("error", "exact_kl")
#: the ε ladder (nats) of the floor-free queries view
EXACT_LEVELS = (0.1, 0.03, 0.01, 0.003)


def _column_sql(column: str) -> tuple[str, str, str]:
    """(value, floor, metric) SQL expressions for a summary over ``column``."""
    if column == "error":
        return "error", "floor", "metric"
    if column == "exact_kl":
        return "exact_kl", "0.0", "'exact_kl'"
    raise ValueError(f"unknown column {column!r}; choose from {list(COLUMNS)}")


def best_per_nfe(store: ResultStore, score_error: float = 0.0, column: str = "error") -> list[dict]:
    """Per target and NFE budget: the best scorelab cell and the best peer cell (lowest error,
    averaged over seeds) and their ratio (scorelab / peer; < 1 means scorelab is better).
    ``significant`` is False when the two errors differ by no more than the target's
    finite-sample floor (the error exact samples get, which is at least the estimator's
    sampling spread): such a ratio is a tie, whatever its value. ``column="exact_kl"``: the
    same on the exact output KL (centred Gaussian targets, methods whose law is exact): floor 0,
    so every difference is real."""
    value, floor, metric = _column_sql(column)
    rows = store.query(
        f"""
        WITH avg AS (
            SELECT target, nfe_budget, method, schedule, is_peer, any_value({metric}) AS metric,
                   avg({value}) AS error, avg({floor}) AS floor
            FROM results WHERE score_error = ? AND {value} IS NOT NULL GROUP BY ALL
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
            gap = abs(entry["scorelab_error"] - entry["peer_error"])
            entry["significant"] = bool(gap > entry["floor"])
        out.append(entry)
    return out


#: error levels of the queries table, as multiples of the target's finite-sample floor (an
#: error within 2× the floor is not resolved by the sample, so the ladder starts there)
FLOOR_MULTIPLES = (2.0, 4.0, 8.0)


def queries_per_error(
    store: ResultStore,
    score_error: float = 0.0,
    multiples: tuple[float, ...] = FLOOR_MULTIPLES,
    column: str = "error",
    levels: tuple[float, ...] = EXACT_LEVELS,
) -> list[dict]:
    """The queries-to-accuracy view: per target and error level ε = m × floor, the fewest model
    calls NFE*(ε) (:func:`scorelab.metrics.queries_to_reach` on each method × schedule's ladder of
    oracle-counted NFE against error, means over seeds) of the best scorelab method and of the
    best peer, and their ratio (< 1: scorelab needs fewer queries). With several seeds the ratio
    is also computed seed by seed and its range reported (``ratio_min``, ``ratio_max``). A side
    that reaches ε already at its ladder's smallest NFE (``*_at_start``) only bounds NFE* from
    above (no extrapolation below the ladder), so its ratio is a bound, or a tie when both are.
    ``column="exact_kl"``: the floor-free view on the exact output KL, at the absolute ``levels``
    (nats) instead of floor multiples (entries have ``multiple`` None)."""
    from ..metrics import fewest_queries

    value, floor_sql, _ = _column_sql(column)
    rows = store.query(
        f"""SELECT target, method, schedule, is_peer, seed, nfe_budget, avg(nfe), avg({value}),
                  avg({floor_sql})
           FROM results WHERE score_error = ? AND {value} IS NOT NULL GROUP BY ALL
           ORDER BY target, method, schedule, is_peer, seed, nfe_budget""",
        [score_error],
    )
    ladders: dict = {}
    floors: dict = {}
    for target, method, schedule, is_peer, seed, _, nfe, error, floor in rows:
        for s in ("mean", seed):
            key = (target, s, bool(is_peer), method, schedule)
            ladders.setdefault(key, []).append((nfe, error))
        floors.setdefault(target, []).append(floor)

    def best(target, seed, is_peer, eps):
        side = {}
        for (t, s, p, method, schedule), pts in ladders.items():
            if (t, s, p) != (target, seed, is_peer):
                continue
            merged: dict = {}
            for nfe, error in pts:  # means over seeds share an NFE: average them
                merged.setdefault(round(nfe, 6), []).append(error)
            label = f"{get_method(method).name if not p else method} / {schedule}"
            side[label] = [(n, sum(e) / len(e)) for n, e in merged.items()]
        return fewest_queries(side, eps) if side else None

    seeds = sorted({r[4] for r in rows})
    out = []
    for target in sorted(floors):
        floor = sum(floors[target]) / len(floors[target])
        if column == "error":
            ladder = [(m, m * floor) for m in multiples]
        else:
            ladder = [(None, eps) for eps in levels]
        for m, eps in ladder:
            ours, peer = best(target, "mean", False, eps), best(target, "mean", True, eps)
            entry = {"target": target, "multiple": m, "eps": eps, "floor": floor}
            if ours:
                entry.update(scorelab=ours[1], scorelab_nfe=ours[0], scorelab_at_start=ours[2])
            if peer:
                entry.update(peer=peer[1], peer_nfe=peer[0], peer_at_start=peer[2])
            if ours and peer and math.isfinite(ours[0]) and math.isfinite(peer[0]):
                entry["ratio"] = ours[0] / peer[0]
                per_seed = []
                for seed in seeds if len(seeds) > 1 else []:
                    a, b = best(target, seed, False, eps), best(target, seed, True, eps)
                    if a and b and math.isfinite(a[0]) and math.isfinite(b[0]):
                        per_seed.append(a[0] / b[0])
                if per_seed:
                    entry.update(ratio_min=min(per_seed), ratio_max=max(per_seed))
            out.append(entry)
    return out


def queries_row_cells(e: dict) -> list[str]:
    """One :func:`queries_per_error` entry as text cells: target, ε (× floor), scorelab best,
    its NFE*, best peer, its NFE*, ratio (with its seed range when there is one)."""

    def nfe(side):
        v = e.get(f"{side}_nfe")
        if v is None:
            return "-"
        if not math.isfinite(v):
            return "> max"
        return f"≤ {v:.0f}" if e.get(f"{side}_at_start") else f"{v:.1f}"

    ratio = "-"
    if "ratio" in e:
        ours_open, peer_open = e.get("scorelab_at_start"), e.get("peer_at_start")
        if ours_open and peer_open:
            ratio = "tie (both at the ladder's first NFE)"
        else:  # a side reached at the first NFE only bounds the ratio
            ratio = ("≤ " if ours_open else "≥ " if peer_open else "") + f"{e['ratio']:.2f}"
            if "ratio_min" in e:
                ratio += f" ({e['ratio_min']:.2f}–{e['ratio_max']:.2f})"
    return [
        e["target"],
        f"{e['eps']:.3g} ({e['multiple']:g}× floor)" if e["multiple"] else f"{e['eps']:g} nats",
        e.get("scorelab", "-"),
        nfe("scorelab"),
        e.get("peer", "-"),
        nfe("peer"),
        ratio,
    ]
