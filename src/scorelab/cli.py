"""The ``scorelab`` command line.

It starts at once: torch, SciPy, diffusers and the experiments are imported inside the commands
that need them (``tests/test_cli_startup.py`` holds that), so ``--help`` costs only typer and
rich. Names of samplers, schedules, targets and experiments come from ``scorelab list``.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import time
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table

from ._smoke import smoke

app = typer.Typer(help="scorelab: fast, measurable diffusion sampling.", no_args_is_help=True)
# the terminal's width (or $COLUMNS); 120 columns when piped, so tables stay readable in logs
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120)


def _finite_nonnegative(value: float) -> float:
    """typer callback: a finite number ≥ 0 (NaN and inf are refused at parse time)."""
    import math

    if value is not None and not (math.isfinite(value) and value >= 0):
        raise typer.BadParameter(f"must be a finite number >= 0, got {value}")
    return value


@app.callback()
def _main() -> None:
    """scorelab command line."""


@app.command()
def demo(
    samples: int = typer.Option(4096, min=16, help="samples per run"),
    steps: list[int] = typer.Option([10, 50], min=1, help="sampling steps K ≥ 1 (repeatable)"),
    seed: int = typer.Option(0, min=0, help="random seed (≥ 0)"),
    samplers: list[str] = typer.Option(
        ["euler", "heun", "dpmpp_2m", "ddpm", "li_sde", "accel_sde"],
        help="samplers (repeatable; `scorelab list samplers`)",
    ),
) -> None:
    """Sample two exact targets with a few built-in samplers and print a metric table."""
    import torch

    from .metrics import headline_metric
    from .oracles import CountingOracle
    from .samplers import SAMPLERS
    from .schedules import karras, log_snr_uniform
    from .targets import Discrete, Gaussian

    atoms = Discrete.random_code(64, 8, scale=2.0, seed=seed)
    gauss = Gaussian(
        torch.zeros(16).numpy(),
        (0.5 + torch.rand(16, generator=torch.Generator().manual_seed(seed))).numpy(),
    )
    schedules = {"karras": karras, "log-snr": log_snr_uniform}
    table = Table(title="scorelab demo: exact targets, σ ∈ [0.002, 80] + final denoise")
    for col in (
        "target",
        "sampler",
        "schedule",
        "K",
        "NFE",
        "distinct σ",
        "metric",
        "value",
        "floor",
        "time [s]",
    ):
        table.add_column(
            col,
            justify="right" if col not in ("target", "sampler", "schedule", "metric") else "left",
        )
    # atoms: the `atoms64-r8` preset (seed 0); the Gaussian is the demo's own
    results: list[tuple] = []
    for tname, target in ((f"atoms64-r8 (seed {seed})", atoms), ("gaussian d=16 (demo)", gauss)):
        for sname in samplers:
            if sname not in SAMPLERS:
                _fail(f"unknown sampler {sname!r}; choose from {sorted(SAMPLERS)}")
            sampler = SAMPLERS[sname]
            for schedule_name, schedule in schedules.items():
                for k in steps:
                    gen = torch.Generator().manual_seed(seed)
                    sigmas = schedule(k, final_zero=True, dtype=torch.float32)
                    x = torch.randn(samples, target.dim, generator=gen) * sigmas[0]
                    oracle = CountingOracle(target)
                    start = time.perf_counter()
                    out = sampler(oracle, x, sigmas, generator=gen)
                    elapsed = time.perf_counter() - start
                    headline = headline_metric(target)
                    metric = headline.label
                    value, floor = headline.compute(out, target, None, seed)
                    results.append((tname, sname, schedule_name, k, value, floor))
                    table.add_row(
                        tname,
                        sname,
                        schedule_name,
                        str(k),
                        f"{oracle.nfe_per_sample:g}",
                        str(oracle.num_distinct_sigmas),
                        metric,
                        f"{value:.4f}",
                        f"{floor:.4f}",
                        f"{elapsed:.2f}",
                    )
    console.print(table)
    console.print(_demo_verdict(results))


def _demo_verdict(results: list[tuple]) -> str:
    """Two or three sentences on the demo table: per target and budget the best (sampler,
    schedule), against its floor, and the samplers' ranking at the smallest budget."""
    lines = [
        "What the table shows (lower is better; a value at its floor is as good as exact samples):"
    ]
    for tname in dict.fromkeys(r[0] for r in results):
        parts = []
        for k in sorted({r[3] for r in results if r[0] == tname}):
            row = min((r for r in results if r[0] == tname and r[3] == k), key=lambda r: r[4])
            at_floor = " (at its floor)" if row[4] <= 1.5 * row[5] else ""
            parts.append(f"K = {k}: {row[1]} on {row[2]}, {row[4]:.4f}{at_floor}")
        lines.append(f"- {tname}: best " + "; ".join(parts) + ".")
    k0 = min(r[3] for r in results)
    order = sorted(
        {r[1] for r in results},
        key=lambda s: sum(math.log(max(r[4], 1e-12)) for r in results if r[1] == s and r[3] == k0),
    )
    lines.append(
        f"- At K = {k0} the samplers rank {' < '.join(order)} (geometric mean over targets and "
        "schedules); `scorelab bench` compares them with k-diffusion's and diffusers' own."
    )
    return "\n".join(lines)


@app.command()
def bench(
    suite: str = typer.Option(
        "quick", help="quick | standard | digits | fashion | path to a suite .toml"
    ),
    db: str = typer.Option("scorelab-results.duckdb", help="DuckDB results file (resumable)"),
    workers: int = typer.Option(2, min=1, help="local worker processes"),
    executor: str = typer.Option("local", help="local | ray"),
    address: str = typer.Option(None, help="Ray cluster address (with --executor ray)"),
    score_error: float = typer.Option(
        0.0, callback=_finite_nonnegative, help="score-error level for the summary table"
    ),
    log_cells: bool = typer.Option(False, help="print 'done KEY' as each cell is stored"),
    retry_failed: bool = typer.Option(False, help="rerun the cells that failed before"),
    model: str = typer.Option(
        None,
        help="a scorelab checkpoint (`scorelab train`) or a diffusers model folder (a saved "
        "pipeline, or a UNet2DModel folder with scheduler_config.json): run the suite's methods "
        "on this model instead of its targets (digits models: FD; others: sliced W2 to held-out "
        "data)",
    ),
    data: str = typer.Option(
        None,
        help="with a diffusers --model: the data it is scored against (digits | moons | ring8 | "
        "FILE.npy of held-out samples)",
    ),
) -> None:
    """Run a benchmark suite (skipping finished cells) and print the best-per-NFE table."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from .bench import best_per_nfe, load_suite, missing_peers, pending_cells, run_suite

    try:
        spec = load_suite(suite)
        if data is not None and model is None:
            raise ValueError("--data goes with --model DIR (a diffusers model folder)")
        if model is not None:
            spec = spec.with_model(model, data)
    except (ValueError, FileNotFoundError) as err:
        _fail(str(err))
    if smoke():
        spec = spec.smoke()
    if executor not in ("local", "ray"):
        _fail(f"unknown executor {executor!r}; expected local or ray")
    with _open_store(db) as store:
        if retry_failed:
            console.print(f"retrying {store.clear_failures()} failed cells")
        todo = len(pending_cells(spec, store))
        missing = missing_peers(spec)
        if missing:
            skipped = sum(c.method in missing for c in spec.cells)
            console.print(
                f"[yellow]missing optional peers[/yellow] {', '.join(missing)}: "
                f"{skipped} cells not run (install the library and rerun)"
            )
        console.print(f"suite {spec.name}: {len(spec.cells)} cells, {todo} to run -> {db}")
        with Progress(
            "{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        ) as bar:
            task = bar.add_task("bench", total=todo)

            finished = itertools.count(1)

            def on_row(row: dict) -> None:
                bar.advance(task)
                n = next(finished)
                if not console.is_terminal:  # the bar is off: a line per cell instead
                    _log_line(f"bench: {n}/{todo} cells, {row['cell_key']} stored")
                if "failure" in row:
                    console.print(f"[red]failed[/red] {row['cell_key']}: {row['failure']}")
                elif log_cells:
                    print(f"done {row['cell_key']}", flush=True)

            try:
                run_suite(
                    spec, store, workers=workers, executor=executor, address=address, on_row=on_row
                )
            except (ValueError, FileNotFoundError) as err:  # the model or data cannot be read
                _fail(str(err), code=1)
            except KeyboardInterrupt:
                kept = len(store.finished_keys())
                console.print(
                    f"[yellow]interrupted[/yellow]: {kept} finished cells are kept in {db}; "
                    "rerun the same command to resume"
                )
                raise typer.Exit(130) from None
        _print_best(best_per_nfe(store, score_error))
        _report_failures(spec, store)


def _report_failures(spec, store) -> None:
    """Exit 1 when every cell of the suite failed; otherwise say how many failed cells the store
    holds and how to retry them."""
    failed = store.failures()
    keys = {c.key() for c in spec.cells}
    mine = [f for f in failed if f["cell_key"] in keys]
    if mine and not keys & store.finished_keys(include_failed=False):
        _fail(
            f"every cell of suite {spec.name} failed; the first: {mine[0]['cell_key']}: "
            f"{mine[0]['message']}",
            code=1,
        )
    if failed:
        console.print(
            f"[yellow]{len(failed)} failed cells[/yellow] (stored with their error; "
            "rerun with --retry-failed to try them again)"
        )


@app.command()
def report(
    db: str = typer.Option("scorelab-results.duckdb", help="DuckDB results file"),
    out: str = typer.Option("scorelab-report", help="output folder"),
    score_error: float = typer.Option(
        0.0, callback=_finite_nonnegative, help="score-error level to report"
    ),
    show: list[str] = typer.Option(
        [], help="a sampler or schedule to draw even when it is not among the best (repeatable)"
    ),
) -> None:
    """Write a markdown + HTML report with figures from a results store (each side's best
    methods, plus optimize and whatever --show names)."""
    from pathlib import Path

    from ._validation import check_output_path
    from .bench.report import write_report

    if not Path(db).exists():
        _fail(f"results file not found: {db} (run scorelab bench first)")
    try:
        check_output_path(out, folder=True)
    except ValueError as err:
        _fail(str(err))
    with _open_store(db) as store:
        try:
            path = write_report(store, out, score_error=score_error, show=tuple(show))
        except ValueError as err:
            _fail(str(err))
    console.print(f"wrote {path} and {Path(out) / 'report.html'}")


def _print_best(entries: list[dict]) -> None:
    from .bench.report import best_row_cells

    table = Table(title="best per NFE: scorelab vs best peer (error; ratio < 1 = scorelab better)")
    for col in (
        "target",
        "NFE",
        "metric",
        "scorelab best",
        "error",
        "peer best",
        "error ",
        "ratio",
        "floor",
    ):
        table.add_column(
            col, justify="right" if col in ("NFE", "error", "error ", "ratio", "floor") else "left"
        )
    for e in entries:
        table.add_row(*best_row_cells(e))
    console.print(table)


def _open_store(db: str):
    """The results store at ``db``; a corrupt or locked file is a one-line error."""
    from .bench import ResultStore

    try:
        return ResultStore(db)
    except ValueError as err:
        _fail(str(err))


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _optimize_summary(sampler: str, nfe: int, meta: dict) -> str:
    """One paragraph: what ``optimize`` chose, on which proxy, against the best standard grid."""
    text = (
        f"{sampler}, {nfe} calls: {meta['chosen']} with K = {meta['steps']} steps + final "
        f"denoise ({meta['nfe']} calls); proxy: {meta['proxy']}"
    )
    if "proxy_error" in meta:
        text += (
            f" (cost {meta['proxy_evaluations']} model evaluations); "
            f"error {meta['proxy_error']:.4g}"
        )
        best = meta.get("best_standard")
        if best:
            text += f", best standard grid {best['name']} {best['proxy_error']:.4g}"
    return text


def _log_line(line: str) -> None:
    """A timestamped progress line on stderr (for output that is not a terminal)."""
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


@contextmanager
def _working(message: str, every_s: float = 20.0):
    """A long step: a spinner on a terminal; otherwise a timestamped line when it starts, one
    every ``every_s`` seconds while it runs, and one when it ends (so CI logs, ``nohup`` and
    pipes never sit silent)."""
    if console.is_terminal:
        with console.status(message):
            yield
        return
    import threading

    _log_line(f"{message} ...")
    start, stop = time.perf_counter(), threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            _log_line(f"{message}: still working, {time.perf_counter() - start:.0f} s so far")

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        _log_line(f"{message}: done in {time.perf_counter() - start:.0f} s")


EXPORT_FORMATS = ("table", "json", "k-diffusion", "diffusers", "comfyui", "flow")


def _export(sched, fmt: str, scheduler: str, beta_schedule: str, shift: float) -> str:
    """A schedule in one of the tool formats (:class:`scorelab.schedules.Schedule`)."""
    import json

    import torch

    if fmt == "k-diffusion":
        return json.dumps(sched.to_k_diffusion(dtype=torch.float64).tolist())
    if fmt == "comfyui":
        return sched.to_comfyui()
    if fmt == "flow":
        return json.dumps({"sigmas": sched.to_flow(shift).tolist(), "shift": shift})
    try:
        import diffusers
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ValueError("--format diffusers needs diffusers (pip install diffusers)") from err
    cls = getattr(diffusers, scheduler, None)
    if cls is None or not scheduler.endswith("Scheduler"):
        raise ValueError(f"unknown diffusers scheduler {scheduler!r}")
    flow = scheduler.startswith("FlowMatch")
    made = cls(shift=shift) if flow else cls(beta_schedule=beta_schedule)
    kwargs = sched.to_diffusers(made)
    return json.dumps({k: getattr(v, "tolist", lambda v=v: v)() for k, v in kwargs.items()})


@app.command()
def schedule(
    name: str = typer.Argument(
        None,
        help="schedule name (`scorelab list schedules` says what each needs); optimize is the "
        "recommended grid for --sampler within --nfe model calls",
    ),
    steps: int = typer.Option(10, "--steps", "-k", min=1, help="number of steps K"),
    sigma_min: float = typer.Option(None, help="smallest σ (default 0.002)"),
    sigma_max: float = typer.Option(None, help="largest σ (default 80)"),
    rho: float = typer.Option(None, help="ρ of karras / polyexponential"),
    final_zero: bool = typer.Option(False, help="append σ = 0 (final denoise step)"),
    loss_curve: str = typer.Option(
        None, help="loss schedules: loss-curve file (JSON or σ,loss text)"
    ),
    target: str = typer.Option(
        None,
        help="built-in target: LAS uses its exact mmse (oracle-"
        "LAS); every schedule also reports its exact D (`scorelab list targets`)",
    ),
    model: str = typer.Option(
        None,
        help="loss schedules: a scorelab checkpoint (`scorelab train`); its recorded loss curve",
    ),
    measure: bool = typer.Option(
        False, help="LAS with --model: measure the loss curve on the held-out split instead"
    ),
    smooth: float = typer.Option(
        0.0, min=0.0, help="loss schedules: smoothing width in log-SNR (0 = none)"
    ),
    candidates: int = typer.Option(
        1000, min=2, help="loss schedules: candidate levels (optimize keeps each one's default)"
    ),
    fmt: str = typer.Option(
        "table", "--format", help="table | json | k-diffusion | diffusers | comfyui | flow"
    ),
    scheduler: str = typer.Option(
        "EulerDiscreteScheduler",
        help="--format diffusers: the diffusers scheduler class the arguments are for",
    ),
    beta_schedule: str = typer.Option(
        "linear",
        help="--format diffusers: the DDPM β schedule of the target model (linear, "
        "scaled_linear, squaredcos_cap_v2); the σ range defaults to its own",
    ),
    shift: float = typer.Option(
        1.0, min=1e-6, help="--format flow / FlowMatch schedulers: the shift they apply"
    ),
    output: str = typer.Option(None, help="write the schedule to this file (JSON)"),
    list_: bool = typer.Option(False, "--list", help="list schedule names and exit"),
    sampler: str = typer.Option(None, help="optimize: the sampler the grid is for"),
    nfe: int = typer.Option(None, min=1, help="optimize: the budget of model calls"),
    metric: str = typer.Option(
        "continuous",
        help="optimize: continuous (the law at σ_min) or snapped (after a final denoise onto "
        "discrete data)",
    ),
    effort: str = typer.Option(
        "full", help="optimize: how much it measures — full (the result tables), fast, smoke"
    ),
) -> None:
    """Print or export a σ schedule; `las`, `entropic` and `sat-info` are built from a loss curve
    (a file, a checkpoint's, or a target's exact mmse)."""
    from .curves import named_schedule
    from .schedules import ALIASES

    if fmt not in EXPORT_FORMATS:
        _fail(f"unknown format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    if list_:
        for row_name, function, needs in _schedule_rows():
            console.print(f"{row_name}: {function} — needs {needs}")
        console.print("aliases: " + ", ".join(f"{a}={b}" for a, b in ALIASES.items()))
        return
    if name is None:
        _fail("give a schedule name (scorelab schedule --list shows them)")
    tgt = oracle_curve = None
    effort = "smoke" if smoke() else effort  # SCORELAB_SMOKE: read here, passed down
    try:
        if output:
            from ._validation import check_output_path

            check_output_path(output)
        if target is not None:
            from .targets import get_target

            tgt = get_target(target)
        if fmt == "diffusers" and not scheduler.startswith("FlowMatch"):
            sigma_min, sigma_max = _discrete_model_range(beta_schedule, sigma_min, sigma_max)
        sigmas, meta, oracle_curve = named_schedule(
            name,
            steps,
            sampler=sampler,
            nfe=nfe,
            metric=metric,
            loss_curve=loss_curve,
            model=model,
            target=target,
            measure=measure,
            sigma_min=sigma_min,
            sigma_max=sigma_max,
            rho=rho,
            smooth=smooth,
            candidates=candidates,
            final_zero=final_zero,
            effort=effort,
            status=_working,
            progress=None if sys.stderr.isatty() else _log_line,
        )
    except (ValueError, TypeError, FileNotFoundError) as err:
        _fail(str(err))
    if fmt == "table" and name == "optimize":
        console.print(_optimize_summary(sampler, nfe, meta))
    elif fmt == "table" and name == "ays-opt":
        history = meta["klub_history"]
        console.print(f"KLUB {history[0]:.4g} (EDM ρ=7 start) -> {history[-1]:.4g}")
    _emit_schedule(sigmas, meta, fmt, output, sampler, nfe, (scheduler, beta_schedule, shift))
    if fmt == "table" and tgt is not None:
        _print_exact_d(sigmas, tgt if oracle_curve is None else oracle_curve, target, effort)


def _discrete_model_range(beta_schedule: str, sigma_min, sigma_max) -> tuple[float, float]:
    """The default σ range of a grid for a discrete DDPM model: inside its β table's range, so
    that the grid maps onto its timesteps."""
    from .processes import ddpm_betas, ddpm_sigmas

    table = ddpm_sigmas(ddpm_betas(beta_schedule))
    if sigma_min is None:
        sigma_min = float(table[0]) * (1 + 1e-6)
    if sigma_max is None:
        sigma_max = min(80.0, float(table[-1]) * (1 - 1e-6))
    return sigma_min, sigma_max


def _emit_schedule(sigmas, meta: dict, fmt: str, output, sampler, nfe, export_options) -> None:
    """Write the schedule to ``output`` (JSON) if given, and print it in ``fmt``."""
    import json

    import numpy as np

    from .schedules import save_schedule

    if output:
        save_schedule(output, sigmas.double(), **meta)
        console.print(f"wrote {output}")
    if fmt == "json":
        print(json.dumps({"sigmas": sigmas.tolist(), **meta}))
    elif fmt != "table":
        from .schedules import Schedule

        try:
            sched = Schedule(sigmas.double().numpy(), sampler=sampler, nfe=nfe, name=meta["name"])
            print(_export(sched, fmt, *export_options))
        except (ValueError, TypeError) as err:
            _fail(str(err))
    else:
        table = Table(title=f"{meta['name']} schedule, K = {meta['steps']}")
        for col in ("i", "σ", "log-SNR λ"):
            table.add_column(col, justify="right")
        for i, s in enumerate(sigmas.tolist()):
            lam = "∞" if s == 0 else f"{-2 * np.log(s):.4f}"
            table.add_row(str(i), f"{s:.6g}", lam)
        console.print(table)


def _print_exact_d(sigmas, curve, target: str, effort: str) -> None:
    """The exact discretization term D of the grid on a built-in target (its Monte-Carlo size
    set by ``effort``)."""
    from .effort import effort_settings
    from .theory import discretization_error

    spend = effort_settings(effort)
    with _working(f"exact discretization term D on {target}"):
        d = discretization_error(
            sigmas.double().numpy(),
            curve,
            num_samples=spend["bench_curve_samples"],
            num_points=spend["bench_curve_points"],
        )
    console.print(f"exact discretization term D = {d:.6g} nats on {target}")


@app.command("loss-curve")
def loss_curve_cmd(
    target: str = typer.Option("atoms64-r8", help="built-in target (`scorelab list targets`)"),
    output: str = typer.Option(..., help="output file (JSON; missing folders are created)"),
    levels: int = typer.Option(100, min=2, help="number of noise levels (log-uniform)"),
    samples: int = typer.Option(1024, min=2, help="samples per level"),
    sigma_min: float = typer.Option(0.002, help="smallest σ"),
    sigma_max: float = typer.Option(80.0, help="largest σ"),
    error: float = typer.Option(
        0.0,
        min=0.0,
        help="inject a smooth score error of this RMS "
        "size into the exact denoiser (denoiser space)",
    ),
    seed: int = typer.Option(0, min=0, help="random seed (≥ 0)"),
) -> None:
    """Measure the per-level x0 loss of a built-in target's (optionally perturbed) denoiser."""
    import numpy as np

    from ._validation import check_output_path
    from .loss_curve import measure_loss_curve
    from .oracles import ErrorInjectedDenoiser
    from .targets import get_target

    try:
        check_output_path(output)
        tgt = get_target(target)
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        model = tgt if error == 0 else ErrorInjectedDenoiser(tgt, error, space="denoiser")
        curve = measure_loss_curve(
            model,
            tgt,
            np.geomspace(sigma_min, sigma_max, levels),
            samples_per_level=samples,
            seed=seed,
            progress=True,
        )
    except (ValueError, TypeError) as err:
        _fail(str(err))
    curve.save(output)
    console.print(
        f"wrote {output}: {levels} levels, L_x0 from {curve.loss_x0.min():.4g} "
        f"to {curve.loss_x0.max():.4g}"
    )


@app.command()
def train(
    data: str = typer.Option("digits", help="digits | fashion | moons | ring8 | PATH.npy"),
    out: str = typer.Option(..., help="checkpoint file to write (.safetensors)"),
    data_dir: str = typer.Option(None, help="folder of Fashion-MNIST's idx files"),
    objective: str = typer.Option("edm", help="edm (x0 model) | flow (flow-matching velocity)"),
    steps: int = typer.Option(None, min=1, help="optimizer steps (default 6000; tiny: 150)"),
    batch_size: int = typer.Option(None, min=1, help="batch size (default 128)"),
    arch: str = typer.Option(None, help="unet | mlp (default: unet for images, mlp for toys)"),
    tiny: bool = typer.Option(False, help="seconds-long run with a very small network (tests)"),
    resume: bool = typer.Option(False, help="continue from OUT.state.pt"),
    save_every: float = typer.Option(300.0, min=1.0, help="seconds between resumable states"),
    seed: int = typer.Option(0, min=0, help="random seed"),
    threads: int = typer.Option(None, min=1, help="torch CPU threads"),
) -> None:
    """Train a small EDM (or, with ``--objective flow``, flow-matching) model; the checkpoint
    carries the recorded per-level loss curve.

    ``--data fashion`` trains the shipped Fashion-MNIST models' configuration."""
    import torch

    from .models import TrainConfig
    from .models import train as run_training

    if threads:
        torch.set_num_threads(threads)
    overrides = {
        k: v
        for k, v in {
            "steps": steps,
            "batch_size": batch_size,
            "arch": arch,
            "seed": seed,
            "data_dir": data_dir,
            "objective": objective,
        }.items()
        if v is not None
    }
    try:
        small = tiny or smoke()
        if small:
            cfg = TrainConfig.tiny(data, **overrides)
        elif data == "fashion":
            cfg = TrainConfig.fashion(**overrides)
        else:
            cfg = TrainConfig(data=data, **overrides)
        result = run_training(
            cfg,
            out,
            progress=sys.stderr.isatty(),
            log=None if sys.stderr.isatty() else _log_line,
            save_every_s=save_every,
            resume=resume,
        )
    except (ValueError, TypeError, FileNotFoundError) as err:
        _fail(str(err))
    except KeyboardInterrupt as err:
        _fail(str(err) or "interrupted", code=130)
    window = max(1, cfg.steps // 20)
    first, last = result.losses[:window].mean(), result.losses[-window:].mean()
    console.print(
        f"wrote {result.checkpoint}: {cfg.steps} steps in {result.seconds:.0f} s, loss "
        f"{first:.4f} -> {last:.4f}; loss curve at {result.loss_curve.sigma.size} levels"
    )
    if not last < first:
        console.print(
            f"[yellow]warning:[/yellow] the training loss did not go down ({first:.4f} -> "
            f"{last:.4f} over the first/last {window} steps); the model is likely unusable — "
            "train longer, or check --steps / --batch-size"
        )


@app.command()
def experiment(
    name: str = typer.Argument(..., help="experiment (`scorelab list experiments`)"),
    fast: bool = typer.Option(False, help="CI-sized configuration (minutes)"),
    db: str = typer.Option("scorelab-results.duckdb", help="DuckDB results file"),
    out: str = typer.Option("scorelab-experiments", help="output folder (JSON rows, figure)"),
) -> None:
    """Run a theory-reproduction experiment; rows go to the DuckDB file, figure to OUT."""
    from .experiments import get_experiment, record

    try:
        exp = get_experiment(name)
    except ValueError as err:
        _fail(str(err))
    cfg = exp.config.fast() if fast else exp.config()
    t0 = time.perf_counter()
    with console.status(name) as status:
        rows = exp.run(cfg, lambda row: status.update(exp.label(row)))
    summary, folder = record(exp, rows, db, out)
    table = Table(title=f"{name} ({time.perf_counter() - t0:.0f} s): {exp.claim}")
    for col in ("case", "quantity", "value"):
        table.add_column(col)
    for row in exp.summary_rows(summary):
        table.add_row(*row)
    console.print(table)
    console.print(f"rows -> {db} (table experiment_{name.replace('-', '_')}), figure -> {folder}")


LISTS = ("samplers", "schedules", "targets", "experiments")


def _public_name(fn) -> str:
    """The public function a registry entry calls (wrappers name it in ``__wrapped__``)."""
    return getattr(getattr(fn, "__wrapped__", fn), "__name__", "?")


def _schedule_rows() -> list[tuple[str, str, str]]:
    """(name, Python function, what it needs) for every schedule the CLI builds: the one table
    that maps registry keys to functions."""
    from .schedules import LOSS_SCHEDULES, SCHEDULES

    rows = [(k, f"schedules.{_public_name(v)}", "nothing") for k, v in SCHEDULES.items()]
    rows += [
        (
            k,
            f"schedules.{_public_name(v)}",
            "a loss curve (--loss-curve | --model | --target)",
        )
        for k, v in LOSS_SCHEDULES.items()
    ]
    rows += [
        ("ays-opt", "schedules.optimize_ays", "data samples (--model | --target)"),
        (
            "optimize",
            "scorelab.optimize_schedule",
            "--sampler and --nfe; a model, target or loss curve",
        ),
    ]
    return rows


def _nfe_rule(spec) -> str:
    """A sampler's declared cost as a formula a·K + b in the step count K (final denoise
    included), read off its NFE function at K = 10 and 20."""
    a10, a20 = spec.schedule_nfe(9), spec.schedule_nfe(19)  # 10 and 20 sampler steps
    slope = (a20 - a10) // 10
    offset = a10 - 10 * slope
    head = "K" if slope == 1 else f"{slope}K"
    return head if offset == 0 else f"{head} {'+' if offset > 0 else '−'} {abs(offset)}"


@app.command("list")
def list_names(
    what: str = typer.Argument("schedules", help=" | ".join(LISTS)),
) -> None:
    """List the samplers, schedules (with what each needs), targets or experiments."""
    if what not in LISTS:
        _fail(f"unknown list {what!r}; expected one of {', '.join(LISTS)}")
    table = Table(title=what)
    if what == "schedules":
        for col in ("name", "function", "needs"):
            table.add_column(col)
        for row in _schedule_rows():
            table.add_row(*row)
    elif what == "samplers":
        from .samplers import SAMPLERS

        for col in (
            "name",
            "function",
            "order",
            "kind",
            "NFE of K steps (last to σ = 0)",
            "source",
        ):
            table.add_column(col)
        for name, spec in SAMPLERS.items():
            kind = "SDE" if spec.stochastic else "ODE"
            table.add_row(
                name, spec.fn.__name__, f"{spec.order:g}", kind, _nfe_rule(spec), spec.reference
            )
    elif what == "targets":
        from .targets import PRESETS, get_target

        for col in ("name", "dimension", "law"):
            table.add_column(col)
        for name in sorted(PRESETS):
            target = get_target(name)
            table.add_row(name, str(target.dim), type(target).__name__)
    else:
        from .experiments import EXPERIMENTS

        for col in ("name", "claim"):
            table.add_column(col)
        for name, exp in EXPERIMENTS.items():
            table.add_row(name, exp.claim)
    console.print(table)


if __name__ == "__main__":  # pragma: no cover
    app()
