"""``optimize`` measured on proxies: Brownian-path noise, the trajectory and surrogate proxies,
the choice (brute force), and the model-calibration path on a tiny checkpoint."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from scorelab.curves import optimized_schedule
from scorelab.exact import exact_output_1d
from scorelab.grids import (
    STANDARD,
    SurrogateProxy,
    TrajectoryProxy,
    candidate_grids,
    fit_mixture_surrogate,
    optimize_grid,
)
from scorelab.samplers import SAMPLERS, BrownianNoise, SampleStreams, noise_source
from scorelab.schedules import get_schedule, karras, log_snr_uniform
from scorelab.targets import Discrete, Gaussian, GaussianMixture

LO, HI = 0.002, 80.0


# -- Brownian-path noise -------------------------------------------------------------------------


def _fine(n: int = 256) -> torch.Tensor:
    return log_snr_uniform(n, LO, HI, final_zero=True)


def test_brownian_draws_are_standard_normal_and_independent_over_disjoint_steps():
    bn = BrownianNoise(_fine(64), (1,), seed=0, num_samples=20_000)
    lv = bn.levels
    x = torch.zeros(20_000, 1, dtype=torch.float64)
    a = bn(x, None, (lv[0], lv[10]))[:, 0].numpy()
    b = bn(x, None, (lv[10], lv[40]))[:, 0].numpy()
    for z in (a, b):
        assert abs(z.mean()) < 4 / np.sqrt(20_000)
        assert abs(z.var() - 1) < 4 * np.sqrt(2 / 20_000)
    assert abs(np.corrcoef(a, b)[0, 1]) < 4 / np.sqrt(20_000)
    # the draw over a union of steps is the normalised sum of the parts' increments
    u = lv**2
    c = bn(x, None, (lv[0], lv[40]))[:, 0].numpy()
    joined = (a * np.sqrt(u[0] - u[10]) + b * np.sqrt(u[10] - u[40])) / np.sqrt(u[0] - u[40])
    np.testing.assert_allclose(c, joined, atol=1e-5)


def test_brownian_noise_is_batch_split_independent_and_refuses_bad_use():
    bn = BrownianNoise(_fine(32), (3,), seed=4, num_samples=8)
    x = torch.zeros(8, 3)
    lv = bn.levels
    whole = bn(x, None, (lv[2], lv[9]))
    part = bn.rows(3, 8)(x[3:], None, (lv[2], lv[9]))
    assert torch.equal(whole[3:], part)
    with pytest.raises(ValueError, match="not a level"):
        bn(x, None, (float(lv[2]) * 1.01, lv[9]))
    with pytest.raises(ValueError, match="interval"):
        bn(x, None, None)
    # a sampler that does not name its noise intervals cannot run on Brownian paths
    target = Gaussian(np.zeros(3), np.ones(3))
    with noise_source(bn), pytest.raises(ValueError, match="interval"):
        SAMPLERS["li_sde"](target, torch.randn(8, 3) * HI, bn.snap(karras(8, LO, HI)))


@pytest.mark.parametrize("sampler", ["ddpm", "dpmpp_2m_sde", "accel_sde", "euler_maruyama"])
def test_stochastic_samplers_converge_pathwise_on_brownian_paths(sampler):
    """Same seed at K and 2K steps: the output converges to the fine-grid solution, far below
    the distance between independent noises."""
    target = Gaussian(np.zeros(8), np.linspace(0.3, 2.0, 8))
    n = 512
    fine = _fine(512)
    bn = BrownianNoise(fine, (8,), seed=0, num_samples=n)
    x0 = SampleStreams(1, n).randn(n, 8, dtype=torch.float64) * HI
    with noise_source(bn):
        ref = SAMPLERS[sampler](target, x0.clone(), fine)
    errors = []
    for k in (8, 16, 32, 64):
        with noise_source(bn):
            out = SAMPLERS[sampler](target, x0.clone(), bn.snap(karras(k, LO, HI, final_zero=True)))
        errors.append(float((out - ref).square().mean().sqrt()))
    assert all(b < a for a, b in itertools.pairwise(errors)), errors
    indep = SAMPLERS[sampler](
        target,
        x0.clone(),
        bn.snap(karras(64, LO, HI, final_zero=True)),
        generator=torch.Generator().manual_seed(9),
    )
    assert errors[-1] < 0.1 * float((indep - ref).square().mean().sqrt())


def test_brownian_seed_is_bit_exact():
    target = Gaussian(np.zeros(4), np.ones(4))
    grid = log_snr_uniform(16, LO, HI, final_zero=True)
    outs = []
    for _ in range(2):
        bn = BrownianNoise(grid, (4,), seed=3, num_samples=16)
        with noise_source(bn):
            outs.append(SAMPLERS["ddpm"](target, torch.ones(16, 4, dtype=torch.float64), grid))
    assert torch.equal(*outs)


# -- proxies -------------------------------------------------------------------------------------


def test_trajectory_reference_is_converged_below_one_percent_of_the_errors():
    target = GaussianMixture([0.3, 0.7], [[-1.0, 0.5, 0.0], [1.0, 0.0, -0.5]], 0.05)
    proxy = TrajectoryProxy(target, (3,), LO, HI, num_samples=64, reference_steps=512)
    smallest = min(
        proxy.error(s, get_schedule(n, 20, LO, HI, final_zero=True))
        for s in ("dpmpp_2m", "heun")
        for n in ("karras", "log-snr")
    )
    assert proxy.reference_change("dpmpp_2m") < 0.01 * smallest


def test_fit_mixture_surrogate_finds_atoms_and_components():
    atoms = Discrete(np.array([[-1.0], [0.5], [2.0]]), np.array([0.2, 0.5, 0.3]))
    fit = fit_mixture_surrogate(atoms.sample(4000, torch.Generator().manual_seed(0)))
    assert isinstance(fit, Discrete) and fit.num_components == 3
    np.testing.assert_allclose(np.sort(fit.atoms[:, 0]), [-1.0, 0.5, 2.0])
    mix = GaussianMixture([0.5, 0.5], [[-3.0, 0.0], [3.0, 1.0]], 0.2)
    fit = fit_mixture_surrogate(mix.sample(4000, torch.Generator().manual_seed(0)))
    assert fit.num_components == 2
    np.testing.assert_allclose(np.sort(fit.means[:, 0]), [-3.0, 3.0], atol=0.1)


def test_surrogate_recovers_a_component_count_that_is_not_a_power_of_two():
    """6 anisotropic components in 8-d (rank-2 factors): the snapped error is measured on the
    surrogate's components, so a split component would add an error the data do not have."""
    rng = np.random.default_rng(5)
    k, d = 6, 8
    means = rng.normal(size=(k, d)) * 1.5
    factors = rng.normal(size=(k, d, 2)) * rng.uniform(0.3, 0.8, size=(k, 1, 2))
    mix = GaussianMixture(
        rng.dirichlet(np.full(k, 3.0)),
        means,
        np.full(k, 0.02),
        cov_kind="lowrank",
        factors=factors,
    )
    fit = fit_mixture_surrogate(mix.sample(4096, torch.Generator().manual_seed(0)).double())
    assert fit.num_components == 6


# -- the choice ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_choice_is_the_brute_force_argmin_of_the_proxy():
    target = Discrete(np.array([[-1.0], [0.2], [0.5], [1.5]]), np.array([0.1, 0.4, 0.3, 0.2]))
    proxy = SurrogateProxy(None, LO, HI, metric="snapped", surrogate=target)
    for sampler in ("ddpm", "dpmpp_2m"):
        result = optimize_grid(
            sampler, None, LO, HI, steps=5, proxy=proxy, final_zero=False, refine_sweeps=0
        )
        brute = {
            name: proxy.error(sampler, grid)
            for name, grid in candidate_grids(5, LO, HI, final_zero=False).items()
        }
        assert result.chosen == min(brute, key=brute.get)
        assert result.scores["optimize"] == pytest.approx(min(brute.values()))
        refined = optimize_grid(
            sampler, None, LO, HI, steps=5, proxy=proxy, final_zero=False, refine_sweeps=1
        )
        assert refined.scores["optimize"] <= min(brute.values()) + 1e-15


class _BlurRewardingProxy:
    """A stand-in model proxy of images where a later denoise point always lowers the error (as
    RMSE does by blurring) and leaves the model's law (law distance 2 instead of 1) above
    σ = ``sharp_until``; ``plain_law`` is the law distance of grids ending at σ_min."""

    evaluations = 0
    num_samples = 8
    images = True

    def __init__(self, sharp_until: float, plain_law: float = 1.0) -> None:
        self.sharp_until, self.plain_law = sharp_until, plain_law
        self.law_measured: list[float] = []

    def is_paired(self, sampler):
        return True

    def prepare(self, sampler, sigmas):
        return torch.as_tensor(sigmas, dtype=torch.float64)

    def measure(self, sampler, sigmas):
        last = float(sigmas[sigmas > 0][-1])
        error = 0.5 / (1 + 10 * last) + 1e-3 * float(sigmas[1])  # later denoise: lower error
        return np.full(self.num_samples, error), 1.0

    def per_sample_errors(self, sampler, sigmas, rows=None):
        errors = self.measure(sampler, sigmas)[0]
        return errors if rows is None else errors[rows]

    def law_error(self, sampler, sigmas):
        last = float(sigmas[sigmas > 0][-1])
        self.law_measured.append(last)
        if math.isclose(last, LO):
            return self.plain_law
        return 1.0 if last <= self.sharp_until else 2.0

    def describe(self):
        return "stand-in"


def test_a_later_denoise_point_is_kept_only_if_it_stays_on_the_law():
    """RMSE rewards a later final denoise (a posterior mean is the least-squares guess of what
    it does not resolve); on images ``optimize`` takes, among every candidate, the lowest RMSE
    whose law distance is within LAW_SLACK of the lowest measured: the latest denoise point that
    stays on the model's law, the plain grid when none does."""
    from scorelab.grids import DENOISE_POINTS, LAW_LEADERS

    for sharp_until, expected in ((0.03, 10.0), (0.06, 25.0), (1e-9, None)):
        proxy = _BlurRewardingProxy(sharp_until)
        result = optimize_grid("ipndm", 6, LO, HI, proxy=proxy, refine_sweeps=0)
        last = float(result.sigmas[result.sigmas > 0][-1])
        if expected is None:  # every later point leaves the law: the plain grid stays
            assert math.isclose(last, LO) and " to " not in result.chosen
        else:
            assert math.isclose(last, expected * LO) and result.chosen.endswith(f"to {last:.3g}")
        assert result.meta()["proxy_law_distance"] == 1.0
        tried = [k for k in result.scores if " to " in k]
        assert len(tried) == len(DENOISE_POINTS) * len([k for k in result.scores if k in STANDARD])
        assert len(proxy.law_measured) >= LAW_LEADERS + 1  # the leaders and the best standard
        assert len(proxy.law_measured) == len(set(result.laws) - {"optimize"})
    # the plain grids are as far off the law: the lowest RMSE stays, four law measures and one
    proxy = _BlurRewardingProxy(1e-9, plain_law=2.0)
    result = optimize_grid("ipndm", 6, LO, HI, proxy=proxy, refine_sweeps=0)
    assert math.isclose(float(result.sigmas[result.sigmas > 0][-1]), max(DENOISE_POINTS) * LO)
    assert len(proxy.law_measured) == LAW_LEADERS + 1


def test_sde_samplers_judged_by_law_also_try_later_denoise_points():
    """An SDE sampler on a model proxy in law mode: the standard grids are also measured with
    each later denoise point (no law guard: the error is the law distance itself), the
    choice is the lowest law distance among all of them, and the returned grid is that one."""
    from scorelab.grids import DENOISE_POINTS

    target = Gaussian(np.zeros(4), np.diag([1.0, 0.5, 0.1, 0.01]))
    proxy = TrajectoryProxy(
        target, (4,), LO, HI, num_samples=16, reference_steps=32, law_samples=256
    )
    result = optimize_grid("ddpm", 5, LO, HI, proxy=proxy, refine_sweeps=0)
    later = [k for k in result.scores if " to " in k]
    plain = [k for k in result.scores if k in STANDARD]
    assert len(later) == len(DENOISE_POINTS) * len(plain) > 0
    measured = {k: v for k, v in result.scores.items() if k != "optimize"}
    assert result.chosen == min(measured, key=measured.get)
    assert result.scores["optimize"] == measured[result.chosen]
    again = proxy.error("ddpm", result.sigmas)
    assert again == pytest.approx(result.scores["optimize"], rel=1e-9)
    pathwise = TrajectoryProxy(
        target, (4,), LO, HI, num_samples=16, reference_steps=32, stochastic="pathwise"
    )
    result = optimize_grid("ddpm", 5, LO, HI, proxy=pathwise, refine_sweeps=0)
    assert not any(" to " in k for k in result.scores)  # per-noise RMSE on flat data: no guard


def test_proxy_detail_sees_blur_on_images():
    """On smooth Gaussian images (1×8×8, variance falling with spatial frequency, exact
    denoiser) the converged grid's outputs have detail 1, and a final denoise from σ = 1 loses
    most of it."""
    n = 8
    pix = np.stack(np.meshgrid(np.arange(n), np.arange(n), indexing="ij"), -1).reshape(-1, 2)
    dist2 = ((pix[:, None, :] - pix[None, :, :]) ** 2).sum(-1)
    cov = np.exp(-dist2 / (2 * 1.5**2)) + 1e-3 * np.eye(n * n)  # smooth images, a little texture
    target = Gaussian(np.zeros(n * n), cov)

    def images(x, sigma):
        return target.denoise(x.reshape(x.shape[0], -1), sigma).reshape(x.shape)

    proxy = TrajectoryProxy(
        images, (1, n, n), LO, HI, num_samples=32, reference_steps=64, dtype=torch.float64
    )
    assert proxy.images
    _, same = proxy.measure("dpmpp_3m", proxy.levels)
    assert same == pytest.approx(1.0)
    _, blurred = proxy.measure("dpmpp_2m", log_snr_uniform(8, 1.0, HI, final_zero=True))
    assert blurred < 0.5
    flat = TrajectoryProxy(target, (n * n,), LO, HI, num_samples=4, reference_steps=16)
    assert not flat.images
    assert flat.measure("euler", log_snr_uniform(4, LO, HI, final_zero=True))[1] is None


def test_references_are_shared_between_proxies_of_the_same_model_and_settings(tmp_path):
    """A proxy that reads another's saved references measures every grid exactly as if it had
    computed them (RMSE, law distance, teacher-trajectory grid), spends model calls only on the
    grids, and reports what the references cost; another model or other settings are not read,
    and a file that is not one is a one-line error naming it."""
    target = GaussianMixture([0.4, 0.6], [[-2.0, 0.0], [1.5, 1.0]], [0.3, 0.5])

    def proxy(denoiser=target, samples=16):
        return TrajectoryProxy(
            denoiser, (2,), LO, HI, num_samples=samples, reference_steps=32, law_samples=64
        )

    grid = karras(6, LO, HI, final_zero=True)
    first = proxy()
    measured = (
        first.error("dpmpp_2m", grid),
        first.law_error("dpmpp_2m", grid),
        first.gits_grid(5),
    )
    path = tmp_path / "refs" / "proxy.pt"
    first.save_references(path)
    spent = first.evaluations

    second = proxy()
    assert second.load_references(path)
    again = (
        second.error("dpmpp_2m", grid),
        second.law_error("dpmpp_2m", grid),
        second.gits_grid(5),
    )
    assert again[:2] == measured[:2] and torch.equal(again[2], measured[2])
    grid_calls = 16 * 7 + 64 * 7  # the grid on the proxy's noises and on the law's
    assert second.evaluations == grid_calls
    assert second.loaded_evaluations == spent - grid_calls

    assert not proxy(samples=8).load_references(path)  # other settings
    assert not proxy(lambda x, s: 0.9 * target(x, s)).load_references(path)  # another model
    assert not proxy().load_references(tmp_path / "none.pt")
    (tmp_path / "bad.pt").write_text("not a tensor file")
    with pytest.raises(ValueError, match=r"bad\.pt"):
        proxy().load_references(tmp_path / "bad.pt")


@pytest.mark.slow
def test_optimize_is_within_5_percent_where_different_standard_grids_win():
    """A constructed family (one atom law at three data scales, two samplers): the best
    standard grid differs between rows, and ``optimize`` (measured on a surrogate fitted to
    4096 data samples) is within 5 % of the row's best standard grid on the exact law."""
    base = np.array([-1.0, 0.2, 0.5, 1.5])
    weights = np.array([0.1, 0.4, 0.3, 0.2])
    winners = set()
    for scale, sampler, metric in (
        (1.0, "ddpm", "snapped"),
        (10.0, "dpmpp_2m", "snapped"),
        (0.1, "dpmpp_2m", "continuous"),
    ):
        target = Discrete((base * scale)[:, None], weights)
        data = target.sample(4096, torch.Generator().manual_seed(1))
        proxy = SurrogateProxy(data, LO, HI, metric=metric)
        result = optimize_grid(
            sampler, None, LO, HI, steps=5, proxy=proxy, final_zero=False, refine_sweeps=0
        )

        def truth(grid, sampler=sampler, target=target, metric=metric):
            r = exact_output_1d(sampler, target, grid)
            return r.kl_snapped if metric == "snapped" else r.kl_continuous

        std = {
            n: truth(g)
            for n, g in candidate_grids(5, LO, HI, final_zero=False).items()
            if n in STANDARD
        }
        winners.add(min(std, key=std.get))
        assert truth(result.sigmas) <= 1.05 * min(std.values())
    assert len(winners) >= 2, winners


def test_model_calibration_path_on_a_tiny_checkpoint(tmp_path):
    from scorelab.models import TrainConfig, train

    path = tmp_path / "runs" / "d.safetensors"  # a folder that does not exist yet
    train(TrainConfig.tiny("digits", steps=40), path)
    built = optimized_schedule(
        "dpmpp_2m",
        6,
        model=str(path),
        proxy_samples=16,
        reference_steps=32,
        refine_sweeps=1,
        effort="fast",  # the law guard's 256 samples on 32 levels
    )
    meta = built.meta
    assert meta["steps"] == 5 and meta["nfe"] == 6
    assert "model trajectories" in meta["proxy"] and meta["proxy_evaluations"] > 32 * 16
    assert meta["proxy_error"] <= meta["best_standard"]["proxy_error"] + 1e-12
    assert meta["proxy_law_distance"] >= 0.0  # an image model: the law guard measured it
    s = built.sigmas
    assert float(s[-1]) == 0.0 and bool((s[:-2] > s[1:-1]).all())


def test_gits_grid_is_the_least_cost_path_of_teacher_jumps():
    """The GITS-style baseline: its grid is the brute-force minimum of the summed one-step
    costs over all K-jump paths through the candidate levels."""
    target = GaussianMixture([0.3, 0.7], [[-1.0, 0.5], [1.0, 0.0]], 0.05)
    proxy = TrajectoryProxy(target, (2,), LO, HI, num_samples=16, reference_steps=32)
    grid = proxy.gits_grid(3, stride=4)
    sig, cost = proxy._gits_costs(4)
    m = len(sig)
    best = min(
        itertools.combinations(range(1, m - 1), 2),
        key=lambda mid: sum(cost[a, b] for a, b in itertools.pairwise((0, *mid, m - 1))),
    )
    np.testing.assert_allclose(grid[:-1].numpy(), sig[[0, *best, m - 1]].numpy())
    assert float(grid[-1]) == 0.0


def test_baseline_grids_kl_optimal_and_beta():
    """kl-optimal is the closed form tan(u·atan σ_min + (1 − u)·atan σ_max); beta(1, 1) is
    uniform VP time (its quantile function is the identity); beta(0.6, 0.6) crowds both ends."""
    u = np.linspace(0, 1, 9)
    closed = np.tan(u * np.arctan(LO) + (1 - u) * np.arctan(HI))
    np.testing.assert_allclose(get_schedule("kl-optimal", 8, LO, HI).numpy(), closed, rtol=1e-12)
    uniform = get_schedule("uniform-t", 8, LO, HI)
    torch.testing.assert_close(get_schedule("beta", 8, LO, HI, alpha=1.0, beta=1.0), uniform)
    b = get_schedule("beta", 8, LO, HI).numpy()
    assert b[0] == HI and b[-1] == LO and np.all(np.diff(b) < 0)
    t_steps = np.diff(np.log(b))
    assert abs(t_steps[0]) < abs(t_steps[3]) and abs(t_steps[-1]) > abs(t_steps[3])


def test_errors_on_a_subset_of_noises_run_only_those_noises():
    """``per_sample_errors(rows=...)``, what ``optimize``'s refinement fits on: the same values
    as the full run's rows, at the subset's cost for an ODE sampler (a pathwise SDE sampler runs
    every noise, its Brownian rows shared, and is indexed)."""
    target = GaussianMixture([0.4, 0.6], [[-1.0, 0.0], [1.0, 0.5]], 0.1)
    grid = karras(6, LO, HI, final_zero=True)
    for sampler, stochastic in (("dpmpp_2m", "law"), ("ddpm", "pathwise")):
        proxy = TrajectoryProxy(
            target, (2,), LO, HI, num_samples=16, reference_steps=64, stochastic=stochastic
        )
        whole = proxy.per_sample_errors(sampler, grid)
        even = np.arange(16) % 2 == 0
        before = proxy.evaluations
        part = proxy.per_sample_errors(sampler, grid, rows=even)
        assert np.array_equal(part, whole[even])
        spent = proxy.evaluations - before
        nfe = SAMPLERS[sampler].nfe(proxy.prepare(sampler, grid))
        assert spent == (8 if sampler == "dpmpp_2m" else 16) * nfe


def test_sde_samplers_are_measured_by_law_or_pathwise():
    """Default ("law"): an SDE sampler's proxy error is the Fréchet distance of its outputs to
    the model's own law, falling as the grid refines; "pathwise" measures on Brownian paths."""
    target = GaussianMixture([0.4, 0.6], [[-1.0, 0.0], [1.0, 0.5]], 0.1)
    law = TrajectoryProxy(target, (2,), LO, HI, num_samples=32, reference_steps=64)
    assert law.is_paired("dpmpp_2m") and not law.is_paired("ddpm")
    coarse = law.error("ddpm", karras(3, LO, HI, final_zero=True))
    fine = law.error("ddpm", karras(40, LO, HI, final_zero=True))
    assert fine < 0.5 * coarse and "Fréchet" in law.describe()
    path = TrajectoryProxy(
        target, (2,), LO, HI, num_samples=32, reference_steps=64, stochastic="pathwise"
    )
    assert path.is_paired("ddpm")
    snapped = path.prepare("ddpm", karras(5, LO, HI, final_zero=True))
    assert all(float(s) in set(path.levels.tolist()) for s in snapped)
    # outputs that overflowed (a grid the sampler diverges on) rank last, without an error
    law._batched_run = lambda sampler, sigmas, generator: torch.full((32, 2), math.inf)
    assert law.law_error("ddpm", karras(3, LO, HI, final_zero=True)) == math.inf


def test_a_refinement_that_wins_only_on_its_own_random_numbers_is_not_kept():
    class Noisy:  # on its search numbers any move of level 2 looks better; on fresh ones worse
        evaluations = 0

        def __init__(self, agree: bool):
            self.agree = agree

        def is_paired(self, sampler):
            return False

        def prepare(self, sampler, sigmas):
            return torch.as_tensor(sigmas, dtype=torch.float64)

        def error(self, sampler, sigmas):
            return abs(math.log(float(sigmas[2])))

        def held_out_error(self, sampler, sigmas):
            value = self.error(sampler, sigmas)
            return value if self.agree else -value

        def describe(self):
            return "noisy stand-in"

    for agree in (True, False):
        result = optimize_grid(
            "ddpm",
            None,
            LO,
            HI,
            steps=4,
            proxy=Noisy(agree),
            final_zero=False,
            candidates=("karras",),
        )
        assert result.refined == agree


def test_near_ties_are_re_ranked_by_the_precise_measure():
    """A proxy with ``precise_error``: its three leaders are measured again and the best of them
    by that measure is chosen; the others are not re-measured."""
    first = {"karras": 1.0, "log-snr": 1.1, "cosine": 1.2, "beta": 5.0}
    precise = {"karras": 3.0, "log-snr": 2.0, "cosine": 0.5, "beta": 0.1}

    class Racing:
        evaluations = 0

        def __init__(self):
            self.re_measured = []

        def is_paired(self, sampler):
            return False

        def prepare(self, sampler, sigmas):
            return torch.as_tensor(sigmas, dtype=torch.float64)

        def _name(self, sigmas):
            return next(n for n, g in self.grids.items() if torch.equal(g, sigmas))

        def error(self, sampler, sigmas):
            return first[self._name(sigmas)]

        def precise_error(self, sampler, sigmas):
            self.re_measured.append(self._name(sigmas))
            return precise[self._name(sigmas)]

        def describe(self):
            return "racing stand-in"

    proxy = Racing()
    proxy.grids = {
        name: torch.as_tensor(g, dtype=torch.float64)
        for name, g in candidate_grids(4, LO, HI, final_zero=False, names=tuple(first)).items()
    }
    result = optimize_grid(
        "ddpm",
        None,
        LO,
        HI,
        steps=4,
        proxy=proxy,
        final_zero=False,
        candidates=tuple(first),
        refine_sweeps=0,
    )
    assert result.chosen == "cosine"
    assert sorted(proxy.re_measured) == ["cosine", "karras", "log-snr"]


def test_refinement_spends_at_most_its_budget():
    class Counting:  # a law proxy whose error prefers level 2 of a K = 4 grid at σ = 1
        evaluations, calls = 0, 0

        def is_paired(self, sampler):
            return False

        def prepare(self, sampler, sigmas):
            return torch.as_tensor(sigmas, dtype=torch.float64)

        def error(self, sampler, sigmas):
            self.calls += 1
            return abs(math.log(float(sigmas[2]))) + 0.01 * float(sigmas[1])

        def describe(self):
            return "counting stand-in"

    def run(**options):
        proxy = Counting()
        optimize_grid("ddpm", None, LO, HI, steps=4, proxy=proxy, final_zero=False, **options)
        return proxy.calls

    measured = run(refine_sweeps=0)
    for budget in (0, 3):  # the candidates, the start of the descent, at most the budget
        assert run(refine_sweeps=1, refine_budget=budget) <= measured + 1 + budget
    assert run(refine_sweeps=1) > measured + 1 + 3  # unbounded: every trial of the sweep
