"""Lanczos tridiagonalization and power iteration on plain matrix-vector callables, in float64.

Both take ``mvp_fn``: any callable mapping a float64 vector of length ``dim`` to H v for a symmetric
H (a :class:`~tfescape.hessian.hvp.HessianOperator`, a NumPy matrix's ``__matmul__``, ...).

Lanczos builds an orthonormal basis Q_m of the Krylov space span{q, Hq, ..., H^(m-1) q} and the
tridiagonal T_m = Q_m^T H Q_m (diagonal alphas, off-diagonal betas). The eigenpairs (theta_i, s_i) of
T_m give Ritz values theta_i and Ritz vectors y_i = Q_m s_i; the residual ||H y_i - theta_i y_i|| equals
|beta_m s_i[m-1]| exactly, and some eigenvalue of H lies within that residual of theta_i. With full
reorthogonalization (Gram-Schmidt against all previous basis vectors, twice) memory is O(dim x m);
without it only three vectors are kept (O(dim)), Ritz vectors are unavailable and spurious copies of
converged Ritz values can appear (harmless for spectral densities, not for counting eigenvalues).

Power iteration with deflation (the PyHessian method) finds the eigenvalues of largest magnitude, one
after another, each time orthogonalizing the iterate against the eigenvectors already found.

References:
    Lanczos (1950), An iteration method for the solution of the eigenvalue problem of linear
    differential and integral operators. J. Res. Nat. Bur. Standards 45.
    Golub & Van Loan (2013), Matrix Computations, 4th ed., sections 10.1-10.3.
    Yao, Gholami, Keutzer & Mahoney (2020), PyHessian: Neural networks through the lens of the Hessian.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfescape.hessian import _random

logger = logging.getLogger(__name__)

MvpFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LanczosResult:
    """Output of :func:`lanczos` after m steps (m <= num_iters; fewer on an invariant subspace).

    Attributes:
        alphas: (m,) diagonal of the tridiagonal matrix T_m.
        betas: (m - 1,) off-diagonal of T_m.
        last_beta: beta_m, the norm of the part of H q_m outside the Krylov space (0 when it is invariant).
        ritz_values: (m,) eigenvalues of T_m, descending.
        ritz_vectors: (dim, m) Ritz vectors Q_m s_i (columns, same order), or None without
            reorthogonalization.
        tridiagonal_eigenvectors: (m, m) eigenvectors s_i of T_m (columns, same order); the squared
            first components are the Gauss quadrature weights of stochastic Lanczos quadrature.
        residuals: (m,) ||H y_i - theta_i y_i|| = |beta_m s_i[m-1]|.
        num_mvps: matrix-vector products used (= m).
    """

    alphas: np.ndarray
    betas: np.ndarray
    last_beta: float
    ritz_values: np.ndarray
    ritz_vectors: np.ndarray | None
    tridiagonal_eigenvectors: np.ndarray
    residuals: np.ndarray
    num_mvps: int

    @property
    def tridiagonal(self) -> np.ndarray:
        """(m, m) the tridiagonal matrix T_m."""
        return np.diag(self.alphas) + np.diag(self.betas, 1) + np.diag(self.betas, -1)

    @property
    def quadrature_weights(self) -> np.ndarray:
        """(m,) squared first components of the eigenvectors of T_m (they sum to 1)."""
        return self.tridiagonal_eigenvectors[0] ** 2


@dataclass(frozen=True)
class EigenResult:
    """Extreme eigenpairs of a symmetric operator.

    Attributes:
        eigenvalues: (k,) the largest eigenvalues in descending order, or, when the smallest were
            requested, the smallest in ascending order (most negative first).
        eigenvectors: (dim, k) unit eigenvectors as columns, same order.
        residuals: (k,) ||H v_i - lambda_i v_i||; an eigenvalue of H lies within it of lambda_i.
        num_mvps: matrix-vector (Hessian-vector) products used.
        converged: (k,) whether each pair met the tolerance.
        method: "lanczos" or "power".
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    residuals: np.ndarray
    num_mvps: int
    converged: np.ndarray
    method: str


class _LanczosIteration:
    """Lanczos state advanced one matrix-vector product at a time (used for early stopping)."""

    def __init__(
        self, mvp_fn: MvpFn, start: np.ndarray, *, reorthogonalize: bool, restart_seed=None, capacity=32
    ):
        self._mvp = mvp_fn
        self._reorth = reorthogonalize
        self._restart_seed = restart_seed  # restart on invariant subspaces (needs reorthogonalization)
        self._restarts = 0
        self._dim = start.shape[0]
        # Basis vectors as rows of a preallocated array (grown by doubling), so that each step's
        # reorthogonalization works on a view instead of copying the basis.
        self._rows = np.empty((min(max(int(capacity), 1), self._dim), self._dim)) if reorthogonalize else None
        self._count = 0
        self.alphas: list[float] = []
        self.betas: list[float] = []  # betas[j] couples q_j and q_{j+1}
        self._q = start / np.linalg.norm(start)
        self._q_prev = np.zeros_like(self._q)
        self.exhausted = False  # the whole space (or, without restarts, an invariant subspace) is spanned
        self.just_restarted = False  # the last step found an invariant subspace and restarted

    @property
    def steps(self) -> int:
        return len(self.alphas)

    @property
    def basis(self) -> np.ndarray:
        """(dim, j) the orthonormal Lanczos vectors so far, as columns (a view)."""
        return self._rows[: self._count].T

    def _append(self, q):
        if self._count == self._rows.shape[0]:
            grown = np.empty((min(2 * self._rows.shape[0], self._dim), self._dim))
            grown[: self._count] = self._rows[: self._count]
            self._rows = grown
        self._rows[self._count] = q
        self._count += 1

    @property
    def vector(self) -> np.ndarray:
        """The unit vector q_j whose product the next step needs."""
        return self._q

    def step(self, product: np.ndarray | None = None) -> None:
        """One Lanczos step; ``product`` is H q_j if already computed (checked), else mvp_fn is called."""
        q = self._q
        self.just_restarted = False
        if self._reorth:
            self._append(q)
        w = _checked_mvp(self._mvp, q, self._dim) if product is None else product
        scale = np.linalg.norm(w)
        alpha = float(q @ w)
        w = w - alpha * q - (self.betas[-1] if self.betas else 0.0) * self._q_prev
        if self._reorth:
            rows = self._rows[: self._count]
            for _ in range(2):  # "twice is enough" (Kahan-Parlett)
                w -= rows.T @ (rows @ w)
        beta = float(np.linalg.norm(w))
        self.alphas.append(alpha)
        self.betas.append(beta)
        if self.steps >= self._dim:
            self.exhausted = True
            return
        if beta <= 1e-10 * max(scale, np.finfo(float).tiny):
            self.betas[-1] = 0.0
            if self._restart_seed is None or not self._reorth:
                self.exhausted = True
                return
            # Invariant subspace: continue from a fresh random direction orthogonal to the basis, so
            # that repeated eigenvalues are found (T_m becomes block diagonal).
            self._restarts += 1
            self.just_restarted = True
            seed = tf.random.experimental.stateless_fold_in(self._restart_seed, self._restarts)
            self._q_prev, self._q = (
                np.zeros_like(q),
                _orthonormalize(_random.normal_vector(seed, self._dim), self.basis),
            )
            return
        self._q_prev, self._q = q, w / beta

    def result(self, *, with_vectors: bool = True) -> LanczosResult:
        alphas = np.asarray(self.alphas)
        betas = np.asarray(self.betas[:-1])
        last_beta = float(self.betas[-1])
        tri = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
        values, vectors = _tridiagonal_eigh(tri)
        order = np.argsort(values)[::-1]
        values, vectors = values[order], vectors[:, order]
        ritz = self.basis @ vectors if self._reorth and with_vectors else None
        residuals = np.abs(last_beta * vectors[-1])
        return LanczosResult(
            alphas=alphas,
            betas=betas,
            last_beta=last_beta,
            ritz_values=values,
            ritz_vectors=ritz,
            tridiagonal_eigenvectors=vectors,
            residuals=residuals,
            num_mvps=self.steps,
        )


def lanczos(
    mvp_fn: MvpFn,
    *,
    dim: int,
    num_iters: int,
    seed=None,
    reorthogonalize: bool = True,
    initial_vector: np.ndarray | None = None,
) -> LanczosResult:
    """Run ``num_iters`` Lanczos steps on a symmetric operator (float64).

    Args:
        mvp_fn: v -> H v on float64 vectors of length ``dim``.
        dim: dimension of the operator.
        num_iters: number of steps m (capped at ``dim``; stops early on an invariant subspace).
        seed: seed of the random (Gaussian) starting vector.
        reorthogonalize: full reorthogonalization (memory O(dim x m), Ritz vectors available);
            False keeps O(dim) memory.
        initial_vector: starting vector (normalized here) instead of a random one.

    Returns:
        LanczosResult.

    Raises:
        ValueError: dim or num_iters < 1, a bad initial vector, or mvp_fn returning the wrong shape or
            a non-finite value (NaN or inf). The same holds for every function here taking mvp_fn.

    Example:
        >>> a = np.diag([3.0, 2.0, 1.0])
        >>> lanczos(lambda v: a @ v, dim=3, num_iters=3, seed=0).ritz_values  # [3, 2, 1]
    """
    _check_dim(dim)
    if num_iters < 1:
        raise ValueError(f"num_iters must be >= 1, got {num_iters}.")
    start = _start_vector(dim, seed, initial_vector, salt="lanczos")
    iteration = _LanczosIteration(mvp_fn, start, reorthogonalize=reorthogonalize, capacity=num_iters)
    for _ in range(min(num_iters, dim)):
        iteration.step()
        if iteration.exhausted:
            break
    return iteration.result()


def lanczos_eigenvalues(
    mvp_fn: MvpFn,
    *,
    dim: int,
    k: int = 1,
    smallest: bool = False,
    tol: float = 1e-3,
    max_iters: int | None = None,
    seed=None,
    callback: Callable[[LanczosResult], None] | None = None,
) -> EigenResult:
    """The k largest (or smallest) eigenpairs by Lanczos with full reorthogonalization.

    Stops as soon as the k wanted Ritz pairs all have residual <= tol * |theta| (so an eigenvalue of H
    lies within relative distance tol of each; the error of a Ritz value is usually far smaller,
    about residual^2 / gap), or after ``max_iters`` steps.

    Args:
        mvp_fn: v -> H v on float64 vectors.
        dim: dimension.
        k: number of eigenpairs.
        smallest: return the k smallest (algebraically: most negative first) instead of the largest.
        tol: relative residual tolerance.
        max_iters: step limit (default min(dim, max(100, 4 k))).
        seed: seed of the starting vector.
        callback: called with the intermediate LanczosResult after every step (e.g. to trace convergence).

    Returns:
        EigenResult (method "lanczos").

    Raises:
        ValueError: k < 1 or k > dim, tol <= 0, bad dim.
    """
    _check_dim(dim)
    _check_k(k, dim)
    if not tol > 0 or not np.isfinite(tol):
        raise ValueError(f"tol must be finite and > 0, got {tol}.")
    max_iters = min(dim, max(100, 4 * k)) if max_iters is None else min(int(max_iters), dim)
    if max_iters < k:
        raise ValueError(f"max_iters ({max_iters}) must be >= k ({k}).")
    start_seed, restart_seed = _random.split_seeds(seed, 2, salt="lanczos_eigenvalues")
    start = _random.unit_vector(start_seed, dim)
    iteration = _LanczosIteration(
        mvp_fn, start, reorthogonalize=True, restart_seed=restart_seed, capacity=min(max_iters, 64)
    )
    result, wanted, converged = None, None, np.zeros(k, dtype=bool)
    while iteration.steps < max_iters and not iteration.exhausted:
        iteration.step()
        if iteration.steps < k or iteration.just_restarted:
            continue  # after an invariant subspace, look beyond it before trusting convergence
        result = iteration.result(with_vectors=False)
        if callback is not None:
            callback(result)
        wanted = np.arange(result.ritz_values.size)[::-1][:k] if smallest else np.arange(k)
        theta = result.ritz_values[wanted]
        converged = result.residuals[wanted] <= tol * np.maximum(np.abs(theta), np.finfo(float).tiny)
        if converged.all():
            break
    result = iteration.result()
    wanted = np.arange(result.ritz_values.size)[::-1][:k] if smallest else np.arange(k)
    theta = result.ritz_values[wanted]
    converged = result.residuals[wanted] <= tol * np.maximum(np.abs(theta), np.finfo(float).tiny)
    if not converged.all():
        logger.warning(
            "Lanczos: %d of %d eigenpairs not converged to tol=%g after %d steps.",
            int((~converged).sum()),
            k,
            tol,
            result.num_mvps,
        )
    return EigenResult(
        eigenvalues=result.ritz_values[wanted],
        eigenvectors=result.ritz_vectors[:, wanted],
        residuals=result.residuals[wanted],
        num_mvps=result.num_mvps,
        converged=np.asarray(converged),
        method="lanczos",
    )


def power_iteration(
    mvp_fn: MvpFn,
    *,
    dim: int,
    k: int = 1,
    max_iters: int = 100,
    tol: float = 1e-3,
    seed=None,
    callback: Callable[[int, float], None] | None = None,
) -> EigenResult:
    """The k eigenvalues of largest magnitude by power iteration with deflation (PyHessian's method).

    For each i = 1..k: start from a random unit vector, orthogonalize against the eigenvectors found
    so far, iterate v <- H v / ||H v|| (re-orthogonalizing each time) and stop when the Rayleigh
    quotient changes by less than tol relative: |lambda_t - lambda_{t-1}| / (|lambda_{t-1}| + 1e-6)
    < tol, or after max_iters products. The defaults (100, 1e-3) are PyHessian's.

    Args:
        mvp_fn: v -> H v on float64 vectors.
        dim: dimension.
        k: number of eigenpairs.
        max_iters: product limit per eigenpair.
        tol: relative change of the Rayleigh quotient that counts as converged.
        seed: seed of the starting vectors.
        callback: called as callback(total_mvps, current_estimate) after every product.

    Returns:
        EigenResult (method "power"), eigenvalues ordered as found (decreasing magnitude).

    Raises:
        ValueError: k < 1, k > dim, max_iters < 1, tol <= 0.
    """
    _check_dim(dim)
    _check_k(k, dim)
    if max_iters < 1 or tol <= 0:
        raise ValueError(f"max_iters must be >= 1 and tol > 0, got {max_iters}, {tol}.")
    seeds = _random.split_seeds(seed, k, salt="power_iteration")
    values, vectors, residuals, converged, total = [], [], [], [], 0
    for i in range(k):
        found = np.stack(vectors, axis=1) if vectors else np.zeros((dim, 0))
        v = _orthonormalize(_random.normal_vector(seeds[i], dim), found)
        estimate, done, residual = None, False, np.inf
        for _ in range(max_iters):
            hv = _orthogonalize(_checked_mvp(mvp_fn, v, dim), found)
            total += 1
            new = float(v @ hv)
            residual = float(np.linalg.norm(hv - new * v))
            if callback is not None:
                callback(total, new)
            norm = np.linalg.norm(hv)
            if norm == 0.0:
                estimate, done = new, True
                break
            v_next = hv / norm
            if estimate is not None and abs(new - estimate) / (abs(estimate) + 1e-6) < tol:
                estimate, done = new, True
                break
            estimate, v = new, v_next
        values.append(estimate)
        vectors.append(v)
        residuals.append(residual)
        converged.append(done)
    return EigenResult(
        eigenvalues=np.asarray(values),
        eigenvectors=np.stack(vectors, axis=1),
        residuals=np.asarray(residuals),
        num_mvps=total,
        converged=np.asarray(converged),
        method="power",
    )


def _orthogonalize(w, basis):
    for _ in range(2):
        w = w - basis @ (basis.T @ w)
    return w


def _orthonormalize(w, basis):
    w = _orthogonalize(w, basis)
    return w / np.linalg.norm(w)


def _checked_mvp(mvp_fn, v, dim):
    out = np.asarray(mvp_fn(v), dtype=np.float64)
    if out.shape != (dim,):
        out = out.reshape(-1) if out.size == dim else out
    if out.shape != (dim,):
        raise ValueError(f"mvp_fn must return a vector of shape ({dim},), got {np.shape(out)}.")
    if not np.all(np.isfinite(out)):
        raise ValueError(
            f"mvp_fn returned {int(np.sum(~np.isfinite(out)))} non-finite value(s) (NaN or inf) out of "
            f"{dim}: the Hessian is not finite here. Check that the loss is finite at these weights (a "
            "diverged model or NaN/inf in the data gives NaN curvature) before probing the Hessian."
        )
    return out


def _tridiagonal_eigh(tri):
    try:
        return np.linalg.eigh(tri)
    except np.linalg.LinAlgError as err:
        raise ValueError(
            f"The Lanczos tridiagonal matrix ({tri.shape[0]} steps) could not be diagonalized ({err}); "
            "its entries come from mvp_fn, so check that mvp_fn is a finite, symmetric operator."
        ) from err


def _check_dim(dim):
    if int(dim) != dim or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}.")


def _check_k(k, dim):
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    if k > dim:
        raise ValueError(f"k={k} exceeds the dimension {dim}; ask for at most {dim} eigenpairs.")


def _start_vector(dim, seed, initial_vector, *, salt):
    if initial_vector is None:
        return _random.unit_vector(_random.split_seeds(seed, 1, salt=salt)[0], dim)
    v = np.asarray(initial_vector, dtype=np.float64).reshape(-1)
    if v.shape != (dim,) or not np.isfinite(v).all() or not np.linalg.norm(v) > 0:
        raise ValueError(f"initial_vector must be a finite nonzero vector of shape ({dim},).")
    return v / np.linalg.norm(v)
