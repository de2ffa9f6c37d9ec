"""Loss curves: measured for any parametrisation, recorded during training, processed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scorelab.loss_curve import LossCurve, measure_loss_curve, training_loss_to_x0
from scorelab.oracles import ErrorInjectedDenoiser, denoiser_to_eps, denoiser_to_v
from scorelab.targets import Gaussian

G = Gaussian(np.zeros(4), np.array([0.3, 0.6, 1.0, 2.0]))
LEVELS = np.geomspace(0.05, 5.0, 6)


@pytest.mark.parametrize("param", ["x0", "eps", "v"])
def test_measured_loss_of_exact_denoiser_is_mmse(param):
    model = {"x0": G, "eps": denoiser_to_eps(G), "v": denoiser_to_v(G)}[param]
    curve = measure_loss_curve(
        model, G, LEVELS, samples_per_level=4000, parametrisation=param, dtype=torch.float64
    )
    exact = G.mmse(LEVELS)
    assert np.all(np.abs(curve.loss_x0 - exact) <= 5 * curve.stderr)
    assert curve.metadata["parametrisation"] == param


def test_measured_loss_includes_injected_excess():
    eps = 0.2
    model = ErrorInjectedDenoiser(G, eps, kind="bias", space="denoiser")
    curve = measure_loss_curve(model, G, LEVELS, samples_per_level=3000, dtype=torch.float64)
    # L_x0 = mmse + e² + 2E⟨x0 − m, e⟩ and the cross term vanishes (e is a function of x_σ)
    assert np.all(np.abs(curve.loss_x0 - (G.mmse(LEVELS) + eps**2)) <= 5 * curve.stderr)


def test_measure_from_data_tensor_and_reproducible():
    data = G.sample(500, torch.Generator().manual_seed(0))
    a = measure_loss_curve(G, data, LEVELS, samples_per_level=64, seed=3)
    b = measure_loss_curve(G, data, LEVELS, samples_per_level=64, seed=3)
    assert np.array_equal(a.loss_x0, b.loss_x0)
    with pytest.raises(ValueError, match="distinct positive"):
        measure_loss_curve(G, data, [0.1], samples_per_level=8)
    with pytest.raises(ValueError, match="unknown parametrisation"):
        measure_loss_curve(G, data, LEVELS, parametrisation="score")


@pytest.mark.parametrize("param", ["eps", "v", "edm"])
def test_training_loss_conversions(param):
    s = LEVELS
    x0_loss = G.mmse(s)
    sd = 0.5
    c_out2 = s**2 * sd**2 / (s**2 + sd**2)
    raw = {
        "eps": x0_loss / s**2,
        "v": x0_loss / c_out2,
        "edm": x0_loss * (s**2 + sd**2) / (s * sd) ** 2,
    }[param]
    assert np.allclose(training_loss_to_x0(s, raw, param, sigma_data=sd), x0_loss)
    curve = LossCurve.from_training(
        np.concatenate([s, s]), np.concatenate([raw, raw]), parametrisation=param, sigma_data=sd
    )
    assert np.allclose(curve.loss_x0, x0_loss) and len(curve.sigma) == len(s)


def test_monotone_and_smoothing():
    rng = np.random.default_rng(0)
    s = np.geomspace(0.01, 50, 80)
    true = G.mmse(s)
    noisy = np.abs(true * (1 + 0.1 * rng.normal(size=s.size)))
    curve = LossCurve(s, noisy, stderr=0.1 * true + 1e-9)
    mono = curve.monotone()
    assert np.all(np.diff(mono.loss_x0) >= -1e-12)
    sm = curve.smoothed(0.3).monotone()
    assert np.mean(np.abs(np.log(sm.loss_x0 / true))) < np.mean(np.abs(np.log(noisy / true)))
    assert sm(1.0) == pytest.approx(float(G.mmse(1.0)), rel=0.1)
    with pytest.raises(ValueError, match="outside the curve's range"):
        sm(100.0)


def test_persistence(tmp_path):
    curve = measure_loss_curve(G, G, LEVELS, samples_per_level=32)
    path = curve.save(tmp_path / "c.json")
    back = LossCurve.load(path)
    assert np.array_equal(back.sigma, curve.sigma) and np.array_equal(back.loss_x0, curve.loss_x0)
    assert not list(tmp_path.glob("*.tmp"))
    txt = tmp_path / "c.csv"
    np.savetxt(txt, np.column_stack([LEVELS[::-1], G.mmse(LEVELS[::-1])]), delimiter=",")
    assert np.allclose(LossCurve.load(txt).loss_x0, G.mmse(LEVELS))
    with pytest.raises(FileNotFoundError):
        LossCurve.load(tmp_path / "none.json")


def test_validation():
    with pytest.raises(ValueError, match="strictly increasing"):
        LossCurve(np.array([1.0, 0.5]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match=">= 0"):
        LossCurve(np.array([0.5, 1.0]), np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="finite"):
        LossCurve(np.array([0.5, 1.0]), np.array([1.0, np.nan]))


def test_loss_curve_schedule_sources_in_the_library(tmp_path):
    """The curve sources behind `scorelab schedule NAME --loss-curve|--target` are library
    calls: a file's grid stays in its observed σ range, a target gives its exact mmse."""
    from scorelab.curves import loss_curve_schedule
    from scorelab.loss_curve import LossCurve
    from scorelab.targets import get_target

    sigma = np.geomspace(0.01, 20.0, 40)
    target = get_target("gaussian-16")
    path = LossCurve(sigma, target.mmse(sigma)).save(tmp_path / "c.json")
    built = loss_curve_schedule("las", 8, loss_curve=str(path), final_zero=True)
    assert built.sigma_min == pytest.approx(0.01) and built.sigma_max == pytest.approx(20.0)
    assert float(built.sigmas[0]) == pytest.approx(20.0) and float(built.sigmas[-1]) == 0.0
    assert built.meta == {"loss_curve": str(path)}
    oracle = loss_curve_schedule("entropic", 8, target="gaussian-16")
    assert oracle.meta == {"oracle_target": "gaussian-16"} and len(oracle.sigmas) == 9
    with pytest.raises(ValueError, match="exactly one of"):
        loss_curve_schedule("las", 8, loss_curve=str(path), target="gaussian-16")
    with pytest.raises(ValueError, match="unknown loss-curve schedule 'karras'"):
        loss_curve_schedule("karras", 8, target="gaussian-16")
