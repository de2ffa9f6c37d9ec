"""Exact output laws (scorelab.exact) against closed forms and against each other."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from scorelab.exact import (
    collinear_projection,
    exact_output_1d,
    exact_output_collinear,
    gaussian_output_kl,
    gaussian_output_law,
    mmse_1d,
)
from scorelab.samplers import SAMPLERS
from scorelab.schedules import karras
from scorelab.targets import Discrete, Gaussian, GaussianMixture

VAR = 0.7
G1 = Gaussian(np.zeros(1), np.array([VAR]))
M1 = GaussianMixture([1.0], np.zeros((1, 1)), [VAR])
ATOMS = Discrete(np.array([[-1.0], [0.2], [0.5], [1.5]]), [0.1, 0.4, 0.3, 0.2])


def ddpm_output_variance(s: float, sigmas) -> float:
    """Frozen-x0 sampler on N(0, s): x_b = (r + (1 − r)c_a) x_a + σ_b sqrt(1 − r) ξ,
    r = σ_b²/σ_a², c_a = s/(s + σ_a²), from the exact law at σ_0."""
    v = s + float(sigmas[0]) ** 2
    for a, b in itertools.pairwise([float(x) for x in sigmas]):
        r = b**2 / a**2
        gain = r + (1 - r) * s / (s + a**2)
        v = gain**2 * v + b**2 * (1 - r)
    return v


def kl_1d(p: float, q: float) -> float:
    return 0.5 * (p / q - 1 - np.log(p / q))


@pytest.mark.parametrize("steps", [2, 7, 30])
def test_gaussian_tracking_equals_the_variance_recursion(steps):
    s = np.array([0.05, 0.5, 2.0])
    target = Gaussian(np.zeros(3), s)
    sig = karras(steps, 0.01, 80.0)
    C = gaussian_output_law("ddpm", target, sig).numpy()
    want = [ddpm_output_variance(si, sig) for si in s]
    np.testing.assert_allclose(np.diag(C), want, rtol=1e-10)
    np.testing.assert_allclose(C - np.diag(np.diag(C)), 0, atol=1e-12)
    kl = sum(kl_1d(si + 0.01**2, w) for si, w in zip(s, want, strict=True))
    assert gaussian_output_kl("ddpm", target, sig) == pytest.approx(kl, rel=1e-9)


@pytest.mark.parametrize("steps", [3, 8])
@pytest.mark.parametrize("sampler", ["ddpm", "euler_maruyama", "dpmpp_2m", "heun", "unipc"])
def test_1d_routes_equal_the_gaussian_closed_form(sampler, steps):
    sig = karras(steps, 0.01, 80.0)
    exact = gaussian_output_kl(sampler, G1, sig)
    got = exact_output_1d(sampler, M1, sig)
    assert got.method == ("markov-kernel" if SAMPLERS[sampler].markov else "quadrature")
    assert got.kl_continuous == pytest.approx(exact, rel=5e-3, abs=1e-5)


def test_monte_carlo_route_reports_its_floor():
    sig = karras(5, 0.01, 80.0)
    exact = gaussian_output_kl("dpmpp_2m_sde", G1, sig)
    got = exact_output_1d("dpmpp_2m_sde", M1, sig, monte_carlo_samples=1 << 18)
    assert got.method == "monte-carlo"
    assert got.floor_continuous > 0
    assert abs(got.kl_continuous - exact) < 3 * got.floor_continuous + 2e-3


def test_markov_kernel_agrees_with_monte_carlo_on_atoms():
    sig = karras(6, 0.002, 80.0)
    kernel = exact_output_1d("ddpm", ATOMS, sig)
    mc_spec = dataclasses.replace(SAMPLERS["ddpm"], markov=False)
    mc = exact_output_1d(mc_spec, ATOMS, sig, monte_carlo_samples=1 << 19)
    assert kernel.kl_snapped > 0.05  # a coarse grid: a visible error to compare
    assert kernel.kl_snapped == pytest.approx(mc.kl_snapped, rel=0.03)
    np.testing.assert_allclose(kernel.masses, mc.masses, atol=3e-3)
    assert abs(kernel.kl_continuous - mc.kl_continuous) < 3 * mc.floor_continuous + 0.01


def test_markov_kernel_converges_in_resolution():
    sig = karras(6, 0.002, 80.0)
    coarse = exact_output_1d("ddpm", ATOMS, sig, resolution=8)
    fine = exact_output_1d("ddpm", ATOMS, sig, resolution=32)
    assert coarse.kl_snapped == pytest.approx(fine.kl_snapped, rel=0.02)
    assert coarse.kl_continuous == pytest.approx(fine.kl_continuous, rel=0.02)
    assert fine.masses.sum() == pytest.approx(1.0, abs=1e-9)


def test_quadrature_converges_in_points():
    sig = karras(6, 0.002, 80.0)
    a = exact_output_1d("dpmpp_2m", ATOMS, sig, quadrature_points=1 << 14)
    b = exact_output_1d("dpmpp_2m", ATOMS, sig, quadrature_points=1 << 18)
    assert a.kl_snapped == pytest.approx(b.kl_snapped, rel=1e-2)
    assert a.kl_continuous == pytest.approx(b.kl_continuous, rel=2e-2)


def test_a_perturbed_denoiser_is_worse_than_the_exact_one():
    sig = karras(10, 0.002, 80.0)
    exact = exact_output_1d("ddpm", ATOMS, sig)
    biased = exact_output_1d("ddpm", ATOMS, sig, denoiser=lambda x, s: ATOMS(x, s) + 0.05)
    assert biased.kl_snapped > exact.kl_snapped + 0.01


def test_mmse_1d_matches_closed_form_and_monte_carlo():
    s = np.array([0.01, 0.1, 0.5, 2.0, 30.0])
    np.testing.assert_allclose(mmse_1d(M1, s), VAR * s**2 / (VAR + s**2), rtol=1e-9)
    mc = ATOMS.mmse(s[1:], num_samples=100_000, seed=0)
    np.testing.assert_allclose(mmse_1d(ATOMS, s[1:]), mc, rtol=0.02)


def test_bad_input_is_rejected_with_a_clear_error():
    with pytest.raises(ValueError, match="sigma_K > 0"):
        exact_output_1d("ddpm", ATOMS, torch.tensor([80.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match="1-D GaussianMixture"):
        exact_output_1d("ddpm", Discrete.random_code(4, 2), karras(3))
    with pytest.raises(ValueError, match="unknown sampler"):
        exact_output_1d("nope", ATOMS, karras(3))
    with pytest.raises(ValueError, match="strictly decreasing"):
        exact_output_1d("ddpm", ATOMS, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="centred"):
        gaussian_output_kl("ddpm", Gaussian(np.ones(2), 1.0), karras(3))


def test_a_sampler_with_hidden_noise_is_refused():
    def hidden(denoiser, x, sigmas, **_):
        return x + torch.randn_like(x)  # torch's global generator, not scorelab's noise source

    with pytest.raises(ValueError, match="outside scorelab's noise_source"):
        exact_output_1d(hidden, ATOMS, karras(3))
    with pytest.raises(ValueError, match="outside scorelab's noise_source"):
        gaussian_output_law(hidden, G1, karras(3))


# --- collinear isotropic mixtures in d dimensions ---

U5 = np.array([1.0, 2.0, 0.0, -2.0, 4.0]) / 5.0
LINE5 = GaussianMixture([0.3, 0.7], np.stack([-1.5 * U5, 1.0 * U5]), [0.1, 0.1])


@pytest.mark.parametrize("sampler", ["dpmpp_2m", "unipc"])
def test_collinear_projection_runs_the_1d_sampler_exactly(sampler):
    """A deterministic sampler's output projected on the line equals the same sampler run on the
    1-D projected law from the projected start (to rounding), and the orthogonal part shrinks by
    the N(0, v) factor whatever the projection: the decomposition behind exact_output_collinear."""
    sig = karras(6, 0.01, 80.0)
    line, orth, count = collinear_projection(LINE5)
    assert count == 4 and orth.covariance[0, 0] == pytest.approx(0.1)
    x = LINE5.sample_noised(4096, 80.0, torch.Generator().manual_seed(0), dtype=torch.float64)[1]
    u = torch.as_tensor(U5)
    out = SAMPLERS[sampler](LINE5, x.clone(), sig)
    along = SAMPLERS[sampler](line, (x @ u)[:, None], sig)[:, 0]
    torch.testing.assert_close(out @ u, along, rtol=1e-9, atol=1e-9)
    perp_in = x - (x @ u)[:, None] * u
    perp_out = out - (out @ u)[:, None] * u
    gain = float(SAMPLERS[sampler](orth, torch.ones(1, 1, dtype=torch.float64), sig))
    torch.testing.assert_close(perp_out, gain * perp_in, rtol=1e-9, atol=1e-9)


def test_collinear_atoms_snapped_masses_match_a_d_dimensional_run():
    atoms = Discrete(np.outer([-1.0, 0.0, 0.7, 2.0], U5[:3] / np.linalg.norm(U5[:3])))
    sig = karras(6, 0.002, 80.0)
    exact = exact_output_collinear("ddpm", atoms, sig)
    assert exact.kl_snapped > 0.02  # coarse enough to have something to compare
    gen = torch.Generator().manual_seed(1)
    x = atoms.sample_noised(1 << 18, 80.0, gen, dtype=torch.float64)[1]
    out = SAMPLERS["ddpm"](atoms, x, sig, generator=gen)
    mc = np.bincount(atoms.nearest_atom(out).numpy(), minlength=4) / out.shape[0]
    np.testing.assert_allclose(exact.masses, mc, atol=4e-3)


@pytest.mark.parametrize("sampler", ["dpmpp_2m", "heun"])
def test_collinear_kl_of_a_single_centred_component_is_the_gaussian_closed_form(sampler):
    # quadrature samplers: the 1-D part is then exact to O(1/n); the Markov route's resolution
    # error is covered by test_markov_kernel_converges_in_resolution
    sig = karras(5, 0.01, 80.0)
    one = GaussianMixture([1.0], np.zeros((1, 6)), [0.3])
    got = exact_output_collinear(sampler, one, sig)
    assert got.kl_continuous == pytest.approx(
        gaussian_output_kl(sampler, Gaussian(np.zeros(6), 0.3), sig), rel=5e-3
    )


def test_collinear_route_refuses_mixtures_it_cannot_split():
    sig = karras(3, 0.01, 80.0)
    with pytest.raises(ValueError, match="one line through 0"):
        exact_output_collinear("ddpm", GaussianMixture([0.5, 0.5], np.eye(2), 0.1), sig)
    with pytest.raises(ValueError, match="share one variance"):
        exact_output_collinear(
            "ddpm", GaussianMixture([0.5, 0.5], [[1.0, 0], [-1, 0]], [0.1, 0.2]), sig
        )
    with pytest.raises(ValueError, match="isotropic GaussianMixture"):
        exact_output_collinear("ddpm", Gaussian(np.zeros(2), 1.0), sig)
