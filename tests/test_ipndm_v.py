"""``ipndm_v``: variable-step Adams–Bashforth weights and their relation to ``ipndm``."""

import numpy as np
import pytest
import torch

from scorelab.samplers import SAMPLERS
from scorelab.samplers.ipndm import ADAMS_BASHFORTH
from scorelab.samplers.ipndm_v import variable_adams_bashforth
from scorelab.schedules import karras
from scorelab.targets import Gaussian


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_equal_steps_give_ipndms_weights(order):
    weights = variable_adams_bashforth([-j for j in range(order)])
    np.testing.assert_allclose(weights, ADAMS_BASHFORTH[order], rtol=0, atol=1e-14)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_weights_integrate_polynomials_of_lower_degree_exactly(order):
    """Σ w_j p(u_j) = ∫₀¹ p for every polynomial of degree < order, on uneven nodes."""
    rng = np.random.default_rng(order)
    nodes = np.concatenate([[0.0], -np.cumsum(rng.uniform(0.2, 3.0, order - 1))])
    weights = np.array(variable_adams_bashforth(nodes))
    for degree in range(order):
        p = np.polynomial.Polynomial(rng.normal(size=degree + 1))
        exact = p.integ()(1.0) - p.integ()(0.0)
        assert abs(weights @ p(nodes) - exact) < 1e-12 * max(1.0, abs(exact))
    # one degree higher is not integrated exactly (the check can fail)
    p = np.polynomial.Polynomial.fromroots(nodes)
    assert abs(weights @ p(nodes) - (p.integ()(1.0) - p.integ()(0.0))) > 1e-6


def test_repeated_nodes_are_refused():
    with pytest.raises(ValueError, match="distinct"):
        variable_adams_bashforth([0.0, -1.0, -1.0])


def test_equals_ipndm_on_an_equal_step_grid_and_differs_on_karras():
    target = Gaussian(np.zeros(3), np.array([0.3, 1.0, 2.0]))
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    even = torch.linspace(20.0, 0.05, 9, dtype=torch.float64)
    a = SAMPLERS["ipndm"](target, x * 20.0, even)
    b = SAMPLERS["ipndm_v"](target, x * 20.0, even)
    assert torch.allclose(a, b, rtol=0, atol=1e-11)
    grid = karras(8, 0.05, 20.0)
    a = SAMPLERS["ipndm"](target, x * 20.0, grid)
    b = SAMPLERS["ipndm_v"](target, x * 20.0, grid)
    assert (a - b).abs().max() > 1e-4
