"""Sample-quality metrics against exact targets (all in nats where information-valued)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ._validation import check_float_tensor
from .targets import Discrete, Gaussian, GaussianMixture

__all__ = [
    "METRICS",
    "AtomHistogramMetrics",
    "Metric",
    "MixtureMetrics",
    "atom_histogram_metrics",
    "energy_distance",
    "fewest_queries",
    "gaussian_fit_kl",
    "gaussian_kl",
    "headline_metric",
    "isotropic_mixture_metrics",
    "mixture_metrics",
    "mmd_rbf",
    "queries_to_reach",
    "sliced_wasserstein2",
]


@dataclass(frozen=True)
class AtomHistogramMetrics:
    """Nearest-atom rounding of samples from a :class:`Discrete` target.

    * ``tv``: ½ Σ |p̂_i − w_i|
    * ``kl``: KL(p̂ ‖ w) = Σ p̂_i log(p̂_i / w_i) (finite because every w_i > 0)
    * ``off_support``: mean distance ‖x − nearest atom‖
    * ``tv_floor``: E[TV] of n exact samples, ≈ ½ Σ sqrt(2 w(1−w)/(π n)) (normal approximation)
    """

    tv: float
    kl: float
    off_support: float
    tv_floor: float
    num_samples: int


def atom_histogram_metrics(samples: torch.Tensor, target: Discrete) -> AtomHistogramMetrics:
    samples = check_float_tensor("samples", samples)
    if not isinstance(target, Discrete):
        raise TypeError(f"target must be a Discrete target, got {type(target).__name__}")
    x = samples.reshape(samples.shape[0], -1).to(torch.float64)
    if x.shape[1] != target.dim:
        raise ValueError(f"samples have dimension {x.shape[1]}, target has {target.dim}")
    idx = target.nearest_atom(x)
    atoms = torch.as_tensor(target.atoms)
    off = (x - atoms[idx]).norm(dim=1).mean().item()
    n = x.shape[0]
    hist = np.bincount(idx.numpy(), minlength=target.num_components) / n
    w = target.weights
    tv = 0.5 * float(np.abs(hist - w).sum())
    nz = hist > 0
    kl = float((hist[nz] * np.log(hist[nz] / w[nz])).sum())
    floor = 0.5 * float(np.sqrt(2 * w * (1 - w) / (np.pi * n)).sum())
    return AtomHistogramMetrics(tv, kl, off, floor, n)


def gaussian_kl(mean_p, cov_p, mean_q, cov_q) -> float:
    """KL(N(m_p, C_p) ‖ N(m_q, C_q)) in nats (float64, Cholesky-based)."""
    mp, mq = np.asarray(mean_p, float), np.asarray(mean_q, float)
    Cp, Cq = np.atleast_2d(np.asarray(cov_p, float)), np.atleast_2d(np.asarray(cov_q, float))
    d = mp.size
    Lq = np.linalg.cholesky(Cq)
    Lp = np.linalg.cholesky(Cp)
    A = np.linalg.solve(Lq, Lp)
    b = np.linalg.solve(Lq, mq - mp)
    logdet = 2 * (np.log(np.diag(Lq)).sum() - np.log(np.diag(Lp)).sum())
    return float(0.5 * ((A * A).sum() + b @ b - d + logdet))


def gaussian_fit_kl(samples: torch.Tensor, target: Gaussian) -> tuple[float, float]:
    """KL(N(m̂, Ĉ) ‖ target) of the Gaussian fitted to ``samples`` (sample mean/covariance), and
    the finite-sample floor d(d+3)/(4n): the leading-order E[KL] for n exact samples."""
    samples = check_float_tensor("samples", samples)
    x = samples.reshape(samples.shape[0], -1).to(torch.float64).numpy()
    n, d = x.shape
    if d != target.dim:
        raise ValueError(f"samples have dimension {d}, target has {target.dim}")
    if n <= d:
        raise ValueError(f"need more samples than dimensions to fit a covariance (n={n}, d={d})")
    kl = gaussian_kl(x.mean(0), np.cov(x, rowvar=False), target.mean, target.covariance)
    return kl, d * (d + 3) / (4 * n)


# --- mixtures ---


@dataclass(frozen=True)
class MixtureMetrics:
    """Samples from a :class:`GaussianMixture` target, each assigned to its most likely component
    (largest p(k | x0) under the clean law).

    * ``weight_tv``: ½ Σ_k |ŵ_k − w_k| of the assignment frequencies
    * ``moment_kl``: Σ_k w_k KL(N(m̂_k, Ĉ_k) ‖ N(μ_k, Σ_k)) over components with > d+1 samples
      (fitted mean/covariance of the samples assigned to k); ``nan`` if no component qualifies
    * ``weight_tv_floor``: E[TV] of exact samples, ≈ ½ Σ sqrt(2 w(1−w)/(π n))
    """

    weight_tv: float
    moment_kl: float
    weight_tv_floor: float
    components_fitted: int


def _assign_components(x: torch.Tensor, target: GaussianMixture) -> tuple[np.ndarray, float, float]:
    """Most likely component of each row of ``x`` (float64, (n, d)) under the clean law, the
    weight TV ½ Σ_k |ŵ_k − w_k| of the assignment and its finite-sample floor."""
    n = x.shape[0]
    # responsibilities under the clean law: σ so small that Σ_k + σ²I = Σ_k to float64 precision
    post = target.posterior(x.reshape(n, *target.event_shape), 1e-150)
    label = post.argmax(1).numpy()
    w = target.weights
    freq = np.bincount(label, minlength=target.num_components) / n
    tv = 0.5 * float(np.abs(freq - w).sum())
    floor = 0.5 * float(np.sqrt(2 * w * (1 - w) / (np.pi * n)).sum())
    return label, tv, floor


def mixture_metrics(samples: torch.Tensor, target: GaussianMixture) -> MixtureMetrics:
    samples = check_float_tensor("samples", samples)
    if not isinstance(target, GaussianMixture):
        raise TypeError(f"target must be a GaussianMixture, got {type(target).__name__}")
    x = samples.reshape(samples.shape[0], -1).to(torch.float64)
    d = x.shape[1]
    if d != target.dim:
        raise ValueError(f"samples have dimension {d}, target has {target.dim}")
    label, tv, floor = _assign_components(x, target)
    K, w = target.num_components, target.weights
    eig = target.component_eigvals()
    kl, fitted, weight = 0.0, 0, 0.0
    xn = x.numpy()
    for k in range(K):
        members = xn[label == k]
        if len(members) <= d + 1 or np.any(eig[k] <= 0):
            continue
        cov_k = _component_covariance(target, k)
        kl += w[k] * gaussian_kl(
            members.mean(0), np.cov(members, rowvar=False), target.means[k], cov_k
        )
        fitted += 1
        weight += w[k]
    return MixtureMetrics(tv, kl / weight if fitted else float("nan"), floor, fitted)


@dataclass(frozen=True)
class IsotropicMixtureMetrics:
    """Samples from an isotropic-component :class:`GaussianMixture` (components N(μ_k, v_k I)),
    assigned to components as in :func:`mixture_metrics`. Sharp in any dimension:

    * ``weight_tv`` and ``weight_tv_floor``: as in :class:`MixtureMetrics`;
    * ``iso_kl``: Σ_k w_k KL(N(m̂_k, v̂_k I) ‖ N(μ_k, v_k I)), the KL of an *isotropic* fit
      (mean and one variance per component), with the finite-sample bias removed:
      KL_k = (d/2)(r − 1 − log r) + (‖m̂_k − μ_k‖² − d v̂_k/n_k)/(2 v_k), r = v̂_k/v_k, where v̂_k is
      the unbiased pooled per-coordinate variance. Its Monte-Carlo spread is O(√d/n) rather than
      the O(d²/n) of a full covariance fit, so d = 1024 works with a few thousand samples. It
      sees errors of scale and location of each component, not anisotropic distortions;
    * ``tv_proxy``: weight_tv + sqrt(max(iso_kl, 0)/2) (Pinsker for the within-component part).
    """

    weight_tv: float
    iso_kl: float
    weight_tv_floor: float

    @property
    def tv_proxy(self) -> float:
        return self.weight_tv + math.sqrt(max(self.iso_kl, 0.0) / 2)


def isotropic_mixture_metrics(
    samples: torch.Tensor, target: GaussianMixture
) -> IsotropicMixtureMetrics:
    samples = check_float_tensor("samples", samples)
    if not isinstance(target, GaussianMixture) or target.cov_kind != "isotropic":
        raise TypeError("target must be a GaussianMixture with isotropic components")
    if getattr(target, "factor_eigvecs", None) is not None:
        raise TypeError("target must be a GaussianMixture with isotropic components (no factors)")
    if np.any(np.asarray(target.variances) <= 0):
        raise ValueError("isotropic_mixture_metrics needs components of positive variance")
    x = samples.reshape(samples.shape[0], -1).to(torch.float64)
    n, d = x.shape
    if d != target.dim:
        raise ValueError(f"samples have dimension {d}, target has {target.dim}")
    if n < 2:
        raise ValueError(f"need at least 2 samples, got {n}")
    label, tv, floor = _assign_components(x, target)
    K, w = target.num_components, target.weights
    xn = x.numpy()
    kl, weight = 0.0, 0.0
    for k in range(K):
        members = xn[label == k]
        nk = len(members)
        if nk < 2:
            continue
        v = float(np.ravel(target.variances[k])[0])
        m = members.mean(0)
        v_hat = float(((members - m) ** 2).sum() / ((nk - 1) * d))
        r = v_hat / v
        shift = float(((m - target.means[k]) ** 2).sum()) - d * v_hat / nk
        kl += w[k] * (0.5 * d * (r - 1 - math.log(r)) + shift / (2 * v))
        weight += w[k]
    return IsotropicMixtureMetrics(tv, kl / weight if weight else float("nan"), floor)


def _component_covariance(target: GaussianMixture, k: int) -> np.ndarray:
    d = target.dim
    if target.cov_kind == "diagonal":
        return np.diag(target.variances[k])
    cov = target.variances[k] * np.eye(d)
    if target.factor_eigvecs is not None:
        V, lam = target.factor_eigvecs[k], target.factor_eigvals[k]
        cov = cov + (V * lam) @ V.T
    return cov


# --- generic two-sample distances ---


def _flat64(name: str, a: torch.Tensor) -> torch.Tensor:
    a = check_float_tensor(name, a)
    if a.ndim < 2 or a.shape[0] < 2:
        raise ValueError(f"{name} must have shape (n >= 2, ...), got {tuple(a.shape)}")
    return a.reshape(a.shape[0], -1).to(torch.float64)


def _pair(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _flat64("x", x), _flat64("y", y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y have different dimensions: {x.shape[1]} vs {y.shape[1]}")
    return x, y


def sliced_wasserstein2(
    x: torch.Tensor, y: torch.Tensor, *, num_projections: int = 256, seed: int = 0
) -> float:
    """Sliced Wasserstein-2 distance SW₂ = sqrt(E_θ W₂²(θ·X, θ·Y)), θ uniform on the sphere
    (``num_projections`` Monte-Carlo directions). 1-D W₂ between empirical laws is computed
    exactly from quantile functions on the merged grid of both samples' quantile levels."""
    x, y = _pair(x, y)
    gen = torch.Generator().manual_seed(seed)
    theta = torch.randn(x.shape[1], num_projections, generator=gen, dtype=torch.float64)
    theta = theta / theta.norm(dim=0, keepdim=True)
    px, _ = torch.sort(x @ theta, dim=0)
    py, _ = torch.sort(y @ theta, dim=0)
    n, m = px.shape[0], py.shape[0]
    levels = torch.unique(torch.cat([torch.arange(1, n + 1) / n, torch.arange(1, m + 1) / m]))
    levels = levels.to(torch.float64)
    widths = torch.diff(torch.cat([levels.new_zeros(1), levels]))
    ix = torch.clamp(torch.ceil(levels * n - 1e-9).long() - 1, 0, n - 1)
    iy = torch.clamp(torch.ceil(levels * m - 1e-9).long() - 1, 0, m - 1)
    w2 = ((px[ix] - py[iy]) ** 2 * widths[:, None]).sum(0)
    return float(w2.mean().sqrt())


def _mean_kernel(a: torch.Tensor, b: torch.Tensor, fn, same: bool, chunk: int = 2048) -> float:
    total, count = 0.0, 0
    for i in range(0, a.shape[0], chunk):
        block = fn(torch.cdist(a[i : i + chunk], b))
        if same:  # drop the diagonal (unbiased U-statistic)
            rows = torch.arange(block.shape[0])
            block[rows, rows + i] = 0.0
        total += float(block.sum())
    count = a.shape[0] * (b.shape[0] - 1) if same else a.shape[0] * b.shape[0]
    return total / count


def mmd_rbf(x: torch.Tensor, y: torch.Tensor, *, bandwidth: float | None = None) -> float:
    """Unbiased MMD² with the Gaussian kernel k(a, b) = exp(−‖a − b‖²/(2ℓ²)).

    ℓ = ``bandwidth``; default: the median pairwise distance of the pooled samples (at most 2000
    of them), a standard heuristic — pass ℓ explicitly to compare runs."""
    x, y = _pair(x, y)
    if bandwidth is None:
        pool = torch.cat([x[:1000], y[:1000]])
        dist = torch.pdist(pool)
        bandwidth = float(dist.median())
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}")

    def kern(dist):
        return torch.exp(-(dist**2) / (2 * bandwidth**2))

    return (
        _mean_kernel(x, x, kern, True)
        + _mean_kernel(y, y, kern, True)
        - 2 * _mean_kernel(x, y, kern, False)
    )


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Energy distance 2E‖X−Y‖ − E‖X−X'‖ − E‖Y−Y'‖ (Székely & Rizzo), unbiased U-statistics."""
    x, y = _pair(x, y)

    def ident(dist):
        return dist

    return (
        2 * _mean_kernel(x, y, ident, False)
        - _mean_kernel(x, x, ident, True)
        - _mean_kernel(y, y, ident, True)
    )


def queries_to_reach(nfe, errors, eps: float) -> float:
    """NFE*(ε): the fewest model calls at which a method's error reaches ``eps``, from its
    measured (NFE, error) ladder. The first ladder point at or below ε is found and the crossing
    is interpolated linearly in (log NFE, log error) with the point before it (exact for a power
    law e = C·NFE^{−p}). Returns ``inf`` if no point reaches ε, and the smallest NFE if the first
    already does (no extrapolation). Non-monotone ladders are fine: the first crossing counts."""
    n = np.asarray(nfe, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    if n.ndim != 1 or n.shape != e.shape or n.size == 0:
        raise ValueError("nfe and errors must be 1-D of the same non-zero length")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    order = np.argsort(n, kind="stable")
    n, e = n[order], e[order]
    if np.any(np.diff(n) == 0):
        raise ValueError("nfe values must be distinct")
    hit = np.flatnonzero(np.isfinite(e) & (e <= eps))
    if hit.size == 0:
        return float("inf")
    i = int(hit[0])
    if i == 0 or not (np.isfinite(e[i - 1]) and e[i - 1] > 0 and e[i] > 0):
        return float(n[i])
    t = (math.log(eps) - math.log(e[i - 1])) / (math.log(e[i]) - math.log(e[i - 1]))
    return float(math.exp(math.log(n[i - 1]) + t * (math.log(n[i]) - math.log(n[i - 1]))))


def fewest_queries(ladders: dict, eps: float) -> tuple[float, str | None, bool]:
    """The best of several methods at level ``eps``: ``(NFE*, label, at_start)`` over
    ``ladders`` (label → [(NFE, error), ...]), NFE* from :func:`queries_to_reach`; ``at_start``
    says the winner reached ``eps`` at its ladder's first point (NFE* then only bounds the true
    count from above). ``(inf, None, False)`` when no ladder is given; the first label wins ties."""
    best: tuple[float, str | None, bool] = (math.inf, None, False)
    for label, points in ladders.items():
        nfe, errors = zip(*sorted(points), strict=True)
        n_star = queries_to_reach(nfe, errors, eps)
        if best[1] is None or n_star < best[0]:
            best = (n_star, label, n_star <= nfe[0])
    return best


# --- the headline-metric registry --------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Metric:
    """A headline sample metric of a kind of target.

    Args:
        name: the value stored in the ``metric`` column (``atom_tv``, ``fit_kl``, ``sw2``).
        label: the human label (tables).
        applies_to: the target class it scores (the first registered match wins, so
            subclasses come first: :class:`Discrete` before :class:`GaussianMixture`).
        compute: ``compute(samples, target, references, seed) -> (value, floor)``;
            ``references(i)`` returns the i-th independent set of exact samples of the same
            size, ``floor`` is the value exact samples would get (the finite-sample floor).
    """

    name: str
    label: str
    applies_to: type
    compute: object


def _atom_tv(samples, target, references, seed):
    m = atom_histogram_metrics(samples, target)
    return m.tv, m.tv_floor


def _fit_kl(samples, target, references, seed):
    return gaussian_fit_kl(samples, target)


def _sw2(samples, target, references, seed):
    ref = references(0)
    value = sliced_wasserstein2(samples, ref, num_projections=128, seed=seed)
    return value, sliced_wasserstein2(ref, references(1), num_projections=128, seed=seed)


#: name -> headline metric, most specific target class first
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(name="atom_tv", label="atom TV", applies_to=Discrete, compute=_atom_tv),
        Metric(name="fit_kl", label="fit KL", applies_to=Gaussian, compute=_fit_kl),
        Metric(name="sw2", label="sliced W2", applies_to=GaussianMixture, compute=_sw2),
    )
}


def headline_metric(target, metrics: dict[str, Metric] | None = None) -> Metric:
    """The first metric of ``metrics`` (default :data:`METRICS`; the bench passes its own table,
    :data:`scorelab.bench.model_target.BENCH_METRICS`) that applies to ``target``'s kind
    (TypeError if none applies)."""
    for metric in (METRICS if metrics is None else metrics).values():
        if isinstance(target, metric.applies_to):
            return metric
    raise TypeError(f"no metric for {type(target).__name__}")
