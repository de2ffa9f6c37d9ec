"""Helpers of the benchmark scripts whose numbers the result pages rest on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("components", [3, 6])
def test_mass_kl_resolution_is_what_exact_draws_reach_by_chance(monkeypatch, components):
    """The component-mass KL of n exact draws stays below ``mass_kl_resolution`` (mean + 2 sd
    of χ²_{k−1}/(2n)) in about 95–99 % of repeats, and its mean is (k − 1)/(2n)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from optimize_measured import mass_kl_resolution

    rng = np.random.default_rng(0)
    n = 1 << 12
    w = rng.dirichlet(np.full(components, 3.0))
    q = rng.multinomial(n, w, size=4000) / n
    kl = (w * (np.log(w) - np.log(np.maximum(q, 0.5 / n)))).sum(axis=1)
    below = (kl <= mass_kl_resolution(components, n)).mean()
    assert 0.93 <= below <= 0.995
    assert kl.mean() == pytest.approx((components - 1) / (2 * n), rel=0.15)


def test_fashion_headline_reads_each_sides_fewest_calls(monkeypatch, tmp_path):
    """On a made-up store: NFE* is the first crossing of each (method, grid) ladder interpolated
    in log-log, the best over a side; a level nobody reaches is 'never'; the model's FD is the
    lowest cell at the largest NFE."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from fashion_headline import (
        best_side,
        headline,
        ladders,
        model_fd,
        optimize_choices,
        optimize_rows,
    )
    from scorelab.bench import ResultStore

    cells = {  # (is_peer, method, schedule): FD at NFE 4, 8, 16
        (False, "scorelab:ipndm", "optimize"): (40.0, 10.0, 5.0),
        (False, "scorelab:ipndm", "karras"): (80.0, 20.0, 6.0),
        (True, "diffusers:Euler", "default"): (80.0, 40.0, 20.0),
    }
    with ResultStore(str(tmp_path / "b.duckdb")) as store:
        for (peer, method, schedule), fds in cells.items():
            for nfe, fd in zip((4, 8, 16), fds, strict=True):
                config = {}
                if schedule == "optimize":  # the NFE 4 cell predates the recorded cost
                    config = {"chosen_schedule": f"karras to {nfe}"}
                    if nfe > 4:
                        config |= {"optimize_evaluations": 1000 * nfe, "optimize_seconds": 90.0}
                store.insert(
                    dict(
                        config=json.dumps(config),
                        cell_key=f"{method}{schedule}{nfe}",
                        target="model:src/fashion_edm.safetensors",
                        method=method,
                        is_peer=peer,
                        schedule=schedule,
                        nfe_budget=nfe,
                        nfe=float(nfe),
                        error=fd,
                        floor=1.0,
                    )
                )
        store.insert(  # a budget the peer spends like NFE 4 (Heun: two calls a step)
            dict(
                cell_key="heun-like",
                target="model:src/fashion_edm.safetensors",
                method="diffusers:Euler",
                is_peer=True,
                schedule="default",
                nfe_budget=5,
                nfe=4.0,
                error=70.0,
                floor=1.0,
            )
        )
        found, floor, count = ladders(store)
        choices = optimize_choices(store)
    assert (floor, count) == (1.0, 10)
    rows = optimize_rows(found, choices, max_nfe=10).splitlines()[2:]  # NFE 4 and 8
    assert rows == [
        "| ipndm | 4 | 40.00 | karras to 4 | karras | 80.00 | 0.50 | - |",
        "| ipndm | 8 | 10.00 | karras to 8 | karras | 20.00 | 0.50 | 8,000 / 1.5 |",
    ]
    assert len(optimize_rows(found, choices).splitlines()) == 2 + 3  # every NFE by default
    assert found[(True, "diffusers:Euler", "default")][0] == (4.0, 70.0)  # the lower FD kept
    assert model_fd(found) == (5.0, "ipndm / optimize")
    n_star, which = best_side(found, False, 20.0)  # halfway (in log) between 40 @ 4 and 10 @ 8
    assert which == "ipndm / optimize" and n_star == pytest.approx(4 * 2**0.5)
    assert best_side(found, True, 40.0)[0] == pytest.approx(8.0)
    assert best_side(found, True, 10.0)[0] == float("inf")
    table = headline(found, floor)
    assert "never (≤ 20)" in table and "5.0 × the floor" in table
