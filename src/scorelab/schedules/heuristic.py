"""Heuristic σ schedules (units: σ, the VE/EDM noise level)."""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import processes
from .._validation import (
    as_float64_array,
    check_positive_int,
    check_positive_scalar,
    check_sigma_range,
    check_sigmas,
)

__all__ = [
    "AYS_SD15_SIGMAS",
    "align_your_steps",
    "append_zero",
    "beta_schedule",
    "check_sigmas",
    "cosine",
    "ddpm_respaced",
    "karras",
    "kl_optimal",
    "log_snr_uniform",
    "polyexponential",
    "quadratic_vp_time",
    "theory_learning_rate",
    "uniform_vp_time",
]


def append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    """Append σ = 0 (a final 'denoise to x̂0' step)."""
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def karras(
    steps: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
    *,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """EDM / Karras et al. (2022, eq. 5): σ_i = (σ_max^{1/ρ} + i/K (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ,
    i = 0..K (K = ``steps`` intervals)."""
    steps = check_positive_int("steps", steps)
    lo, hi = check_sigma_range(sigma_min, sigma_max)
    rho = check_positive_scalar("rho", rho)
    ramp = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
    s = (hi ** (1 / rho) + ramp * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho
    return _finish(s, lo, hi, final_zero, dtype, device)


def log_snr_uniform(
    steps: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Uniform in log σ, i.e. uniform in log-SNR λ = −2 log σ (k-diffusion's 'exponential')."""
    steps = check_positive_int("steps", steps)
    lo, hi = check_sigma_range(sigma_min, sigma_max)
    s = torch.exp(torch.linspace(math.log(hi), math.log(lo), steps + 1, dtype=torch.float64))
    return _finish(s, lo, hi, final_zero, dtype, device)


def _finish(
    values: torch.Tensor, lo: float, hi: float, final_zero: bool, dtype, device
) -> torch.Tensor:
    """Pin the endpoints exactly, cast, optionally append 0, and validate."""
    values = values.to(torch.float64)
    values[0], values[-1] = hi, lo
    out = values.to(dtype=dtype, device=device)
    if final_zero:
        out = append_zero(out)
    return check_sigmas(out)


def polyexponential(
    steps: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 1.0,
    *,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """k-diffusion's polyexponential: log σ_i = log σ_min + (1 − i/K)^ρ (log σ_max − log σ_min).
    ρ = 1 is log-SNR uniform; ρ > 1 puts more steps at small σ."""
    steps = check_positive_int("steps", steps)
    lo, hi = check_sigma_range(sigma_min, sigma_max)
    rho = check_positive_scalar("rho", rho)
    ramp = torch.linspace(1, 0, steps + 1, dtype=torch.float64) ** rho
    s = torch.exp(ramp * (math.log(hi) - math.log(lo)) + math.log(lo))
    return _finish(s, lo, hi, final_zero, dtype, device)


def _vp_time_grid(steps, sigma_min, sigma_max, beta_d, beta_min, power, fractions=None):
    """σ at VP times t_lo + (t_hi − t_lo)·u, u = ``fractions`` (from 1 down to 0) or
    linspace(1, 0)^power."""
    steps = check_positive_int("steps", steps)
    lo, hi = check_sigma_range(sigma_min, sigma_max)
    top = processes.vp_time_to_sigma(1.0, beta_d, beta_min)
    if hi > top:
        raise ValueError(
            f"sigma_max={hi} exceeds the VP process' largest σ(t=1)={top:.6g} "
            f"(beta_d={beta_d}, beta_min={beta_min})"
        )
    t_hi = processes.sigma_to_vp_time(hi, beta_d, beta_min)
    t_lo = processes.sigma_to_vp_time(lo, beta_d, beta_min)
    u = np.linspace(1.0, 0.0, steps + 1) ** power if fractions is None else fractions
    t = t_lo + (t_hi - t_lo) * u
    return torch.as_tensor(processes.vp_time_to_sigma(t, beta_d, beta_min)), lo, hi


def uniform_vp_time(
    steps: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    beta_d: float = 19.9,
    beta_min: float = 0.1,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Uniform in continuous VP time t (linear β(t) = β_min + β_d t, the T → ∞ limit of DDPM's
    linear betas; Song et al. 2021), σ(t) = sqrt(expm1(½β_d t² + β_min t)). Same grid as
    k-diffusion's ``get_sigmas_vp`` when its endpoints are given in σ."""
    s, lo, hi = _vp_time_grid(steps, sigma_min, sigma_max, beta_d, beta_min, 1.0)
    return _finish(s, lo, hi, final_zero, dtype, device)


def quadratic_vp_time(
    steps: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    beta_d: float = 19.9,
    beta_min: float = 0.1,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """DDIM's "quad" spacing: VP time quadratic in the step index, t_i = t_lo + (t_hi − t_lo)(1 −
    i/K)² (Song, Meng & Ermon 2021, §D.2), so steps are denser at small t."""
    s, lo, hi = _vp_time_grid(steps, sigma_min, sigma_max, beta_d, beta_min, 2.0)
    return _finish(s, lo, hi, final_zero, dtype, device)


def flow_time(
    steps: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    shift: float = 1.0,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """What flow-matching schedulers run (diffusers' ``FlowMatchEulerDiscreteScheduler``, SD3,
    Flux): flow time t = σ/(1 + σ) uniform before the shift t′ = s t/(1 + (s−1) t), i.e.
    σ′ = s σ. The endpoints stay at ``sigma_min``/``sigma_max``: the pre-shift times run
    uniformly between the unshifted images of the two, so ``shift`` sets where the steps
    crowd (s > 1: toward high noise) and not the range."""
    steps = check_positive_int("steps", steps)
    lo, hi = check_sigma_range(sigma_min, sigma_max)
    if not (math.isfinite(shift) and shift > 0):
        raise ValueError(f"shift must be finite and > 0, got {shift}")
    t_hi, t_lo = (processes.sigma_to_flow_time(v / shift) for v in (hi, lo))
    t = torch.linspace(t_hi, t_lo, steps + 1, dtype=torch.float64)
    return _finish(shift * t / (1.0 - t), lo, hi, final_zero, dtype, device)


def cosine(
    steps: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """iDDPM cosine schedule (Nichol & Dhariwal 2021): ᾱ(t) = cos²(π/2·(t+s)/(1+s)) gives
    σ(t) = tan(π/2·(t+s)/(1+s)), so uniform steps in t are uniform steps in arctan σ whatever the
    offset s; σ_i = tan(atan σ_max + i/K (atan σ_min − atan σ_max))."""
    steps = check_positive_int("steps", steps)
    lo, hi = check_sigma_range(sigma_min, sigma_max)
    u = torch.linspace(math.atan(hi), math.atan(lo), steps + 1, dtype=torch.float64)
    return _finish(torch.tan(u), lo, hi, final_zero, dtype, device)


def kl_optimal(
    steps: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """The "KL-optimal" schedule of Sabour, Fidler & Kreis 2024 (arXiv 2404.14507, the closed
    form users know from ComfyUI): σ_i = tan(u_i·atan σ_min + (1 − u_i)·atan σ_max), u_i = i/K.
    The same grid as :func:`cosine` (iDDPM's cosine ᾱ is uniform in atan σ); kept under its own
    name so that tables show the baseline practitioners pick."""
    return cosine(steps, sigma_min, sigma_max, final_zero=final_zero, dtype=dtype, device=device)


def beta_schedule(
    steps: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    *,
    alpha: float = 0.6,
    beta: float = 0.6,
    beta_d: float = 19.9,
    beta_min: float = 0.1,
    time: str = "vp",
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """The Beta schedule (Lee et al. 2024, "Beta Sampling is All You Need"; ComfyUI's ``beta``
    scheduler, default α = β = 0.6): the fraction of the model's time left after step i is the
    Beta(α, β) quantile of 1 − i/K, so steps crowd at both ends. ComfyUI applies it to a
    model's own timesteps; here ``time="vp"`` is continuous VP time with linear
    β(t) = β_min + β_d t (as :func:`uniform_vp_time`) and ``time="flow"`` is flow-matching time
    t = σ/(1 + σ) (what ComfyUI does for flow models), between the times of ``sigma_min`` and
    ``sigma_max``."""
    from scipy.stats import beta as beta_law

    alpha = check_positive_scalar("alpha", alpha)
    beta = check_positive_scalar("beta", beta)
    steps = check_positive_int("steps", steps)
    u = beta_law.ppf(np.linspace(1.0, 0.0, steps + 1), alpha, beta)
    if time == "flow":
        lo, hi = check_sigma_range(sigma_min, sigma_max)
        t_lo, t_hi = processes.sigma_to_flow_time(lo), processes.sigma_to_flow_time(hi)
        t = torch.as_tensor(t_lo + u * (t_hi - t_lo), dtype=torch.float64)
        return _finish(t / (1.0 - t), lo, hi, final_zero, dtype, device)
    if time != "vp":
        raise ValueError(f"time must be 'vp' or 'flow', got {time!r}")
    s, lo, hi = _vp_time_grid(steps, sigma_min, sigma_max, beta_d, beta_min, 1.0, fractions=u)
    return _finish(s, lo, hi, final_zero, dtype, device)


def ddpm_respaced(
    steps: int,
    *,
    spacing: str = "uniform",
    betas: np.ndarray | None = None,
    beta_schedule: str = "linear",
    num_train_timesteps: int = 1000,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """σ's of a subsequence of a discrete DDPM model's training timesteps (respacing).

    ``spacing`` (diffusers' ``timestep_spacing`` conventions, T = ``num_train_timesteps``):

    * ``uniform`` (diffusers "linspace"): round(linspace(0, T−1, K+1)) — hits both ends;
    * ``leading``: (T // (K+1))·i, i = 0..K — starts at 0, stops short of T−1;
    * ``trailing``: round(T − i·T/(K+1)) − 1, i = 0..K — starts at T−1, stops short of 0.

    Returns K+1 decreasing σ's (K sampler steps between them) and the timesteps used are
    :func:`ddpm_respaced_timesteps`.
    """
    t = ddpm_respaced_timesteps(steps, spacing=spacing, num_train_timesteps=num_train_timesteps)
    if betas is None:
        betas = processes.ddpm_betas(beta_schedule, num_train_timesteps)
    table = processes.ddpm_sigmas(as_float64_array("betas", betas, ndim=1))
    if table.size != num_train_timesteps:
        raise ValueError(
            f"betas has {table.size} entries, num_train_timesteps={num_train_timesteps}"
        )
    s = torch.as_tensor(table[t[::-1].copy()])
    return _finish(s, float(s[-1]), float(s[0]), final_zero, dtype, device)


def ddpm_respaced_timesteps(
    steps: int, *, spacing: str = "uniform", num_train_timesteps: int = 1000
) -> np.ndarray:
    """Increasing integer timesteps (K+1 of them) of :func:`ddpm_respaced`."""
    steps = check_positive_int("steps", steps)
    T = check_positive_int("num_train_timesteps", num_train_timesteps, minimum=2)
    n = steps + 1
    if n > T:
        raise ValueError(f"steps + 1 = {n} exceeds the {T} training timesteps")
    if spacing == "uniform":
        t = np.round(np.linspace(0, T - 1, n)).astype(np.int64)
    elif spacing == "leading":
        t = np.arange(n, dtype=np.int64) * (T // n)
    elif spacing == "trailing":
        t = (np.round(T - np.arange(n) * (T / n)) - 1).astype(np.int64)[::-1]
    else:
        raise ValueError(
            f"unknown spacing {spacing!r}; expected 'uniform', 'leading' or 'trailing'"
        )
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{spacing!r} spacing gives repeated timesteps for steps={steps}")
    return t


#: The 10-step Stable Diffusion 1.5 σ's published with Align Your Steps (Sabour et al. 2024).
AYS_SD15_SIGMAS = (14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029)


def align_your_steps(
    steps: int,
    reference=AYS_SD15_SIGMAS,
    *,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Align-Your-Steps-style resampling of a reference schedule to K steps: log σ interpolated
    linearly in the normalised step index (Sabour, Fidler & Kreis 2024, "log-linear
    interpolation"). Endpoints are the reference's."""
    steps = check_positive_int("steps", steps)
    ref = as_float64_array("reference", reference, ndim=1)
    check_sigmas(torch.tensor(ref.copy()))
    if ref[-1] <= 0:
        raise ValueError("reference must end at a positive σ (no final 0)")
    xs = np.linspace(0, 1, ref.size)
    s = np.exp(np.interp(np.linspace(0, 1, steps + 1), xs, np.log(ref)))
    return _finish(torch.as_tensor(s), float(ref[-1]), float(ref[0]), final_zero, dtype, device)


def theory_learning_rate(
    steps: int,
    *,
    c0: float = 2.0,
    c1: float = 4.0,
    final_zero: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """The learning-rate (β) schedule analysed by the convergence theory of DDPM-type samplers
    (Li et al. 2024, arXiv 2403.03852; Li & Yan, "O(d/T)", eq. (2.3)), T = ``steps``:

    β_1 = T^{−c0},  β_{t+1} = (c1 log T / T)·min{β_1 (1 + c1 log T / T)^t, 1},

    ᾱ_t = Π_{k≤t}(1 − β_k), σ_t = sqrt((1 − ᾱ_t)/ᾱ_t). Returns σ_T > … > σ_1 (T+1 levels would
    need σ_0 = 0: use ``final_zero``); endpoints follow from (T, c0, c1): for T = 100 the defaults
    give σ_1 = 0.01 and σ_T ≈ 1e2. β_t ≥ 1 (too small c1 log T/T growth) is rejected."""
    steps = check_positive_int("steps", steps)
    c0 = check_positive_scalar("c0", c0)
    c1 = check_positive_scalar("c1", c1)
    T = steps + 1  # T levels give T − 1 = steps sampler steps
    rate = c1 * math.log(T) / T
    beta = np.empty(T)
    beta[0] = T ** (-c0)
    t = np.arange(1, T)
    beta[1:] = rate * np.minimum(beta[0] * (1 + rate) ** t, 1.0)
    if np.any(beta >= 1):
        raise ValueError(f"c1 log T / T = {rate:.3g} must be < 1 (got β ≥ 1); lower c1")
    ab = np.exp(np.cumsum(np.log1p(-beta)))
    s = torch.as_tensor(np.sqrt(-np.expm1(np.log(ab)) / ab)[::-1].copy())
    return _finish(s, float(s[-1]), float(s[0]), final_zero, dtype, device)
