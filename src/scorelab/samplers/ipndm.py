"""iPNDM: the improved pseudo-numerical method of Zhang & Chen (2023, "Fast Sampling of Diffusion
Models with Exponential Integrator", the PNDM variant without Runge–Kutta warm-up), in the EDM
form of the probability-flow ODE dx/dσ = d(x, σ) = (x − D(x, σ))/σ.

Each step is an Adams–Bashforth step in σ with the *equal-step* coefficients of order
min(i + 1, ``max_order``) on the stored derivatives, so the first steps are lower order (the
warm start) and no extra model call is made:

order 1: d_i;  2: (3d_i − d_{i−1})/2;  3: (23d_i − 16d_{i−1} + 5d_{i−2})/12;
order 4: (55d_i − 59d_{i−1} + 37d_{i−2} − 9d_{i−3})/24;  x_{i+1} = x_i + (σ_{i+1} − σ_i)·(that).

The equal-step coefficients are what the method uses on any grid (as in the published code);
they are fourth order only on uniform σ grids. On log-SNR-uniform grids (σ_{i+1}/σ_i fixed) the
mismatch of the step ratios leaves it second order: the declared order, measured by
``tests/test_samplers.py``. A step to σ = 0 returns D. NFE = K.
"""

from __future__ import annotations

import torch

from ._common import batch_sigma, prepare, report, to_d

__all__ = ["ADAMS_BASHFORTH", "adams_bashforth_loop", "sample_ipndm"]

#: equal-step Adams–Bashforth weights on (d_i, d_{i−1}, …), by order
ADAMS_BASHFORTH = {
    1: (1.0,),
    2: (3 / 2, -1 / 2),
    3: (23 / 12, -16 / 12, 5 / 12),
    4: (55 / 24, -59 / 24, 37 / 24, -9 / 24),
}


@torch.no_grad()
def sample_ipndm(
    denoiser,
    x,
    sigmas,
    *,
    max_order: int = 4,
    generator=None,
    callback=None,
    extra_args=None,
):
    """iPNDM (module docstring): Adams–Bashforth of order up to ``max_order`` (1–4) on the
    PF-ODE derivative in σ, lower order while the history fills. NFE = K."""
    return adams_bashforth_loop(
        denoiser,
        x,
        sigmas,
        lambda levels, i, order: ADAMS_BASHFORTH[order],
        max_order=max_order,
        generator=generator,
        callback=callback,
        extra_args=extra_args,
    )


def adams_bashforth_loop(
    denoiser, x, sigmas, weights, *, max_order, generator, callback, extra_args
) -> torch.Tensor:
    """The multistep loop shared by ``ipndm`` and ``ipndm_v``: at level i, x_{i+1} = x_i +
    (σ_{i+1} − σ_i)·Σ_j w_j d_{i−j} with ``weights(levels, i, order)`` → (w_0, …) for the
    stored derivatives (newest first, ``order`` of them); a step to σ = 0 returns D."""
    if max_order not in ADAMS_BASHFORTH:
        raise ValueError(f"max_order must be 1, 2, 3 or 4, got {max_order!r}")
    denoiser, x, sigmas = prepare(denoiser, x, sigmas, generator, extra_args)
    levels = [float(s) for s in sigmas]
    history: list[torch.Tensor] = []
    for i in range(len(levels) - 1):
        denoised = denoiser(x, batch_sigma(x, sigmas[i]))
        report(callback, i, x, sigmas[i], sigmas[i + 1], denoised)
        if levels[i + 1] == 0.0:
            x = denoised
            break
        history.insert(0, to_d(x, sigmas[i], denoised))
        del history[max_order:]
        w = weights(levels, i, len(history))
        slope = sum(wj * d for wj, d in zip(w, history, strict=True))
        x = x + (sigmas[i + 1] - sigmas[i]) * slope
    return x
