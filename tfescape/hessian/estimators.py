"""Spectral probes of a symmetric operator given only as a matrix-vector callable (float64).

These are the algorithms behind :mod:`tfescape.hessian.probes`, usable on a Hessian from any source
(a :class:`~tfescape.hessian.hvp.HessianOperator`, an explicit matrix, the SDE theory's quadratic
basins): ``mvp_fn`` maps a float64 vector of length ``dim`` to H v.

- :func:`top_eigenvalues_of`: extreme eigenpairs (Lanczos, block Lanczos, or power iteration with
  deflation).
- :func:`trace_of`: Hutchinson's estimator tr(H) ~ mean_i z_i^T H z_i over Rademacher z_i, or Hutch++,
  which first captures the dominant subspace exactly (Q = orth(H S)) and runs Hutchinson only on the
  deflated remainder (I - Q Q^T) H (I - Q Q^T): error O(1/m) instead of O(1/sqrt(m)) for m products.
- :func:`diagonal_of`: Bekas et al.'s diag(H) ~ mean_i z_i * (H z_i) over Rademacher z_i, or exact
  columns e_i^T H e_i from ``dim`` unit-vector products.
- :func:`spectral_density_of`: stochastic Lanczos quadrature. For a unit start q, Lanczos with m
  steps gives nodes theta_j (Ritz values) and weights tau_j (squared first components of the
  eigenvectors of T_m) such that sum_j tau_j f(theta_j) ~ q^T f(H) q; averaging over random starts,
  E[q^T f(H) q] = (1/dim) sum_i f(lambda_i). Smoothing the nodes with a Gaussian kernel of width sigma
  gives the density phi(t) = mean_starts sum_j tau_j N(t; theta_j, sigma^2).

References:
    Hutchinson (1990), A stochastic estimator of the trace of the influence matrix for Laplacian
    smoothing splines. Comm. Statist. Simulation Comput. 19(2).
    Meyer, Musco, Musco & Woodruff (2021), Hutch++: Optimal stochastic trace estimation. SOSA.
    Bekas, Kokiopoulou & Saad (2007), An estimator for the diagonal of a matrix. Appl. Numer. Math. 57.
    Lin, Saad & Yang (2016), Approximating spectral densities of large matrices. SIAM Review 58(1).
    Ghorbani, Krishnan & Xiao (2019), An investigation into neural net optimization via Hessian
    eigenvalue density. ICML.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tfescape import _checks
from tfescape.hessian import _random
from tfescape.hessian.lanczos import (
    EigenResult,
    _check_block_size,
    _check_dim,
    _checked_matmat,
    _checked_mvp,
    _LanczosIteration,
    _start_vector,
    block_lanczos_eigenvalues,
    lanczos_eigenvalues,
    power_iteration,
)

logger = logging.getLogger(__name__)

MvpFn = Callable[[np.ndarray], np.ndarray]
MatmatFn = Callable[[np.ndarray], np.ndarray]

PRODUCT_BLOCK = 16
"""With ``matmat_fn``, at most this many products are requested in one call."""

TRACE_METHODS = ("hutch++", "hutchinson")
EIGEN_METHODS = ("lanczos", "power")


@dataclass(frozen=True)
class TraceResult:
    """A trace estimate.

    Attributes:
        estimate: the estimate of tr(H).
        stderr: its standard error (sample standard deviation of the stochastic part / sqrt(probes));
            for Hutch++ the deterministic part tr(Q^T H Q) carries no error. NaN if it cannot be
            estimated (a single stochastic probe).
        method: "hutchinson" or "hutch++".
        num_probes: matrix-vector products used.
        relative_stderr: stderr / |estimate|, the relative error reached (NaN where stderr is).
        converged: with ``rtol``, whether relative_stderr <= rtol was reached within ``max_probes``;
            True without ``rtol`` (a fixed budget has nothing to reach).
    """

    estimate: float
    stderr: float
    method: str
    num_probes: int
    relative_stderr: float = math.nan
    converged: bool = True


@dataclass(frozen=True)
class DiagonalResult:
    """An estimate of diag(H).

    Attributes:
        diagonal: (dim,) the estimate.
        stderr: (dim,) per-entry standard errors (zeros for the exact method).
        method: "hutchinson" or "exact".
        num_probes: matrix-vector products used.
        relative_stderr: ||stderr|| / ||diagonal|| (Euclidean norms), the relative error reached.
        converged: with ``rtol``, whether relative_stderr <= rtol was reached within ``max_probes``;
            True otherwise.
    """

    diagonal: np.ndarray
    stderr: np.ndarray
    method: str
    num_probes: int
    relative_stderr: float = math.nan
    converged: bool = True


@dataclass(frozen=True)
class DensityResult:
    """A smoothed spectral density from stochastic Lanczos quadrature.

    Attributes:
        grid: (g,) points t where the density is evaluated.
        density: (g,) phi(t) = mean over starts of sum_j tau_j N(t; theta_j, sigma^2); it integrates to
            about 1 when the grid covers the spectrum.
        nodes: (num_random_starts, m) Ritz values theta_j of each start (descending; padded with NaN if
            a start stopped early on an invariant subspace).
        weights: (num_random_starts, m) quadrature weights tau_j (sum to 1 per start; 0 where padded).
        sigma: Gaussian kernel width.
        num_mvps: matrix-vector products used.
    """

    grid: np.ndarray
    density: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    sigma: float
    num_mvps: int

    def mass(self, low: float, high: float) -> float:
        """Spectral mass in [low, high]: the mean quadrature weight of the nodes there (no smoothing).

        It estimates (number of eigenvalues in [low, high]) / dim.
        """
        inside = (self.nodes >= low) & (self.nodes <= high)
        return float(np.where(inside, self.weights, 0.0).sum(axis=1).mean())


def top_eigenvalues_of(
    mvp_fn: MvpFn,
    *,
    dim: int,
    k: int = 1,
    smallest: bool = False,
    method: str = "lanczos",
    tol: float = 1e-3,
    max_iters: int | None = None,
    seed=None,
    matmat_fn: MatmatFn | None = None,
    block_size: int | None = None,
) -> EigenResult:
    """The k largest (or, with ``smallest``, smallest) eigenpairs of a symmetric operator.

    Args:
        mvp_fn: v -> H v on float64 vectors of length ``dim``.
        dim: dimension.
        k: number of eigenpairs (<= dim).
        smallest: the k smallest (most negative first) instead; needs method="lanczos".
        method: "lanczos" (full reorthogonalization; stops when each residual <= tol |lambda|) or
            "power" (power iteration with deflation; finds the largest magnitudes; stops when the
            estimate changes by < tol relative).
        tol: tolerance (see method).
        max_iters: product limit (Lanczos: total; power: per eigenpair). Default: min(dim, max(100, 4k))
            for Lanczos, 100 for power iteration (block Lanczos: see
            :func:`~tfescape.hessian.lanczos.block_lanczos_eigenvalues`).
        seed: seed of the random starts.
        matmat_fn: optional V -> H V on float64 arrays of shape (dim, p), e.g.
            :meth:`HessianOperator.matmat <tfescape.hessian.hvp.HessianOperator.matmat>`; used by
            block Lanczos (one call per block step). Without it a block is computed column by
            column with ``mvp_fn``.
        block_size: with method="lanczos", a block size > 1 runs
            :func:`~tfescape.hessian.lanczos.block_lanczos_eigenvalues` (method "block_lanczos") with
            that many vectors per step; None or 1 (default) runs single-vector Lanczos.

    Returns:
        EigenResult.

    Raises:
        ValueError: unknown method, k > dim, smallest or block_size with power iteration, block_size
            not an int in [1, dim].
    """
    if method not in EIGEN_METHODS:
        raise ValueError(f"Unknown method {method!r}. Choose one of {', '.join(EIGEN_METHODS)}.")
    if block_size is not None:
        _check_dim(dim)
        _check_block_size(block_size, dim)
    if method == "power":
        if smallest:
            raise ValueError(
                "smallest=True needs method='lanczos' (power iteration finds the largest |lambda|)."
            )
        if block_size is not None:
            raise ValueError("block_size needs method='lanczos' (power iteration uses one vector at a time).")
        return power_iteration(
            mvp_fn, dim=dim, k=k, tol=tol, max_iters=100 if max_iters is None else max_iters, seed=seed
        )
    if block_size is not None and block_size > 1:
        return block_lanczos_eigenvalues(
            _Products(mvp_fn, matmat_fn, dim),
            dim=dim,
            k=k,
            block_size=block_size,
            smallest=smallest,
            tol=tol,
            max_iters=max_iters,
            seed=seed,
        )
    return lanczos_eigenvalues(
        mvp_fn, dim=dim, k=k, smallest=smallest, tol=tol, max_iters=max_iters, seed=seed
    )


def trace_of(
    mvp_fn: MvpFn,
    *,
    dim: int,
    num_probes: int | None = None,
    method: str = "hutch++",
    rtol: float | None = None,
    max_probes: int = 1000,
    seed=None,
    matmat_fn: MatmatFn | None = None,
) -> TraceResult:
    """Estimate tr(H) from matrix-vector products: a fixed budget, or until a relative standard error.

    Hutchinson: mean of z^T H z over Rademacher z (unbiased, variance 2 sum_{i != j} H_ij^2 per probe).
    Hutch++: s = num_probes // 3 sketch vectors S, Q = orth(H S); estimate tr(Q^T H Q) exactly with s
    products and the remainder with num_probes - 2 s Hutchinson probes of (I - QQ^T) H (I - QQ^T).
    If the sketch spans H's range (s >= rank H) the result is exact up to rounding.

    Adaptive stopping (``rtol``): after the first ``num_probes`` products, stochastic probes are added
    one at a time until stderr <= rtol * |estimate| or ``max_probes`` products are spent, so a user who
    asks for 1% pays for 1%. The standard error is the sample one, and stopping on it is a sequential
    rule: with at least 10 stochastic samples (the default minimum) it tracks the true error closely,
    and the result reports the error reached (``relative_stderr``) and whether rtol was met.

    Args:
        mvp_fn: v -> H v on float64 vectors.
        dim: dimension.
        num_probes: products of the fixed budget (Hutchinson >= 2, Hutch++ >= 4); default 99. With
            ``rtol``: the products spent before the first stopping check (Hutch++: its sketch is
            num_probes // 3); default 12 for Hutchinson, 30 for Hutch++.
        method: "hutch++" or "hutchinson".
        rtol: target relative standard error (> 0), or None for the fixed budget.
        max_probes: with ``rtol``, the most products to spend (>= num_probes).
        seed: seed of the probes.
        matmat_fn: optional V -> H V on float64 arrays of shape (dim, k), e.g.
            :meth:`HessianOperator.matmat <tfescape.hessian.hvp.HessianOperator.matmat>`, which
            shares one pass over the data among several products. Products are then requested in
            blocks (at most ``PRODUCT_BLOCK``), with the same probes in the same order, so the result
            equals the one from ``mvp_fn`` alone up to rounding. With ``rtol`` the block sizes follow
            the predicted number of probes still needed; products computed past the stopping point
            (rarely more than a few) are discarded and not counted in ``num_probes``.

    Returns:
        TraceResult.

    Raises:
        ValueError: unknown method, too few probes, rtol <= 0, max_probes < num_probes.
    """
    _check_dim(dim)
    if method not in TRACE_METHODS:
        raise ValueError(f"Unknown trace method {method!r}. Choose one of {', '.join(TRACE_METHODS)}.")
    if num_probes is None:
        num_probes = 99 if rtol is None else (30 if method == "hutch++" else 12)
    minimum = 4 if method == "hutch++" else 2
    if num_probes < minimum:
        raise ValueError(f"{method} needs num_probes >= {minimum} (to estimate its error), got {num_probes}.")
    budget = _adaptive_budget(rtol, num_probes, max_probes)
    products = _Products(mvp_fn, matmat_fn, dim)
    if method == "hutchinson":
        seeds = iter(_random.split_seeds(seed, budget, salt="hutchinson_trace"))
        exact, sketch = 0.0, 0

        def samples_of(count):
            probes = _rademacher_columns(seeds, count, dim)
            return [z @ hz for z, hz in zip(probes.T, products(probes).T, strict=True)]

    else:
        sketch = num_probes // 3
        seeds = iter(_random.split_seeds(seed, budget - sketch, salt="hutch_plus_plus"))
        basis = _orthonormal_range(products(_rademacher_columns(seeds, sketch, dim)))
        exact = sum(float(q @ hq) for q, hq in zip(basis.T, products(basis).T, strict=True))
        sketch += basis.shape[1]

        def samples_of(count):
            probes = [z - basis @ (basis.T @ z) for z in _rademacher_columns(seeds, count, dim).T]
            images = products(np.stack(probes, axis=1)).T if probes else []
            return [z @ (hz - basis @ (basis.T @ hz)) for z, hz in zip(probes, images, strict=True)]

    first = num_probes - 2 * (num_probes // 3) if method == "hutch++" else num_probes
    most = budget - (num_probes - first)  # stochastic samples allowed within the budget
    samples = [float(v) for v in samples_of(first)]
    while rtol is not None and len(samples) < most and not _trace_within(exact, samples, rtol):
        needed = _predicted_more(len(samples), _trace_relative_error(exact, samples) / rtol)
        for value in samples_of(products.block(needed, most - len(samples))):
            samples.append(float(value))
            if len(samples) >= most or _trace_within(exact, samples, rtol):
                break
    estimate, stderr = exact + float(np.mean(samples)), _stderr(samples)
    relative = stderr / abs(estimate) if estimate != 0 else math.inf
    converged = rtol is None or relative <= rtol
    if not converged:
        logger.warning(
            "Trace reached relative standard error %.3g > rtol=%.3g after max_probes=%d products; "
            "raise max_probes for a tighter estimate.",
            relative,
            rtol,
            budget,
        )
    return TraceResult(estimate, stderr, method, sketch + len(samples), relative, converged)


def diagonal_of(
    mvp_fn: MvpFn,
    *,
    dim: int,
    num_probes: int | None = None,
    exact: bool = False,
    rtol: float | None = None,
    max_probes: int = 1000,
    seed=None,
    matmat_fn: MatmatFn | None = None,
) -> DiagonalResult:
    """Estimate diag(H): Hutchinson-style mean of z * (H z), or exactly from unit vectors.

    Adaptive stopping (``rtol``): after ``num_probes`` probes, probes are added one at a time until
    ||stderr|| <= rtol * ||estimate|| (Euclidean norms over all entries) or ``max_probes`` are spent;
    the result reports the relative error reached.

    Args:
        mvp_fn: v -> H v on float64 vectors.
        dim: dimension.
        num_probes: Rademacher probes (>= 2); default 100, or 12 before the first check with ``rtol``.
            Ignored when exact.
        exact: use the ``dim`` products H e_i (exact; only for small operators).
        rtol: target relative standard error (> 0), or None for the fixed budget.
        max_probes: with ``rtol``, the most probes to spend.
        seed: seed of the probes.
        matmat_fn: optional V -> H V on float64 arrays of shape (dim, k), e.g.
            :meth:`HessianOperator.matmat <tfescape.hessian.hvp.HessianOperator.matmat>`, which
            shares one pass over the data among several products. Products are then requested in
            blocks (at most ``PRODUCT_BLOCK``), with the same probes in the same order, so the result
            equals the one from ``mvp_fn`` alone up to rounding. With ``rtol`` the block sizes follow
            the predicted number of probes still needed; products computed past the stopping point
            (rarely more than a few) are discarded and not counted in ``num_probes``.

    Returns:
        DiagonalResult.

    Raises:
        ValueError: fewer than 2 probes, rtol <= 0, max_probes < num_probes.
    """
    _check_dim(dim)
    products = _Products(mvp_fn, matmat_fn, dim)
    if exact:
        diag = np.empty(dim)
        for start in range(0, dim, products.block(dim, dim)):
            stop = min(start + products.block(dim, dim), dim)
            units = np.zeros((dim, stop - start))
            units[np.arange(start, stop), np.arange(stop - start)] = 1.0
            diag[start:stop] = products(units)[np.arange(start, stop), np.arange(stop - start)]
        return DiagonalResult(diag, np.zeros(dim), "exact", dim, 0.0, True)
    if num_probes is None:
        num_probes = 100 if rtol is None else 12
    if num_probes < 2:
        raise ValueError(f"diagonal needs num_probes >= 2 (to estimate its error), got {num_probes}.")
    budget = _adaptive_budget(rtol, num_probes, max_probes)
    seeds = _random.split_seeds(seed, budget, salt="hutchinson_diagonal")
    total, total_sq = np.zeros(dim), np.zeros(dim)
    count, done = 0, False
    while count < budget and not done:
        if count < num_probes:
            wanted = num_probes - count
        else:
            wanted = _predicted_more(count, _diagonal_error(total, total_sq, count)[2] / rtol)
        block = products.block(wanted, budget - count)
        probes = _rademacher_columns(iter(seeds[count : count + block]), block, dim)
        for sample in (probes * products(probes)).T:
            total += sample
            total_sq += sample**2
            count += 1
            done = count >= num_probes and (
                rtol is None or _diagonal_error(total, total_sq, count)[2] <= rtol
            )
            if done:
                break
    mean, stderr, relative = _diagonal_error(total, total_sq, count)
    converged = rtol is None or relative <= rtol
    if not converged:
        logger.warning(
            "Diagonal reached relative standard error %.3g > rtol=%.3g after max_probes=%d products.",
            relative,
            rtol,
            budget,
        )
    return DiagonalResult(mean, stderr, "hutchinson", count, relative, converged)


def _adaptive_budget(rtol, num_probes, max_probes) -> int:
    """The most products to spend: num_probes for a fixed budget, max_probes with rtol."""
    if rtol is None:
        return num_probes
    if not (isinstance(rtol, int | float) and rtol > 0 and math.isfinite(rtol)):
        raise ValueError(f"rtol must be a positive number (e.g. 0.01 for 1%), got {rtol!r}.")
    if max_probes < num_probes:
        raise ValueError(f"max_probes ({max_probes}) must be >= num_probes ({num_probes}); raise max_probes.")
    return max_probes


def _trace_within(exact, samples, rtol) -> bool:
    if len(samples) < 2:
        return False
    estimate = exact + float(np.mean(samples))
    return _stderr(samples) <= rtol * abs(estimate)


def _diagonal_error(total, total_sq, count):
    mean = total / count
    var = np.maximum(total_sq / count - mean**2, 0.0) * count / max(count - 1, 1)
    stderr = np.sqrt(var / count)
    norm = float(np.linalg.norm(mean))
    relative = float(np.linalg.norm(stderr)) / norm if norm > 0 else math.inf
    return mean, stderr, relative


def spectral_density_of(
    mvp_fn: MvpFn,
    *,
    dim: int,
    num_random_starts: int = 5,
    num_iters: int = 80,
    grid=None,
    num_grid: int = 1000,
    sigma: float | None = None,
    reorthogonalize: bool = True,
    seed=None,
    matmat_fn: MatmatFn | None = None,
) -> DensityResult:
    """Smoothed eigenvalue density by stochastic Lanczos quadrature.

    Args:
        mvp_fn: v -> H v on float64 vectors.
        dim: dimension.
        num_random_starts: independent Gaussian starting vectors averaged over.
        num_iters: Lanczos steps per start (capped at dim).
        grid: points to evaluate the density at; default ``num_grid`` points spanning the nodes
            extended by 5 sigma on both sides.
        num_grid: size of the default grid.
        sigma: Gaussian kernel width; default 1% of the node range (or 1e-3 if that range is 0).
        reorthogonalize: full reorthogonalization in each Lanczos run (memory O(dim x num_iters)).
        seed: seed of the starting vectors.
        matmat_fn: optional V -> H V on float64 arrays of shape (dim, k); the Lanczos runs from the
            random starts then advance in lockstep, one call per step for all runs (the same
            iterations as with ``mvp_fn`` alone, equal up to rounding).

    Returns:
        DensityResult.

    Raises:
        ValueError: num_random_starts, num_iters or num_grid < 1, sigma not finite and > 0, a grid
            with NaN/inf.
    """
    _check_dim(dim)
    if num_random_starts < 1 or num_iters < 1:
        raise ValueError(
            f"num_random_starts and num_iters must be >= 1, got {num_random_starts}, {num_iters}."
        )
    if sigma is not None and not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}.")
    if sigma is not None:
        _checks.positive_float(sigma, "sigma")
    _checks.positive_int(num_grid, "num_grid")
    if grid is not None:
        _checks.finite_array(grid, "grid", ndim=1)
    m = min(num_iters, dim)
    nodes = np.full((num_random_starts, m), np.nan)
    weights = np.zeros((num_random_starts, m))
    total = 0
    starts = _random.split_seeds(seed, num_random_starts, salt="spectral_density")
    runs = _lanczos_runs(_Products(mvp_fn, matmat_fn, dim), starts, m, reorthogonalize)
    for i, run in enumerate(runs):
        size = run.ritz_values.size
        nodes[i, :size], weights[i, :size] = run.ritz_values, run.quadrature_weights
        total += run.num_mvps
    low, high = float(np.nanmin(nodes)), float(np.nanmax(nodes))
    if sigma is None:
        sigma = 0.01 * (high - low) if high > low else 1e-3
    grid = (
        np.linspace(low - 5 * sigma, high + 5 * sigma, num_grid) if grid is None else np.asarray(grid, float)
    )
    density = _gaussian_mixture(grid, nodes, weights, sigma)
    return DensityResult(grid, density, nodes, weights, float(sigma), total)


def _gaussian_mixture(grid, nodes, weights, sigma):
    centers = np.nan_to_num(nodes, nan=0.0)
    z = (grid[:, None, None] - centers[None]) / sigma
    kernel = np.exp(-0.5 * z**2) / (sigma * np.sqrt(2 * np.pi))
    return (kernel * weights[None]).sum(axis=2).mean(axis=1)


def _lanczos_runs(products, seeds, num_iters, reorthogonalize):
    """One Lanczos run of ``num_iters`` steps per seed (as :func:`lanczos`), the runs in lockstep.

    Without a matmat_fn each run finishes before the next starts, as repeated calls to lanczos do.
    """
    iterations = [
        _LanczosIteration(
            products.mvp_fn,
            _start_vector(products.dim, s, None, salt="lanczos"),
            reorthogonalize=reorthogonalize,
            capacity=num_iters,
        )
        for s in seeds
    ]
    groups = [iterations] if products.batched else [[it] for it in iterations]
    for group in groups:
        for _ in range(num_iters):
            active = [it for it in group if not it.exhausted]
            if not active:
                break
            if len(active) == 1:
                active[0].step()
                continue
            images = products(np.stack([it.vector for it in active], axis=1))
            for it, image in zip(active, images.T, strict=True):
                it.step(image)
    return [it.result() for it in iterations]


class _Products:
    """H V for the columns of V: through matmat_fn in blocks, or column by column through mvp_fn."""

    def __init__(self, mvp_fn, matmat_fn, dim):
        self.mvp_fn, self.dim = mvp_fn, dim
        self._matmat = matmat_fn
        self.batched = matmat_fn is not None

    def block(self, wanted: int, at_most: int) -> int:
        """How many products to request next: ``wanted`` within [1, at_most], in blocks if batched."""
        limit = PRODUCT_BLOCK if self.batched else 1
        return max(1, min(int(wanted), int(at_most), limit))

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        k = vectors.shape[1]
        if not self.batched or k == 1:
            columns = [_checked_mvp(self.mvp_fn, v, self.dim) for v in vectors.T]
            return np.stack(columns, axis=1) if columns else np.zeros((self.dim, 0))
        images = []
        for start in range(0, k, PRODUCT_BLOCK):
            block = vectors[:, start : start + PRODUCT_BLOCK]
            if block.shape[1] == 1:
                images.append(_checked_mvp(self.mvp_fn, block[:, 0], self.dim)[:, None])
            else:
                images.append(_checked_matmat(self._matmat, np.ascontiguousarray(block), self.dim))
        return np.concatenate(images, axis=1)


def _rademacher_columns(seeds, count, dim):
    """(dim, count) Rademacher probes from the next ``count`` seeds (the same draws as one at a time)."""
    if count == 0:
        return np.zeros((dim, 0))
    return np.stack([_random.rademacher_vector(next(seeds), dim) for _ in range(count)], axis=1)


def _predicted_more(count, error_ratio) -> int:
    """About half the further samples needed for the error to fall by ``error_ratio`` (>= 1).

    The standard error falls like 1/sqrt(samples), so count * error_ratio^2 samples are predicted in
    all; asking for half of the remainder keeps products wasted past the stopping point rare.
    """
    if not math.isfinite(error_ratio):
        return 1
    return max(1, math.ceil(0.5 * count * (error_ratio**2 - 1.0)))


def _trace_relative_error(exact, samples) -> float:
    estimate = exact + float(np.mean(samples))
    stderr = _stderr(samples)
    return stderr / abs(estimate) if estimate != 0 and math.isfinite(stderr) else math.inf


def _stderr(samples) -> float:
    samples = np.asarray(samples, dtype=np.float64)
    if samples.size < 2:
        return float("nan")
    return float(samples.std(ddof=1) / np.sqrt(samples.size))


def _orthonormal_range(images):
    q, r = np.linalg.qr(images)
    diag = np.abs(np.diag(r))
    keep = diag > 1e-12 * max(diag.max(initial=0.0), np.finfo(float).tiny)
    return q[:, keep]
