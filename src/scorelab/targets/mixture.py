"""Gaussian mixtures p = Σ_k w_k N(μ_k, Σ_k), and point masses as their σ_k = 0 limit.

The noised marginal is Σ_k w_k N(μ_k, Σ_k + σ²I). With responsibilities
p_k(x) = w_k N(x; μ_k, Σ_k+σ²I) / p_σ(x) (a softmax of log-densities, i.e. log-sum-exp stable),
and A_k = (Σ_k + σ²I)^{-1}:

* ∇log p_σ(x) = −Σ_k p_k(x) A_k (x − μ_k)
* E[x0|x]     = Σ_k p_k(x) [μ_k + Σ_k A_k (x − μ_k)]

Covariance kinds (no Python loop over components; everything is a GEMM over the stacked means):

* ``isotropic``: Σ_k = s_k² I (``s_k = 0`` gives point masses: :class:`~scorelab.targets.Discrete`)
* ``diagonal``:  Σ_k = diag(D_k)
* ``lowrank``:   Σ_k = F_k F_kᵀ + s_k² I, F_k of shape (d, r), handled through the thin
  eigendecomposition F_k F_kᵀ = V_k diag(λ_k) V_kᵀ (Woodbury in closed form).

Numerics: squared distances come from the GEMM expansion ‖x‖² − 2x·μ + ‖μ‖². Their rounding error
(≈ eps·‖x‖²) would be amplified by 1/σ² at small σ, so the dominant ("anchor") component's residual
x − μ_j is always recomputed directly; it carries the exact log-density in :meth:`log_prob` and the
exact residual in the score. Rows are processed in chunks so that the (n, K) work arrays stay
within a fixed memory budget, which lets N = 10⁵ components and d = 10⁴ run in bounded memory.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._validation import as_float64_array, check_positive_int
from .base import MonteCarloEstimate, Target, _sigma_array

__all__ = ["GaussianMixture"]

_LOG_2PI = math.log(2 * math.pi)
#: elements of an (n, K[, r]) work array processed at once
#: rows per chunk × components: 2^18 measured fastest (benchmarks/mixture_denoiser.py)
CHUNK_ELEMENTS = 1 << 18


def _flush_subnormal(P: torch.Tensor) -> torch.Tensor:
    """Posterior weights below the smallest normal float set to 0 (in place). Far from a
    component its softmax weight underflows into the subnormal range, and GEMMs over subnormal
    operands run 10–20× slower on x86 CPUs (measured: the K = 256, d = 1024 denoiser took 16× the
    time of its two GEMMs); the dropped mass is < K·1.2e-38 in float32."""
    return P.masked_fill_(P < torch.finfo(P.dtype).tiny, 0.0)


class GaussianMixture(Target):
    """Σ_k w_k N(μ_k, Σ_k).

    Args:
        weights: ``(K,)`` non-negative, summing to 1 (tolerance 1e-6; renormalised exactly).
        means: ``(K, d)``.
        cov_kind: ``"isotropic"``, ``"diagonal"`` or ``"lowrank"``.
        variances: isotropic/lowrank: s_k², shape ``(K,)`` or a scalar; diagonal: ``(K, d)``.
        factors: lowrank only, F_k stacked as ``(K, d, r)``.
        event_shape: optional shape of one sample (e.g. ``(1, 8, 8)`` for images); d = prod.
    """

    def __init__(
        self,
        weights,
        means,
        variances=0.0,
        *,
        cov_kind: str = "isotropic",
        factors=None,
        event_shape: tuple[int, ...] | None = None,
    ) -> None:
        mu = as_float64_array("means", means, ndim=2)
        K, d = mu.shape
        if K == 0 or d == 0:
            raise ValueError(f"means must be a non-empty (K, d) array, got shape {mu.shape}")
        super().__init__(event_shape or (d,))
        if self.dim != d:
            raise ValueError(f"event_shape {event_shape} does not match d = {d}")
        w = as_float64_array("weights", weights, ndim=1)
        if w.size != K:
            raise ValueError(f"weights must have shape ({K},) to match means, got {w.shape}")
        if np.any(w < 0):
            raise ValueError(f"weights must be non-negative, got min {w.min()}")
        if abs(w.sum() - 1.0) > 1e-6:
            raise ValueError(f"weights must sum to 1, got {w.sum():.8g}")
        self.weights = w / w.sum()
        self.means = mu
        self.cov_kind = cov_kind
        self.factor_eigvecs: np.ndarray | None = None
        self.factor_eigvals: np.ndarray | None = None
        var = as_float64_array("variances", variances)
        if np.any(var < 0):
            raise ValueError(f"variances must be >= 0, got min {var.min()}")
        if cov_kind in ("isotropic", "lowrank"):
            if var.ndim == 0:
                var = np.full(K, float(var))
            if var.shape != (K,):
                raise ValueError(f"{cov_kind} variances must have shape ({K},), got {var.shape}")
            if cov_kind == "lowrank":
                self._set_factors(factors, K, d)
            elif factors is not None:
                raise ValueError("factors are only used with cov_kind='lowrank'")
        elif cov_kind == "diagonal":
            if var.ndim == 0:
                var = np.full((K, d), float(var))
            if var.shape != (K, d):
                raise ValueError(f"diagonal variances must have shape ({K}, {d}), got {var.shape}")
            if factors is not None:
                raise ValueError("factors are only used with cov_kind='lowrank'")
        else:
            raise ValueError(
                f"unknown cov_kind {cov_kind!r}; expected 'isotropic', 'diagonal' or 'lowrank'"
            )
        self.variances = var
        self._log_w = np.log(np.where(self.weights > 0, self.weights, 1.0))
        self._log_w[self.weights == 0] = -np.inf
        self._mean_sq = (mu * mu).sum(1)
        self._common_var = cov_kind == "isotropic" and bool(np.all(var == var[0]))
        self._has_var = bool(np.any(var > 0))

    def _set_factors(self, factors, K: int, d: int) -> None:
        if factors is None:
            raise ValueError("cov_kind='lowrank' needs factors of shape (K, d, r)")
        F = as_float64_array("factors", factors, ndim=3)
        if F.shape[:2] != (K, d):
            raise ValueError(f"factors must have shape ({K}, {d}, r), got {F.shape}")
        # thin eigendecomposition of F Fᵀ through the SVD of F (K small SVDs of d×r matrices)
        U, S, _ = np.linalg.svd(F, full_matrices=False)
        self.factor_eigvecs = U  # (K, d, r)
        self.factor_eigvals = S**2  # (K, r)

    @property
    def num_components(self) -> int:
        return self.weights.size

    # -- sampling ----------
    def sample_components(self, n: int, generator=None) -> torch.Tensor:
        """Latent component labels k ~ w (int64, shape ``(n,)``)."""
        w = torch.as_tensor(self.weights)
        return torch.multinomial(w, n, replacement=True, generator=generator)

    def _sample_flat(self, n, generator, dtype, device):
        k = self.sample_components(n, generator).to(device)
        return self._sample_given(k, generator, dtype, device)

    def _sample_given(self, k: torch.Tensor, generator, dtype, device) -> torch.Tensor:
        n, d = k.shape[0], self.dim
        mu = torch.as_tensor(self.means, dtype=dtype, device=device)[k]
        z = torch.randn((n, d), generator=generator, dtype=dtype, device=device)
        var = torch.as_tensor(self.variances, dtype=dtype, device=device)[k]
        if self.cov_kind == "diagonal":
            x = mu + var.sqrt() * z
        else:
            x = mu + var.sqrt()[:, None] * z
        if self.cov_kind == "lowrank":
            U = torch.as_tensor(self.factor_eigvecs, dtype=dtype, device=device)[k]
            lam = torch.as_tensor(self.factor_eigvals, dtype=dtype, device=device)[k]
            zr = torch.randn(lam.shape, generator=generator, dtype=dtype, device=device)
            x = x + torch.einsum("ndr,nr->nd", U, lam.sqrt() * zr)
        return x

    # -- core evaluation ----------
    def _chunks(self, n: int):
        r = 0 if self.factor_eigvals is None else self.factor_eigvals.shape[1]
        size = max(1, CHUNK_ELEMENTS // (self.num_components * (r + 1)))
        if self.cov_kind == "diagonal":
            size = max(1, size // 4)
        for start in range(0, n, size):
            yield slice(start, min(n, start + size))

    def _evaluate(self, x: torch.Tensor, sigma: torch.Tensor, want: str) -> torch.Tensor:
        """Dispatch ``want`` ∈ {denoise, score, log_prob, posterior} over row chunks."""
        if self.cov_kind == "diagonal":
            # D_k + σ² is a (K, d) array per distinct σ: group the rows by σ value
            uniq, inverse = torch.unique(sigma, return_inverse=True)
            out = None
            for gi, s in enumerate(uniq):
                rows = (inverse == gi).nonzero().squeeze(1)
                xs = x[rows]
                res = self._by_chunks(
                    len(rows), lambda c, xs=xs, s=s: self._eval_diag(xs[c], float(s), want)
                )
                if out is None:
                    out = x.new_empty((x.shape[0], *res.shape[1:]))
                out[rows] = res
            return out
        return self._by_chunks(x.shape[0], lambda c: self._eval_iso(x[c], sigma[c], want))

    def _by_chunks(self, n: int, evaluate) -> torch.Tensor:
        """``evaluate(rows)`` over the row chunks of :meth:`_chunks`, written into one output
        (no concatenation copy; a single chunk is returned as it is)."""
        chunks = list(self._chunks(n))
        first = evaluate(chunks[0])
        if len(chunks) == 1:
            return first
        out = first.new_empty((n, *first.shape[1:]))
        out[chunks[0]] = first
        for c in chunks[1:]:
            out[c] = evaluate(c)
        return out

    def _eval_iso(self, x: torch.Tensor, sigma: torch.Tensor, want: str) -> torch.Tensor:
        """Isotropic / low-rank+isotropic components, per-row σ."""
        M = self._param("means", self.means, x)  # (K, d)
        msq = self._param("msq", self._mean_sq, x)
        log_w = self._param("logw", self._log_w, x)
        s2 = self._param("var", self.variances, x)
        sig2 = sigma[:, None] ** 2
        v = s2[None, :] + sig2  # (n, K) noised isotropic variance
        xm = x @ M.T  # (n, K)
        d = self.dim
        lowrank = self.factor_eigvals is not None
        if self._common_var and not lowrank:
            # ‖x‖² is common to all components and cancels in the softmax
            logits = log_w + (xm - 0.5 * msq) / v
            xsq = None
        else:
            xsq = x.square().sum(1, keepdim=True)
            dist2 = (xsq - 2 * xm + msq).clamp_min(0)
            logits = log_w - 0.5 * (dist2 / v + d * torch.log(v))
        if lowrank:
            V = self._param("V", self.factor_eigvecs, x)  # (K, d, r)
            lam = self._param("lam", self.factor_eigvals, x)  # (K, r)
            K, _, r = V.shape
            Vs = V.permute(1, 0, 2).reshape(d, K * r)
            Vmu = self._param("Vmu", np.einsum("kdr,kd->kr", self.factor_eigvecs, self.means), x)
            proj = (x @ Vs).reshape(-1, K, r) - Vmu  # V_kᵀ(x − μ_k)
            shrink = lam / (v[..., None] * (lam + v[..., None]))  # (n, K, r)
            logits = logits + 0.5 * (proj.square() * shrink).sum(2)
            logits = logits - 0.5 * torch.log1p(lam / v[..., None]).sum(2)
        if want == "log_prob":
            j = logits.argmax(1)
            resid = x - M[j]
            vj = v.gather(1, j[:, None]).squeeze(1)
            exact = log_w[j] - 0.5 * (resid.square().sum(1) / vj + d * torch.log(vj))
            if lowrank:
                pj = proj[torch.arange(x.shape[0]), j]
                exact = exact + 0.5 * (pj.square() * shrink[torch.arange(x.shape[0]), j]).sum(1)
                exact = exact - 0.5 * torch.log1p(lam[j] / vj[:, None]).sum(1)
            rel = logits - logits.gather(1, j[:, None])
            return exact + torch.logsumexp(rel, 1) - 0.5 * d * _LOG_2PI
        P = _flush_subnormal(torch.softmax(logits, 1))
        if want == "posterior":
            return P
        if want == "denoise" and self._common_var and not lowrank:
            # one variance s² for every component: E[x0|x] = Σ_k P_k (μ_k + ρ(x − μ_k))
            # = (1 − ρ) P M + ρ x with ρ = s²/(s² + σ²) — two GEMMs in all, both terms of one
            # sign (no cancellation as σ → 0, where ρ → 1)
            out = P @ M
            if self._has_var:
                rho = s2[0] / v[:, :1]
                out = out.mul_(1 - rho).addcmul_(x, rho)
            return out
        j = logits.argmax(1)
        anchor = M[j]
        if want == "score":
            c = P / v  # (n, K)
            csum = c.sum(1, keepdim=True)
            out = -((x - anchor) * csum + (anchor * csum - c @ M))
            if lowrank:
                coef = P[..., None] * shrink * proj  # (n, K, r)
                out = out + coef.reshape(-1, K * r) @ Vs.T
            return out
        if want == "denoise":
            out = P @ M
            if bool((s2 > 0).any()):
                c = P * (s2 / v)
                csum = c.sum(1, keepdim=True)
                out = out + (x - anchor) * csum + (anchor * csum - c @ M)
            if lowrank:
                coef = P[..., None] * (
                    lam * sig2[..., None] / (v[..., None] * (lam + v[..., None]))
                )
                out = out + (coef * proj).reshape(-1, K * r) @ Vs.T
            return out
        raise ValueError(want)

    def _eval_diag(self, x: torch.Tensor, sigma: float, want: str) -> torch.Tensor:
        M = self._param("means", self.means, x)
        D = self._param("var", self.variances, x)
        log_w = self._param("logw", self._log_w, x)
        v = D + sigma**2  # (K, d)
        inv = 1.0 / v
        quad = (x.square() @ inv.T - 2 * x @ (M * inv).T + (M.square() * inv).sum(1)).clamp_min(0)
        logdet = torch.log(v).sum(1)
        logits = log_w - 0.5 * (quad + logdet)
        if want == "log_prob":
            j = logits.argmax(1)
            exact = log_w[j] - 0.5 * (((x - M[j]).square() * inv[j]).sum(1) + logdet[j])
            rel = logits - logits.gather(1, j[:, None])
            return exact + torch.logsumexp(rel, 1) - 0.5 * self.dim * _LOG_2PI
        P = _flush_subnormal(torch.softmax(logits, 1))
        if want == "posterior":
            return P
        if want == "score":
            return -(x * (P @ inv) - P @ (M * inv))
        if want == "denoise":
            shrink = D * inv
            return P @ M + x * (P @ shrink) - P @ (shrink * M)
        raise ValueError(want)

    def _denoise_flat(self, x, sigma):
        return self._evaluate(x, sigma, "denoise")

    def _score_flat(self, x, sigma):
        return self._evaluate(x, sigma, "score")

    def _log_prob_flat(self, x, sigma):
        return self._evaluate(x, sigma, "log_prob")

    def posterior(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """Component responsibilities p(k | x_σ = x), shape ``(n, K)``."""
        xf, s = self._prepare(x, sigma)
        return self._evaluate(xf, s, "posterior")

    # -- closed forms and estimates ----------
    @property
    def data_mean(self) -> np.ndarray:
        return self.weights @ self.means

    @property
    def second_moment(self) -> float:
        w = self.weights
        if self.cov_kind == "diagonal":
            tr = self.variances.sum(1)
        else:
            tr = self.dim * self.variances
            if self.factor_eigvals is not None:
                tr = tr + self.factor_eigvals.sum(1)
        return float(w @ (self._mean_sq + tr))

    def component_eigvals(self) -> np.ndarray:
        """Eigenvalues of each Σ_k, shape ``(K, d)`` (used by the information formulas)."""
        d = self.dim
        if self.cov_kind == "diagonal":
            return self.variances.copy()
        e = np.repeat(self.variances[:, None], d, axis=1)
        if self.factor_eigvals is not None:
            r = self.factor_eigvals.shape[1]
            e[:, :r] += self.factor_eigvals
        return e

    def within_component_mmse(self, sigma) -> np.ndarray:
        """Σ_k w_k tr C_k(σ), C_k = Σ_k − Σ_k(Σ_k+σ²I)^{-1}Σ_k the within-component posterior
        covariance; tr C_k = Σ_i e_ki σ²/(e_ki + σ²). Exact."""
        sig = _sigma_array(sigma)
        s2 = sig.reshape(-1, 1, 1) ** 2
        eig = self.component_eigvals()[None]
        return ((eig * s2 / (eig + s2)).sum(2) @ self.weights).reshape(sig.shape)

    #: rows per block of the common-variance tilted estimator (its (rows, K) work arrays)
    TILT_BLOCK_ROWS = 512
    #: largest K for which :meth:`mmse_estimate` uses the tilted importance sampler (K×K pairs)
    IMPORTANCE_MAX_COMPONENTS = 4096

    def mmse_estimate(
        self,
        sigma,
        *,
        num_samples: int = 4096,
        seed: int = 0,
        batch_size: int = 4096,
        importance: bool | None = None,
    ) -> MonteCarloEstimate:
        """mmse(σ) by the law of total variance, E tr Cov(x0|x_σ) = Σ_k w_k tr C_k(σ) +
        E‖m_K(x_σ) − E[x0|x_σ]‖², m_k the component-k posterior mean. The first (within-
        component) term is exact; the second ("confusion" term) is an unbiased Monte-Carlo
        estimate. Common random numbers across σ; float64.

        At high SNR the confusion term is a rare event (x_σ crossing towards another component,
        probability ~ Q(D/2σ)) that plain sampling never sees, so its estimate would be 0 where
        the truth is, say, 1e-7 — and a schedule optimiser would exploit that. For isotropic
        components (atoms included, K ≤ ``IMPORTANCE_MAX_COMPONENTS``) the noise is therefore
        drawn from a defensive mixture of exponential tilts: with probability ½ untilted, else
        shifted along u_kj = (μ_j − μ_k)/D_kj by the distance to the midpoint, μ_kj = D_kj/(2√v_k),
        with j chosen ∝ w_j e^{−μ_kj²/2}. The likelihood ratio
        p/q = 1/(½ + Σ_j ρ_j exp(μ_kj t_j − μ_kj²/2)), t_j = ξ·u_kj, is ≤ 2, so the estimator is
        unbiased with bounded weights and resolves the tail down to float64 underflow."""
        sig = _sigma_array(sigma)
        num_samples = check_positive_int("num_samples", num_samples)
        if importance is None:
            importance = (
                self.cov_kind == "isotropic"
                and self.factor_eigvals is None
                and 1 < self.num_components <= self.IMPORTANCE_MAX_COMPONENTS
            )
        elif importance and (self.cov_kind != "isotropic" or self.factor_eigvals is not None):
            raise ValueError("importance sampling is implemented for isotropic components only")
        gen = torch.Generator().manual_seed(seed)
        flat = sig.reshape(-1)
        batch_stats: list[tuple[int, np.ndarray, np.ndarray]] = []
        cpu, f64 = torch.device("cpu"), torch.float64
        done = 0
        while done < num_samples:
            m = min(batch_size, num_samples - done)
            means_b, stds_b = np.zeros(flat.size), np.zeros(flat.size)
            k = self.sample_components(m, gen)
            fast = None
            if importance:
                z = torch.randn((m, self.dim), generator=gen, dtype=f64)
                u = torch.rand((m, 2), generator=gen, dtype=f64)
                if self._common_var:  # row blocks: smaller work arrays
                    fast = [
                        (self._tilt_batch(k[r], z[r]), u[r])
                        for r in torch.arange(m).split(self.TILT_BLOCK_ROWS)
                    ]
            else:
                x0 = self._sample_given(k, gen, f64, cpu)
                z = torch.randn(x0.shape, generator=gen, dtype=f64)
            for i, s in enumerate(flat):
                if fast is not None:
                    err = torch.cat(
                        [self._confusion_tilted_common(b, ub, float(s)) for b, ub in fast]
                    )
                elif importance:
                    err = self._confusion_tilted(k, z, u, float(s))
                else:
                    x = x0 + float(s) * z
                    st = torch.full((m,), float(s), dtype=f64)
                    gap = self._component_posterior_mean(x, k, float(s)) - self._denoise_flat(x, st)
                    err = gap.square().sum(1)
                means_b[i], stds_b[i] = _scaled_mean_std(err)
            batch_stats.append((m, means_b, stds_b))
            done += m
        mean, stderr = _pool_batches(batch_stats)
        value = self.within_component_mmse(flat) + mean
        return MonteCarloEstimate(
            sig, value.reshape(sig.shape), stderr.reshape(sig.shape), num_samples
        )

    def _pair_distances(self) -> torch.Tensor:
        key = ("pairdist",)
        if key not in self._cache:
            M = torch.as_tensor(self.means)
            self._cache[key] = torch.cdist(M, M)
        return self._cache[key]

    def _confusion_tilted(self, k: torch.Tensor, z: torch.Tensor, u: torch.Tensor, sigma: float):
        """Importance-weighted ‖m_k(x) − m(x)‖² for isotropic components (see mmse_estimate)."""
        n = k.shape[0]
        M = torch.as_tensor(self.means)
        s2 = torch.as_tensor(self.variances)
        v = s2 + sigma**2  # (K,)
        sd = v[k].sqrt()  # (n,)
        D = self._pair_distances()[k]  # (n, K), distance from μ_k to every μ_j
        tilt = D / (2 * sd[:, None])  # μ_kj, 0 for j = k
        rows = torch.arange(n)
        log_rho = torch.log(torch.as_tensor(self.weights)).expand(n, -1) - 0.5 * tilt**2
        log_rho = log_rho.clone()
        log_rho[rows, k] = -math.inf
        log_rho[D == 0] = -math.inf  # coincident means: no direction to tilt along
        log_rho = log_rho - torch.logsumexp(log_rho, 1, keepdim=True) + math.log(0.5)
        has_other = torch.isfinite(log_rho).any(1)
        # choose the tilt by inverse CDF with the shared uniforms (common random numbers)
        cdf = torch.cumsum(torch.exp(log_rho), 1) * 2  # in [0, 1]
        choice = (
            torch.searchsorted(cdf, u[:, 1:2].contiguous())
            .squeeze(1)
            .clamp_max(self.num_components - 1)
        )
        tilted = (u[:, 0] >= 0.5) & has_other
        safe_D = torch.where(D > 0, D, torch.ones_like(D))
        direction = (M[choice] - M[k]) / safe_D[rows, choice][:, None]
        shift = torch.where(tilted, tilt[rows, choice], torch.zeros_like(sd))
        xi = z + shift[:, None] * direction
        # t_j = ξ·(μ_j − μ_k)/D_kj for every j
        t = (xi @ M.T - (xi * M[k]).sum(1, keepdim=True)) / safe_D
        terms = torch.where(
            torch.isfinite(log_rho),
            log_rho + tilt * t - 0.5 * tilt**2,
            torch.full_like(t, -math.inf),
        )
        log_q_over_p = torch.logsumexp(
            torch.cat([torch.full((n, 1), math.log(0.5), dtype=t.dtype), terms], 1), 1
        )
        log_q_over_p = torch.where(has_other, log_q_over_p, torch.zeros_like(log_q_over_p))
        x = M[k] + sd[:, None] * xi
        gap = self._component_posterior_mean(x, k, sigma) - self._denoise_flat(
            x, torch.full((n,), sigma, dtype=x.dtype)
        )
        return gap.square().sum(1) * torch.exp(-log_q_over_p)

    def _tilt_batch(self, k: torch.Tensor, z: torch.Tensor) -> dict:
        """σ-independent parts of :meth:`_confusion_tilted` for one batch (common variance)."""
        M = torch.as_tensor(self.means)
        D = self._pair_distances()[k]  # (n, K)
        safe_D = torch.where(D > 0, D, torch.ones_like(D))
        log_w = torch.as_tensor(self._log_w).expand_as(D)
        rows = torch.arange(k.shape[0])
        valid = torch.isfinite(log_w) & (D > 0)
        valid[rows, k] = False
        G = M @ M.T
        zM = z @ M.T  # ξ·μ_j
        # t_j(z) = z·(μ_j − μ_k)/D_kj for the untilted draw
        t0 = (zM - zM.gather(1, k[:, None])) / safe_D
        return dict(
            k=k,
            D=D,
            D2=D * D,
            safe_D=safe_D,
            log_w=log_w,
            rows=rows,
            G=G,
            t0=t0,
            has_other=valid.any(1),
            M=M,
            Mk=M[k],
            G_k=G[k],
            G_kk=G[k].gather(1, k[:, None]),
            log_w_valid=log_w.masked_fill(~valid, -math.inf),
        )

    def _confusion_tilted_common(self, b: dict, u: torch.Tensor, sigma: float) -> torch.Tensor:
        """:meth:`_confusion_tilted` for a common isotropic variance s², with the σ-independent
        work hoisted out of the level loop (:meth:`_tilt_batch`) and the posterior read off the
        same t_j: with x = μ_k + √v ξ (v = s² + σ²), ‖x − μ_j‖² = D_kj² − 2√v D_kj t_j + const,
        so logit_j = log w_j − (D_kj² − 2√v D_kj t_j)/(2v) and no second GEMM is needed; the gap
        m_k(x) − m(x) = (σ²/v)(μ_k − Σ_j p_j μ_j). Same estimator, same random numbers."""
        k, D, rows = b["k"], b["D"], b["rows"]
        v = float(self.variances[0]) + sigma**2
        sd = math.sqrt(v)
        # tilt probabilities ρ_j ∝ w_j exp(−μ_kj²/2), μ_kj = D_kj/(2√v), summing to ½
        half_tilt_sq = b["D2"] * (1 / (8 * v))  # μ_kj²/2
        a = b["log_w_valid"] - half_tilt_sq
        a = a - a.amax(1, keepdim=True).clamp_min(-1e300)
        rho = torch.exp(a)
        norm = rho.sum(1, keepdim=True).clamp_min(1e-300)
        rho *= 0.5 / norm
        log_rho = a - torch.log(norm) + math.log(0.5)  # in log space: no underflow
        has_other = b["has_other"]
        cdf = torch.cumsum(rho, 1).mul_(2)
        choice = (
            torch.searchsorted(cdf, u[:, 1:2].contiguous())
            .squeeze(1)
            .clamp_max(self.num_components - 1)
        )
        tilted = (u[:, 0] >= 0.5) & has_other
        shift = D[rows, choice] * ((1 / (2 * sd)) * tilted.to(D.dtype))
        # t_j(ξ) for ξ = z + shift·(μ_c − μ_k)/D_kc: direction·(μ_j − μ_k) from the Gram matrix
        G, c, kk = b["G"], choice[:, None], k[:, None]
        g_c, g_k = G[choice], b["G_k"]
        g_ck = g_c.gather(1, kk)
        cross = g_c.sub_(g_k).sub_(g_ck - b["G_kk"])
        t = cross.mul_((shift[:, None] / b["safe_D"].gather(1, c)) / b["safe_D"]).add_(b["t0"])
        # log q/p = log(½ + Σ_j ρ_j exp(μ_kj t_j − μ_kj²/2)) over the valid j
        Dt = D * t
        e = log_rho + Dt * (1 / (2 * sd)) - half_tilt_sq  # −inf where not valid
        e_max = e.amax(1, keepdim=True).clamp_min(math.log(0.5))
        q_over_p = torch.exp(e - e_max).sum(1) + 0.5 * torch.exp(-e_max[:, 0])
        log_q_over_p = torch.where(
            has_other, torch.log(q_over_p) + e_max[:, 0], torch.zeros_like(q_over_p)
        )
        # posterior from the same t_j (a GEMM-free denoiser)
        logits = b["log_w"] + (Dt * (2 * sd) - b["D2"]) * (1 / (2 * v))
        post = torch.softmax(logits, 1)
        gap = b["Mk"] - post @ b["M"]
        return gap.square().sum(1) * (sigma**2 / v) ** 2 * torch.exp(-log_q_over_p)

    def _component_posterior_mean(self, x: torch.Tensor, k: torch.Tensor, sigma: float):
        """m_k(x) = μ_k + Σ_k(Σ_k + σ²I)^{-1}(x − μ_k) for one given component per row."""
        mu = self._param("means", self.means, x)[k]
        var = self._param("var", self.variances, x)[k]
        s2 = sigma**2
        if self.cov_kind == "diagonal":
            return mu + var / (var + s2) * (x - mu)
        y = x - mu
        out = mu + (var / (var + s2))[:, None] * y
        if self.factor_eigvals is not None:
            V = self._param("V", self.factor_eigvecs, x)[k]  # (n, d, r)
            lam = self._param("lam", self.factor_eigvals, x)[k]  # (n, r)
            v = (var + s2)[:, None]
            proj = torch.einsum("ndr,nd->nr", V, y)
            out = out + torch.einsum("ndr,nr->nd", V, lam * s2 / (v * (lam + v)) * proj)
        return out

    def latent_entropy(self, order: float = 1.0) -> float:
        """Rényi entropy of the component label K ~ w in nats (1 = Shannon, ½ = Rényi-½).

        This is the H of the dimension-free bounds for mixtures (mission item 2)."""
        return _discrete_renyi(self.weights, order)

    def entropy(self, order: float = 1.0) -> float:
        raise NotImplementedError(
            "a Gaussian mixture has no closed-form differential entropy; use latent_entropy() "
            "for the entropy of the mixture label"
        )

    def conditional_entropy_estimate(
        self, sigma, *, num_samples: int = 4096, seed: int = 0
    ) -> MonteCarloEstimate:
        """H(K | x_σ) = E_{x_σ}[H(p(·|x_σ))] by Monte Carlo: the per-sample posterior entropy is
        the Rao-Blackwellised version of −log p(K|x_σ), unbiased with lower variance (zero as
        σ → ∞ or σ → 0). Common random numbers across σ."""
        sig = _sigma_array(sigma)
        num_samples = check_positive_int("num_samples", num_samples)
        gen = torch.Generator().manual_seed(seed)
        k = self.sample_components(num_samples, gen)
        x0 = self._sample_given(k, gen, torch.float64, torch.device("cpu"))
        z = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
        vals, errs = [], []
        for s in sig.reshape(-1):
            st = torch.full((num_samples,), float(s), dtype=torch.float64)
            P = self._evaluate(x0 + float(s) * z, st, "posterior")
            nll = -torch.special.xlogy(P, P).sum(1)  # entropy of the posterior (Rao-Blackwell)
            vals.append(float(nll.mean()))
            errs.append(float(nll.std()) / math.sqrt(max(num_samples - 1, 1)))
        return MonteCarloEstimate(
            sig, np.array(vals).reshape(sig.shape), np.array(errs).reshape(sig.shape), num_samples
        )

    def mutual_information(self, sigma, *, num_samples: int = 4096, seed: int = 0) -> np.ndarray:
        """I(x0; x_σ) = [H(K) − H(K|x_σ)] + Σ_k w_k ½ Σ_i log1p(e_ki/σ²)  (chain rule, since
        K → x0 → x_σ), with e_ki the eigenvalues of Σ_k. The first bracket is a Monte-Carlo
        estimate (:meth:`conditional_entropy_estimate`); the second is exact."""
        sig = _sigma_array(sigma)
        cond = self.conditional_entropy_estimate(sig, num_samples=num_samples, seed=seed).value
        eig = self.component_eigvals()
        s2 = sig.reshape(-1, 1, 1) ** 2
        within = (0.5 * np.log1p(eig[None] / s2).sum(2)) @ self.weights
        return self.latent_entropy() - cond + within.reshape(sig.shape)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(K={self.num_components}, dim={self.dim}, "
            f"cov_kind={self.cov_kind!r})"
        )


def _scaled_mean_std(values: torch.Tensor) -> tuple[float, float]:
    """Mean and standard deviation of non-negative values without squaring tiny numbers (values
    down to 1e-300 would underflow when squared)."""
    scale = float(values.max()) if values.numel() else 0.0
    if scale == 0.0:
        return 0.0, 0.0
    r = values / scale
    return float(r.mean()) * scale, float(r.std()) * scale if values.numel() > 1 else 0.0


def _pool_batches(stats: list[tuple[int, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Pool per-batch (n, mean, std) into the overall mean and its standard error, scaled."""
    n = np.array([b[0] for b in stats], dtype=np.float64)[:, None]
    means = np.stack([b[1] for b in stats])
    stds = np.stack([b[2] for b in stats])
    total = n.sum()
    mean = (n * means).sum(0) / total
    scale = np.maximum(np.abs(means).max(0), stds.max(0))
    scale = np.where(scale > 0, scale, 1.0)
    ss = ((n - 1) * (stds / scale) ** 2 + n * ((means - mean) / scale) ** 2).sum(0)
    stderr = scale * np.sqrt(ss / max(total - 1, 1) / total)
    return mean, stderr


def _discrete_renyi(p: np.ndarray, order: float) -> float:
    """Rényi entropy of a probability vector: H_α = log(Σ p^α)/(1−α); α=1 Shannon, α=∞ min."""
    order = float(order)
    if not order > 0:
        raise ValueError(f"order must be > 0, got {order}")
    p = p[p > 0]
    if order == 1.0:
        return float(-(p * np.log(p)).sum())
    if math.isinf(order):
        return float(-np.log(p.max()))
    # log Σ p^α via log-sum-exp
    a = order * np.log(p)
    m = a.max()
    return float((m + np.log(np.exp(a - m).sum())) / (1.0 - order))
