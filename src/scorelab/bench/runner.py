"""Run benchmark cells: one cell = one sampler × schedule × NFE budget × seed × score error on
one target, scored by the target's headline metric (atoms: nearest-atom TV; Gaussian: fitted
Gaussian KL; mixtures: sliced W₂ to fresh exact samples), plus sliced W₂ for every target and,
for the frozen-x0 (``ddpm``) sampler, the exact discretization term D of its grid."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from functools import cache
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..effort import effort_settings
from ..methods import Plan, get_method
from ..metrics import headline_metric, sliced_wasserstein2
from ..oracles import CountingOracle, ErrorInjectedDenoiser
from ..samplers import SAMPLERS
from ..schedules import LOSS_SCHEDULES
from ..targets import Gaussian, Target, get_target
from ..theory import InformationCurve, discretization_error, mmse_curve
from .config import OPTIMIZE, Cell
from .model_target import BENCH_METRICS, is_model_target, model_target
from .store import ResultRow

__all__ = ["run_cell", "run_cells", "versions"]


@cache
def _target(name: str) -> Target:
    if is_model_target(name):
        return model_target(name)
    return get_target(name)


@cache
def _curve(
    name: str,
    sigma_min: float,
    sigma_max: float,
    cache_dir: str | None = None,
    effort: str = "full",
) -> InformationCurve:
    """The target's mmse curve (for oracle-LAS and exact D): cached per process, and on disk
    in ``cache_dir`` (:func:`scorelab.bench.run_suite` passes a folder beside the results file)
    so that workers and reruns share one computation; ``effort`` sets its Monte-Carlo size.
    A model target has no mmse: its recorded training loss curve (made monotone) stands in for
    the loss-curve schedules."""
    if is_model_target(name):
        curve = _target(name).loss_curve
        if curve is None:
            raise ValueError(f"{name} has no recorded loss curve for a loss-curve schedule")
        return curve.monotone()
    return mmse_curve(
        _target(name),
        sigma_min,
        sigma_max,
        num_points=effort_settings(effort)["bench_curve_points"],
        num_samples=effort_settings(effort)["bench_curve_samples"],
        cache_dir=cache_dir,
        cache_key=name,
    )


def _has_exact_d(method: str) -> bool:
    """Whether a method's sampler has the closed-form discretization term D."""
    library, _, name = method.partition(":")
    return library == "scorelab" and name in SAMPLERS and SAMPLERS[name].exact_d


def needs_curve(cell: Cell) -> bool:
    """Whether the cell reads the target's Monte-Carlo mmse curve (a loss-curve grid or exact
    D)."""
    loss_grid = cell.schedule in LOSS_SCHEDULES or cell.schedule == OPTIMIZE
    if is_model_target(cell.target):
        return loss_grid
    uses = loss_grid or _has_exact_d(cell.method)
    return uses and not _target(cell.target).mmse_is_exact


def prepare_curves(
    cells: Iterable[Cell], cache_dir: str | None = None, effort: str = "full"
) -> int:
    """Compute, in this process, every mmse curve the cells need (before workers are started,
    so that forked workers inherit them and spawned ones find them in ``cache_dir``); returns
    how many."""
    keys = {(c.target, c.sigma_min, c.sigma_max) for c in cells if needs_curve(c)}
    for key in sorted(keys):
        _curve(*key, cache_dir, effort)
    return len(keys)


@cache
def _reference(name: str, n: int, seed: int) -> torch.Tensor:
    """Exact reference samples, identical for every cell of a target, size and seed."""
    return _target(name).sample(n, torch.Generator().manual_seed(10_000 + seed))


def versions() -> dict:
    out = {"scorelab": __version__, "torch": torch.__version__, "python": platform.python_version()}
    try:
        from importlib.metadata import version

        out["k-diffusion"] = version("k-diffusion")
    except Exception:
        out["k-diffusion"] = None
    return out


def _metric(cell: Cell, target: Target, out: torch.Tensor) -> tuple[str, float, float, float]:
    """(headline metric name, its value, its floor, sliced W₂ to exact samples)."""
    seed, n = cell.seed, out.shape[0]

    def references(i: int) -> torch.Tensor:  # generator 10 000·(i+1) + seed
        return _reference(cell.target, n, seed + 10_000 * i)

    metric = headline_metric(target, BENCH_METRICS)
    value, floor = metric.compute(out, target, references, seed)
    if metric.name == "sw2":
        return metric.name, value, floor, value
    sw2 = sliced_wasserstein2(out, references(0), num_projections=128, seed=seed)
    return metric.name, value, floor, sw2


def sigma_range(cell: Cell) -> tuple[float, float]:
    """The cell's σ range, narrowed to what a model target accepts (a diffusers model: its
    training table, e.g. σ ∈ [0.01, 157] for 1000 linear-β steps)."""
    lo, hi = cell.sigma_min, cell.sigma_max
    accepts = getattr(_target(cell.target), "sigma_range", None)
    if accepts is not None:
        lo, hi = max(lo, accepts[0]), min(hi, accepts[1])
    return lo, hi


def _optimized_grid(
    cell: Cell, steps: int, cache_dir: str | None, effort: str = "full"
) -> tuple[str, torch.Tensor, dict]:
    """``(chosen schedule, grid, cost)`` of the :data:`~scorelab.bench.config.OPTIMIZE`
    schedule: what ``scorelab schedule optimize`` gives this scorelab sampler for ``steps`` steps
    (:func:`scorelab.grids.optimize_grid` on :func:`scorelab.grids.proxy_for`'s proxy: the
    target's samples and denoiser, or the model's), with the metric the target is scored by
    (``snapped`` for the nearest-atom TV, else ``continuous``). Cached on disk beside the mmse
    curves (``cache_dir``) for exact targets: cells that differ only in score error
    or seed share it; for a model, the proxy's converged solutions are shared there by every
    sampler and budget (:meth:`~scorelab.grids.TrajectoryProxy.load_references`, checked against
    a fingerprint of the model). ``effort`` sets the proxy's sizes (and is part of the cache
    key). ``cost`` says what the choice was measured on and what it cost: ``optimize_proxy``
    (the proxy's description), ``optimize_evaluations`` (model evaluations, one per sample per
    call, references read from the cache included) and ``optimize_seconds`` (wall time of the
    build, shorter where references were read from the cache; a cached grid reports its first
    build's)."""
    from ..grids import optimize_grid, proxy_for

    name = get_method(cell.method).name
    lo, hi = sigma_range(cell)
    target = _target(cell.target)
    metric = "snapped" if headline_metric(target, BENCH_METRICS).name == "atom_tv" else "continuous"
    spend = effort_settings(effort)
    key = json.dumps([cell.target, name, steps, lo, hi, metric, effort, "measured-2", __version__])
    path = None
    if cache_dir and not is_model_target(cell.target):
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"optimize-{digest}.json"
        if path.is_file():
            saved = json.loads(path.read_text())
            if saved.get("key") == key:
                sigmas = torch.tensor(saved["sigmas"], dtype=torch.float64)
                return saved["chosen"], sigmas, saved.get("cost", {})
    start = time.perf_counter()
    curve = _curve(cell.target, lo, hi, cache_dir, effort)
    observed = getattr(curve, "sigma", None)  # a measured LossCurve: stay where it was observed
    if observed is not None:
        lo, hi = max(lo, float(observed[0])), min(hi, float(observed[-1]))
    data = target.sample(spend["data_samples"], torch.Generator().manual_seed(0))
    proxy = proxy_for(
        target,
        data,
        lo,
        hi,
        metric=metric,
        exact=not is_model_target(cell.target),
        num_samples=spend["proxy_samples"],
        reference_steps=spend["reference_steps"],
        surrogate_samples=spend["surrogate"],
        law_samples=spend["law_samples"],
        law_reference_steps=spend["law_reference_steps"],
    )
    shared = None  # a model's converged solutions: the same for every sampler and budget
    if cache_dir and hasattr(proxy, "load_references"):
        digest = hashlib.sha256(json.dumps([cell.target, lo, hi, effort]).encode()).hexdigest()
        shared = Path(cache_dir) / f"proxy-references-{digest[:16]}.pt"
        proxy.load_references(shared)
    result = optimize_grid(
        name,
        None,
        lo,
        hi,
        steps=steps,
        proxy=proxy,
        curve=curve,
        refine_budget=spend["refine_budget"],
    )
    if shared is not None:
        proxy.save_references(shared)
    meta = result.meta()
    chosen, sigmas = meta["chosen"], result.sigmas
    cost = {  # evaluations: the choice's whole cost, references read from the cache included
        "optimize_proxy": meta["proxy"],
        "optimize_evaluations": int(meta["proxy_evaluations"])
        + getattr(proxy, "loaded_evaluations", 0),
        "optimize_seconds": round(time.perf_counter() - start, 1),
    }
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"key": key, "chosen": chosen, "sigmas": sigmas.double().tolist(), "cost": cost}
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(payload))
        tmp.replace(path)  # atomic: a concurrent worker reads the old file or the new one
    return chosen, sigmas.double(), cost


def _plan(cell: Cell, cache_dir: str | None = None, effort: str = "full") -> tuple[Plan, dict]:
    """The method's plan for the cell's budget and schedule, and what to add to the row's
    config (the schedule ``optimize`` chose, the σ grid that ran, its proxy and that proxy's
    cost)."""
    method = get_method(cell.method)
    lo, hi = sigma_range(cell)
    if cell.schedule == OPTIMIZE:
        if method.is_peer:
            raise ValueError(f"schedule {OPTIMIZE!r} is for scorelab samplers, not {method.key}")
        k = method.steps_within(cell.nfe_budget)
        chosen, sigmas, cost = _optimized_grid(cell, k, cache_dir, effort)
        plan = Plan(k, k + 1, sigmas.to(torch.float32), OPTIMIZE)
        grid = [float(s) for s in plan.sigmas]  # the σ that ran: the row can be rerun or exported
        return plan, {"chosen_schedule": chosen, "optimize_sigmas": grid, **cost}
    plan = method.plan(
        cell.nfe_budget,
        cell.schedule,
        lo,
        hi,
        lambda: _curve(cell.target, lo, hi, cache_dir, effort),
    )
    return plan, {}


def run_cell(cell: Cell, cache_dir: str | None = None, effort: str = "full") -> dict:
    """Run one cell and return its result row (see :data:`scorelab.bench.store.COLUMNS`);
    mmse curves and ``optimize`` grids are shared through ``cache_dir`` when given and sized
    by ``effort`` (:data:`scorelab.effort.EFFORT`)."""
    torch.set_num_threads(1)
    target = _target(cell.target)
    denoiser: Callable = target
    if cell.score_error > 0:
        denoiser = ErrorInjectedDenoiser(
            target, cell.score_error, kind="bias", space="denoiser", seed=cell.seed
        )
    oracle = CountingOracle(denoiser)
    method = get_method(cell.method)
    plan, extra = _plan(cell, cache_dir, effort)
    start = time.perf_counter()
    out = method.run(oracle, (cell.samples, *target.event_shape), plan, cell.seed)
    wall = time.perf_counter() - start
    steps, sigmas, exact_d = plan.steps, plan.sigmas, None
    if _has_exact_d(cell.method) and not is_model_target(cell.target):
        curve = (
            target
            if isinstance(target, Gaussian)
            else _curve(cell.target, cell.sigma_min, cell.sigma_max, cache_dir, effort)
        )
        exact_d = float(discretization_error(sigmas.double().numpy(), curve))
    exact_kl = _exact_kl(cell, target, plan)
    return _row(cell, target, oracle, out, steps, wall, exact_d, exact_kl, extra)


def _exact_kl(cell: Cell, target, plan: Plan) -> float | None:
    """Floor-free: the exact KL(output law ‖ data law) of the cell's method on a centred
    Gaussian target with the exact score — the quantity the ``fit_kl`` column estimates from
    samples, without its floor — for every method that is linear in its start and noise
    (:attr:`scorelab.methods.Method.gaussian_law`: scorelab's samplers but ``accel_sde``,
    k-diffusion's, diffusers' deterministic schedulers). None elsewhere (other targets, injected
    score error, ``accel_sde``'s limiter, diffusers' DDPM). scorelab's and k-diffusion's laws
    start from the exact N(0, Σ + σ_0² I); diffusers' from its own N(0, init_noise_sigma² I)."""
    method = get_method(cell.method)
    if (
        method.gaussian_law is None
        or cell.score_error > 0
        or not isinstance(target, Gaussian)
        or bool((target.data_mean != 0).any())
    ):
        return None
    from ..metrics import gaussian_kl

    cov = method.gaussian_law(target, plan).numpy()
    final = 0.0 if plan.sigmas is None else float(plan.sigmas[-1])
    data = target.covariance + final**2 * np.eye(target.dim)
    zero = np.zeros(target.dim)
    return gaussian_kl(zero, 0.5 * (cov + cov.T), zero, data)


def _row(
    cell: Cell,
    target: Target,
    oracle: CountingOracle,
    out: torch.Tensor,
    steps: int,
    wall: float,
    exact_d: float | None,
    exact_kl: float | None = None,
    extra_config: dict | None = None,
) -> dict:
    if not torch.isfinite(out).all():
        raise FloatingPointError(f"{cell.method} produced non-finite samples on {cell.target}")
    metric, error, floor, sw2 = _metric(cell, target, out)
    row = ResultRow(
        cell_key=cell.key(),
        target=cell.target,
        method=cell.method,
        is_peer=cell.is_peer,
        schedule=cell.schedule,
        nfe_budget=cell.nfe_budget,
        steps=steps,
        seed=cell.seed,
        score_error=cell.score_error,
        samples=cell.samples,
        nfe=oracle.nfe_per_sample,
        distinct_levels=oracle.num_distinct_sigmas,
        metric=metric,
        error=error,
        floor=floor,
        sw2=sw2,
        exact_d=exact_d,
        exact_kl=exact_kl,
        wall_time=wall,
        config={**cell.__dict__, **(extra_config or {})},
        versions=versions(),
    )
    return asdict(row)


def _die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux ``prctl``
    PR_SET_PDEATHSIG), so a killed ``scorelab bench`` leaves no orphan workers; a no-op
    elsewhere. Races with a parent that died before the call are caught by the ppid check."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except OSError:  # pragma: no cover - no libc: keep the default behaviour
        return
    if os.getppid() == 1:  # the parent is already gone
        os._exit(1)


def _init_worker() -> None:
    _die_with_parent()
    torch.set_num_threads(1)


def run_cell_or_failure(cell: Cell, cache_dir: str | None = None, effort: str = "full") -> dict:
    """:func:`run_cell`, except that an exception becomes a failure row (``cell_key``,
    ``target``, ``method``, ``config`` and ``failure``: the error's type and first line), so
    one bad cell never stops a sweep."""
    try:
        return run_cell(cell, cache_dir, effort)
    except Exception as err:  # every cell error is recorded, none is swallowed silently
        first = (str(err).strip().splitlines() or [""])[0]
        return {
            "cell_key": cell.key(),
            "target": cell.target,
            "method": cell.method,
            "config": dict(cell.__dict__),
            "failure": f"{type(err).__name__}: {first}"[:500],
        }


def run_cells(
    cells: Iterable[Cell],
    *,
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    cache_dir: str | None = None,
    effort: str = "full",
):
    """Yield result rows as cells finish (any order); a cell that raises yields a failure row
    (:func:`run_cell_or_failure`). ``executor``: ``local`` (process pool when ``workers`` > 1)
    or ``ray``; every worker gets ``cache_dir`` and ``effort`` as arguments."""
    cells = list(cells)
    if executor == "ray":
        yield from _run_ray(cells, address, cache_dir, effort)
        return
    if executor != "local":
        raise ValueError(f"unknown executor {executor!r}; expected 'local' or 'ray'")
    if workers <= 1:
        for cell in cells:
            yield run_cell_or_failure(cell, cache_dir, effort)
        return
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker)
    try:
        futures = [pool.submit(run_cell_or_failure, c, cache_dir, effort) for c in cells]
        for fut in as_completed(futures):
            yield fut.result()
    except BaseException:
        # Ctrl-C (or a consumer that stops early): drop the queue and stop the workers now
        # instead of waiting for the cells they are running
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    else:
        pool.shutdown(wait=True)


def _run_ray(cells: list[Cell], address: str | None, cache_dir: str | None, effort: str):
    try:
        import ray
    except ImportError as err:
        raise ImportError("--executor ray needs Ray (pip install 'ray[default]')") from err
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(run_cell_or_failure)
    pending = [remote.remote(c, cache_dir, effort) for c in cells]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])
