"""Benchmark suites (TOML) and their expansion into cells.

Peers: ``"k-diffusion:NAME"`` (with ``peer_schedules``, k-diffusion's grid functions) and
``"diffusers:NAME"`` (with ``diffusers_schedules``: ``default``, ``karras``, ``exponential``,
``beta``; DDIM and DDPM run their default spacing only).

A suite file holds ``samples``, ``seeds``, ``nfe`` (budgets), ``score_errors`` (RMS error of the
denoiser, in data units, injected as a smooth bias field), ``sigma_min``/``sigma_max``,
``samplers`` and ``schedules`` (scorelab's), ``peers`` (``"k-diffusion:NAME"``) with
``peer_schedules`` (k-diffusion's grid functions) and ``[[targets]]`` tables naming presets
(``name``; optional ``extra_schedules``: scorelab schedules run on that target only, e.g. a
costly one where it matters). Every
combination is a :class:`Cell`; its :meth:`Cell.key` is a hash of everything that determines the
result, so reruns skip finished cells.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, replace
from importlib import resources
from itertools import product
from pathlib import Path

from ..compat.diffusers import DIFFUSERS_SIGMA_OPTIONS
from ..methods import KD_SCHEDULES, METHODS, get_method
from ..samplers import SAMPLERS
from ..schedules import ALIASES, LOSS_SCHEDULES, SCHEDULES
from ..targets import PRESETS
from .model_target import check_model_source, is_model_target, model_target_name

__all__ = ["KD_SCHEDULES", "Cell", "Suite", "load_suite", "peer_library_available"]

#: k-diffusion peers: name -> NFE for K steps ending at σ = 0 (from the method registry)
_KEYS = {
    "name",
    "diffusers_schedules",
    "samples",
    "seeds",
    "nfe",
    "score_errors",
    "sigma_min",
    "sigma_max",
    "samplers",
    "schedules",
    "peers",
    "peer_schedules",
    "targets",
}


#: the bench schedule of ``scorelab schedule optimize``: per sampler, budget and target, the grid
#: :func:`scorelab.schedules.recommend.recommended_schedule` picks from the target's loss curve
#: (``gauss-opt`` on data still continuous at σ_min, built for that very sampler)
OPTIMIZE = "optimize"


@dataclass(frozen=True)
class Cell:
    """One benchmark run: ``method`` is ``scorelab:NAME`` or ``k-diffusion:NAME``."""

    target: str
    method: str
    schedule: str
    nfe_budget: int
    seed: int
    score_error: float
    samples: int
    sigma_min: float
    sigma_max: float

    def key(self) -> str:
        payload = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    @property
    def is_peer(self) -> bool:
        return get_method(self.method).is_peer


@dataclass(frozen=True)
class Suite:
    name: str
    cells: tuple[Cell, ...]
    source: str
    #: how much the suite's curves and ``optimize`` grids measure (:data:`scorelab.effort.EFFORT`)
    effort: str = "full"

    def with_model(self, path: str | Path, data: str | None = None) -> Suite:
        """The suite's methods × budgets × seeds on the model ``path`` instead of its targets
        (``scorelab bench --model``): a scorelab checkpoint, or a diffusers folder scored
        against ``data`` (see :mod:`scorelab.bench.model_target`); every cell's target becomes
        its :func:`~scorelab.bench.model_target.model_target_name`."""
        path = Path(path)
        if data is not None and not path.is_dir():
            raise ValueError(f"--data is for diffusers model folders; {path} is not a folder")
        name = model_target_name(path, data)
        check_model_source(name)
        keep = {}
        for c in self.cells:  # one cell per method, schedule, budget, seed and error
            cell = replace(c, target=name)
            keep.setdefault(cell.key(), cell)
        return Suite(f"{self.name}@{path.name}", tuple(keep.values()), self.source, self.effort)

    def smoke(self) -> Suite:
        """The seconds-sized version of the suite (``SCORELAB_SMOKE=1``): its first two targets,
        first NFE budget, seed and score error, 64 samples per cell, effort ``smoke``; every
        method kept."""
        cells = self.cells
        targets = list(dict.fromkeys(c.target for c in cells))[:2]
        first = cells[0]
        keep = [
            replace(c, samples=64)
            for c in cells
            if c.target in targets
            and (c.nfe_budget, c.seed, c.score_error)
            == (first.nfe_budget, first.seed, first.score_error)
        ]
        return Suite(f"{self.name}-smoke", tuple(keep), self.source, "smoke")


def peer_library_available(method: str) -> bool:
    """Whether the library of a method (``lib:NAME``) can be imported here."""
    lib = get_method(method).library
    if lib == "k-diffusion":
        from ..compat.k_diffusion import KDiffusionUnavailable, load_sampling

        try:
            load_sampling()
        except KDiffusionUnavailable:
            return False
        return True
    if lib == "diffusers":
        import importlib.util

        return importlib.util.find_spec("diffusers") is not None
    return lib == "scorelab"


#: σ range a suite may span: what the samplers and targets are tested on (σ = 1e-4 … 1e4)
SIGMA_RANGE = (1e-4, 1e4)


def _fail(source: str, message: str) -> None:
    raise ValueError(f"suite {source}: {message}")


def load_suite(name_or_path: str) -> Suite:
    """Load a shipped suite (``quick``, ``standard``) or a TOML file."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            raise FileNotFoundError(f"suite file not found: {path}")
        text, source = path.read_text(), str(path)
    else:
        shipped = resources.files("scorelab.bench") / "suites" / f"{name_or_path}.toml"
        if not shipped.is_file():
            raise ValueError(
                f"unknown suite {name_or_path!r}; use quick, standard, digits, fashion or a "
                ".toml file"
            )
        text, source = shipped.read_text(), f"{name_or_path} (shipped)"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"suite {source}: invalid TOML: {err}") from err
    return Suite(data.get("name", path.stem), tuple(_expand(data, source)), source)


def _expand(data: dict, source: str) -> list[Cell]:
    unknown = set(data) - _KEYS
    if unknown:
        _fail(source, f"unknown keys {sorted(unknown)}")
    for key in ("samples", "seeds", "nfe", "targets"):
        if key not in data:
            _fail(source, f"missing required key {key!r}")
    samples = data["samples"]
    if not isinstance(samples, int) or samples < 16:
        _fail(source, f"samples must be an int >= 16, got {samples!r}")
    nfe = data["nfe"]
    if not nfe or not all(isinstance(b, int) and b >= 1 for b in nfe):
        _fail(source, f"nfe must be a list of positive ints, got {nfe!r}")
    errors = data.get("score_errors", [0.0])
    if not all(isinstance(e, (int, float)) and e >= 0 for e in errors):
        _fail(source, f"score_errors must be numbers >= 0, got {errors!r}")
    lo, hi = float(data.get("sigma_min", 0.002)), float(data.get("sigma_max", 80.0))
    if not 0 < lo < hi:
        _fail(source, f"need 0 < sigma_min < sigma_max, got {lo}, {hi}")
    if lo < SIGMA_RANGE[0] or hi > SIGMA_RANGE[1]:
        _fail(
            source,
            f"sigma_min, sigma_max = {lo:g}, {hi:g} leave the supported range "
            f"[{SIGMA_RANGE[0]:g}, {SIGMA_RANGE[1]:g}] (samplers and targets are tested there)",
        )
    targets = [t.get("name") for t in data["targets"]]
    for t in targets:
        if isinstance(t, str) and is_model_target(t):
            try:
                check_model_source(t)
            except (ValueError, FileNotFoundError) as err:
                _fail(source, f"target {t!r}: {err}")
        elif t not in PRESETS:
            _fail(source, f"unknown target {t!r}; choose from {sorted(PRESETS)} or model:PATH")
    extra: dict[str, list[str]] = {}  # target -> its extra_schedules
    for entry in data["targets"]:
        unknown_keys = set(entry) - {"name", "extra_schedules"}
        if unknown_keys:
            _fail(source, f"target {entry.get('name')!r}: unknown keys {sorted(unknown_keys)}")
        extra[entry["name"]] = list(entry.get("extra_schedules", []))
    for sched in [*data.get("schedules", ["karras"]), *(x for v in extra.values() for x in v)]:
        if (
            sched not in LOSS_SCHEDULES
            and sched != OPTIMIZE
            and ALIASES.get(sched, sched) not in SCHEDULES
        ):
            known = sorted(SCHEDULES) + sorted(LOSS_SCHEDULES) + [OPTIMIZE]
            _fail(source, f"unknown schedule {sched!r}; choose from {known}")
    methods: list[tuple[str, str]] = []
    for s in data.get("samplers", []):
        if s not in SAMPLERS:
            _fail(source, f"unknown sampler {s!r}; choose from {sorted(SAMPLERS)}")
        methods.extend((f"scorelab:{s}", sched) for sched in data.get("schedules", ["karras"]))
    for sched in data.get("peer_schedules", []):
        if sched not in KD_SCHEDULES:
            _fail(source, f"unknown peer schedule {sched!r}; choose from {KD_SCHEDULES}")
    for sched in data.get("diffusers_schedules", []):
        if sched not in DIFFUSERS_SIGMA_OPTIONS:
            _fail(
                source,
                f"unknown diffusers schedule {sched!r}; choose from "
                f"{sorted(DIFFUSERS_SIGMA_OPTIONS)}",
            )
    supported = [k for k, m in METHODS.items() if m.is_peer]
    for peer in data.get("peers", []):
        if peer not in supported:
            _fail(source, f"unknown peer {peer!r}; supported: {', '.join(supported)}")
        method = METHODS[peer]
        if method.library == "k-diffusion":
            scheds = data.get("peer_schedules", ["karras"])
        elif method.schedules == ("default",):  # no σ options: their default spacing only
            scheds = ["default"]
        else:
            scheds = data.get("diffusers_schedules", ["default"])
        methods.extend((peer, sched) for sched in scheds)
    if not methods:
        _fail(source, "no samplers or peers")
    cells = [
        Cell(t, m, sched, b, seed, float(e), samples, lo, hi)
        for t, (m, sched), b, seed, e in product(targets, methods, nfe, data["seeds"], errors)
    ]
    samplers = [f"scorelab:{s}" for s in data.get("samplers", [])]
    cells += [  # a target's extra_schedules, for the scorelab samplers only
        Cell(t, m, sched, b, seed, float(e), samples, lo, hi)
        for t in targets
        for m, sched, b, seed, e in product(samplers, extra[t], nfe, data["seeds"], errors)
    ]
    return cells
