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

Block Lanczos (:func:`block_lanczos_eigenvalues`) starts from p orthonormal vectors instead of one
and multiplies H by a whole block Q_j (dim x p) per step, so the p products of a step can share one
pass over the data (:meth:`HessianOperator.matmat <tfescape.hessian.hvp.HessianOperator.matmat>`).
Each new block is orthogonalized against all previous blocks (block Gram-Schmidt, twice) and
factored W = Q_{j+1} B_j by a QR decomposition, which gives H Q_m = Q_m T_m + Q_{m+1} B_m E_m^T with
T_m = Q_m^T H Q_m block tridiagonal (diagonal blocks A_j = Q_j^T H Q_j, subdiagonal blocks B_j, E_m
the last p columns of the identity). For a Ritz pair (theta_i, y_i = Q_m s_i) the residual
||H y_i - theta_i y_i|| therefore equals ||B_m s_i[last p rows]|| exactly. After j steps the basis
spans the block Krylov space span{Q_1, H Q_1, ..., H^(j-1) Q_1}: for the same number of products its
polynomial degree is p times lower than single-vector Lanczos', but an eigenvalue repeated up to p
times is found with all its copies and clusters of up to p eigenvalues converge together. A
(numerically) rank-deficient new block, detected by a small diagonal entry of its R factor, means
part of an invariant subspace has been found; those columns are replaced by random vectors
orthogonal to the basis, so that the iteration continues until the whole space is spanned.

Power iteration with deflation (the PyHessian method) finds the eigenvalues of largest magnitude, one
after another, each time orthogonalizing the iterate against the eigenvectors already found.

References:
    Lanczos (1950), An iteration method for the solution of the eigenvalue problem of linear
    differential and integral operators. J. Res. Nat. Bur. Standards 45.
    Golub & Van Loan (2013), Matrix Computations, 4th ed., sections 10.1-10.3 (block Lanczos:
    section 10.3.6).
    Golub & Underwood (1977), The block Lanczos method for computing eigenvalues. In Mathematical
    Software III, ed. J. R. Rice, Academic Press, 361-377.
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
MatmatFn = Callable[[np.ndarray], np.ndarray]

DEFAULT_MAX_BLOCK = 16
"""The widest default block of :func:`block_lanczos_eigenvalues` (HessianOperator.matmat's pass width)."""


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
        method: "lanczos", "block_lanczos" or "power".
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
    while iteration.steps < max_iters and not iteration.exhausted:
        iteration.step()
        if iteration.steps < k or iteration.just_restarted:
            continue  # after an invariant subspace, look beyond it before trusting convergence
        result = iteration.result(with_vectors=False)
        if callback is not None:
            callback(result)
        if _wanted_converged(result.ritz_values, result.residuals, k, smallest, tol).all():
            break
    result = iteration.result()
    return _wanted_eigenpairs(
        result.ritz_values,
        result.ritz_vectors,
        result.residuals,
        result.num_mvps,
        k=k,
        smallest=smallest,
        tol=tol,
        method="lanczos",
    )


@dataclass(frozen=True)
class BlockLanczosResult:
    """State of :func:`block_lanczos_eigenvalues` after a block step (what its callback receives).

    Attributes:
        block_tridiagonal: (n, n) T_n = Q_n^T H Q_n for the n basis vectors multiplied so far; block
            tridiagonal, blocks of the widths in ``block_sizes``.
        ritz_values: (n,) eigenvalues of T_n, descending.
        tridiagonal_eigenvectors: (n, n) eigenvectors s_i of T_n (columns, same order).
        residuals: (n,) ||H y_i - theta_i y_i|| = ||B s_i[last block's rows]||, B the R factor of the
            next block.
        block_sizes: (steps,) products of each block step (the block size; narrower only when less
            than a block of the space is left).
        num_mvps: matrix-vector products used (= n).
    """

    block_tridiagonal: np.ndarray
    ritz_values: np.ndarray
    tridiagonal_eigenvectors: np.ndarray
    residuals: np.ndarray
    block_sizes: np.ndarray
    num_mvps: int

    @property
    def num_passes(self) -> int:
        """Block steps taken: calls of matmat_fn (one pass over the data each for a HessianOperator)."""
        return int(self.block_sizes.size)


class _BlockLanczosIteration:
    """Block Lanczos state with full reorthogonalization, advanced one block of products at a time."""

    def __init__(self, matmat_fn, start_seed, restart_seed, *, dim, block_size, capacity):
        self._matmat = matmat_fn
        self._dim = dim
        self._restart_seed = restart_seed
        self._fresh_count = 0
        # Basis vectors as rows of a preallocated array grown by doubling (as in _LanczosIteration).
        self._rows = np.empty((min(max(int(capacity), block_size), dim), dim))
        self._count = 0
        self._tri = np.zeros((0, 0))
        self._sizes: list[int] = []
        self._previous = None  # Q_{j-1}
        self._coupling = np.zeros((0, 0))  # B_{j-1}: Q_j B_{j-1} = the orthogonalized H Q_{j-1}
        start = _normal_block(start_seed, dim, block_size)
        self._block, _, _ = self._orthonormalize_block(start, np.linalg.norm(start, axis=0).max())
        self.exhausted = False  # the whole space is spanned
        self.just_deflated = False  # the last step replaced part of its new block by random vectors

    @property
    def num_mvps(self) -> int:
        return self._count

    @property
    def next_width(self) -> int:
        """Products the next step needs (the width of the current block)."""
        return self._block.shape[1]

    @property
    def basis(self) -> np.ndarray:
        """(dim, n) the orthonormal basis so far, as columns (a view)."""
        return self._rows[: self._count].T

    def step(self) -> None:
        """One block step: H Q_j in one matmat_fn call, then the next block Q_{j+1} and B_j."""
        q = self._block
        width, start = q.shape[1], self._count
        self._append(q)
        hq = _checked_matmat(self._matmat, q, self._dim)
        scale = float(np.linalg.norm(hq, axis=0).max())
        a = q.T @ hq
        a = 0.5 * (a + a.T)
        w = hq - q @ a
        if self._previous is not None:
            w -= self._previous @ self._coupling.T
        rows = self._rows[: self._count]
        for _ in range(2):  # block Gram-Schmidt against every previous block, twice
            w -= rows.T @ (rows @ w)
        tri = np.zeros((self._count, self._count))
        tri[:start, :start] = self._tri
        tri[start:, start:] = a
        if self._previous is not None:
            before = start - self._previous.shape[1]
            tri[start:, before:start] = self._coupling
            tri[before:start, start:] = self._coupling.T
        self._tri = tri
        self._sizes.append(width)
        self._previous = q
        self._block, self._coupling, deflated = self._orthonormalize_block(w, scale)
        self.just_deflated = deflated > 0
        self.exhausted = self._block.shape[1] == 0

    def result(self, *, with_vectors: bool = True) -> tuple[BlockLanczosResult, np.ndarray | None]:
        values, vectors = _tridiagonal_eigh(self._tri)
        order = np.argsort(values)[::-1]
        values, vectors = values[order], vectors[:, order]
        last = self._sizes[-1]
        residuals = np.linalg.norm(self._coupling @ vectors[self._count - last :], axis=0)
        state = BlockLanczosResult(
            block_tridiagonal=self._tri.copy(),
            ritz_values=values,
            tridiagonal_eigenvectors=vectors,
            residuals=residuals,
            block_sizes=np.asarray(self._sizes, dtype=int),
            num_mvps=self._count,
        )
        return state, (self.basis @ vectors if with_vectors else None)

    def _append(self, block):
        needed = self._count + block.shape[1]
        if needed > self._rows.shape[0]:
            grown = np.empty((min(max(2 * self._rows.shape[0], needed), self._dim), self._dim))
            grown[: self._count] = self._rows[: self._count]
            self._rows = grown
        self._rows[self._count : needed] = block.T
        self._count = needed

    def _orthonormalize_block(self, w, scale):
        """QR of ``w`` (already orthogonal to the basis) by Gram-Schmidt column by column, twice.

        A column whose R diagonal is <= 1e-10 * scale (scale: the largest column norm of H Q_j) lies in
        the span of the basis and the columns before it: its diagonal is set to 0 and it is replaced by
        a random unit vector orthogonal to both (dropped once they span the whole space).

        Returns:
            (Q, R, number of replaced columns); Q is (dim, p') orthonormal, R is (p', p) with w ~ Q R.
        """
        threshold = 1e-10 * max(scale, np.finfo(float).tiny)
        width = w.shape[1]
        kept: list[np.ndarray] = []
        r = np.zeros((width, width))
        replaced = 0
        for col in range(width):
            v = w[:, col].copy()
            if kept:
                block = np.stack(kept, axis=1)
                for _ in range(2):
                    coefficients = block.T @ v
                    r[: len(kept), col] += coefficients
                    v -= block @ coefficients
            norm = float(np.linalg.norm(v))
            if norm > threshold:
                r[len(kept), col] = norm
                kept.append(v / norm)
            elif self._dim - self._count - len(kept) > 0:
                kept.append(self._fresh_vector(kept))
                replaced += 1
        q = np.stack(kept, axis=1) if kept else np.zeros((self._dim, 0))
        return q, r[: len(kept)], replaced

    def _fresh_vector(self, kept):
        """A random unit vector orthogonal to the basis and to ``kept`` (stateless, from the seed)."""
        self._fresh_count += 1
        seed = tf.random.experimental.stateless_fold_in(self._restart_seed, self._fresh_count)
        v = _random.normal_vector(seed, self._dim)
        rows = self._rows[: self._count]
        block = np.stack(kept, axis=1) if kept else np.zeros((self._dim, 0))
        for _ in range(2):
            v -= rows.T @ (rows @ v)
            v -= block @ (block.T @ v)
        return v / np.linalg.norm(v)


def block_lanczos_eigenvalues(
    matmat_fn: MatmatFn,
    *,
    dim: int,
    k: int = 1,
    block_size: int | None = None,
    smallest: bool = False,
    tol: float = 1e-3,
    max_iters: int | None = None,
    seed=None,
    callback: Callable[[BlockLanczosResult], None] | None = None,
) -> EigenResult:
    """The k largest (or smallest) eigenpairs by block Lanczos with full reorthogonalization.

    Each step multiplies H by a block of ``block_size`` orthonormal vectors in one ``matmat_fn`` call;
    for a :class:`~tfescape.hessian.hvp.HessianOperator` its ``matmat`` shares one pass over the data
    among the block's products. The new block is orthogonalized against all previous ones (twice) and
    factored by QR; T = Q^T H Q is block tridiagonal and the residual of a Ritz pair is exactly
    ||B_m s_i[last block rows]|| (see the module docstring). Stops as soon as the k wanted Ritz pairs all
    have residual <= tol * |theta|, or before a step that would exceed ``max_iters`` products.

    A new block that is (numerically) rank deficient, i.e. a diagonal entry of its R factor at most
    1e-10 times the largest column norm of H Q_j, marks part of an invariant subspace: those columns
    are replaced by random vectors orthogonal to the basis (stateless, drawn from ``seed``), so that
    eigenvalues repeated more than ``block_size`` times are found once the Krylov space is exhausted,
    and the run ends when the whole space is spanned. As with :func:`lanczos_eigenvalues`, the
    convergence test is skipped right after such a replacement.

    Compared with single-vector Lanczos the block method needs more products for the same accuracy
    (its Krylov polynomials have degree num_mvps / block_size) but num_mvps / block_size calls of
    matmat_fn instead of num_mvps; it pays when a product in a block is much cheaper than a lone one.

    Args:
        matmat_fn: V -> H V on float64 arrays of shape (dim, p), p <= block_size (e.g.
            :meth:`HessianOperator.matmat <tfescape.hessian.hvp.HessianOperator.matmat>`).
        dim: dimension.
        k: number of eigenpairs.
        block_size: vectors per block, an int in [1, dim]. Default min(max(k, 2), 16, dim): at least 2,
            since a block of 1 is single-vector Lanczos (:func:`lanczos_eigenvalues` does that with
            fewer products); at least k, so that each wanted pair has its own start direction and an
            eigenvalue repeated up to k times is found in full; at most 16, the number of products
            that ``HessianOperator.matmat`` computes in one pass.
        smallest: return the k smallest (algebraically: most negative first) instead of the largest.
        tol: relative residual tolerance.
        max_iters: limit on matrix-vector *products* (not block steps), so that it means the same
            budget as for :func:`lanczos_eigenvalues`; the run stops before a block step that would
            exceed it, so num_mvps <= max_iters. Default min(dim, max(100, 4 k, 10 block_size)).
        seed: seed of the starting block and of the replacement vectors.
        callback: called with the intermediate :class:`BlockLanczosResult` after every block step
            (except right after a replacement).

    Returns:
        EigenResult (method "block_lanczos"); ``num_mvps`` counts products, and the number of
        matmat_fn calls is ceil(num_mvps / block_size) when no block was narrowed.

    Raises:
        ValueError: k < 1 or k > dim, tol not finite and > 0, bad dim, block_size not an int in
            [1, dim], max_iters not an int >= 1 or smaller than k or block_size, or matmat_fn
            returning the wrong shape or a non-finite value.

    Example:
        >>> a = np.diag([4.0, 3.0, 2.0, 1.0])
        >>> block_lanczos_eigenvalues(lambda v: a @ v, dim=4, k=2, seed=0).eigenvalues  # [4, 3]
    """
    _check_dim(dim)
    _check_k(k, dim)
    if not tol > 0 or not np.isfinite(tol):
        raise ValueError(f"tol must be finite and > 0, got {tol}.")
    block_size = min(max(k, 2), DEFAULT_MAX_BLOCK, dim) if block_size is None else block_size
    _check_block_size(block_size, dim)
    block_size = int(block_size)
    if max_iters is None:
        max_iters = min(dim, max(100, 4 * k, 10 * block_size))
    else:
        _check_positive_int(max_iters, "max_iters")
        max_iters = min(int(max_iters), dim)
    if max_iters < max(k, block_size):
        raise ValueError(
            f"max_iters ({max_iters}) counts products and must be >= k ({k}) and >= block_size "
            f"({block_size}, the products of one block step); raise max_iters."
        )
    start_seed, restart_seed = _random.split_seeds(seed, 2, salt="block_lanczos_eigenvalues")
    iteration = _BlockLanczosIteration(
        matmat_fn, start_seed, restart_seed, dim=dim, block_size=block_size, capacity=min(max_iters, 64)
    )
    while not iteration.exhausted and iteration.num_mvps + iteration.next_width <= max_iters:
        iteration.step()
        if iteration.num_mvps < k or iteration.just_deflated:
            continue  # after part of an invariant subspace, look beyond it before trusting convergence
        state, _ = iteration.result(with_vectors=False)
        if callback is not None:
            callback(state)
        if _wanted_converged(state.ritz_values, state.residuals, k, smallest, tol).all():
            break
    state, ritz_vectors = iteration.result()
    return _wanted_eigenpairs(
        state.ritz_values,
        ritz_vectors,
        state.residuals,
        state.num_mvps,
        k=k,
        smallest=smallest,
        tol=tol,
        method="block_lanczos",
    )


def _wanted(size, k, smallest):
    """Indices of the k wanted Ritz values among ``size`` sorted in descending order."""
    return np.arange(size)[::-1][:k] if smallest else np.arange(k)


def _wanted_converged(ritz_values, residuals, k, smallest, tol):
    wanted = _wanted(ritz_values.size, k, smallest)
    theta = ritz_values[wanted]
    return residuals[wanted] <= tol * np.maximum(np.abs(theta), np.finfo(float).tiny)


def _wanted_eigenpairs(ritz_values, ritz_vectors, residuals, num_mvps, *, k, smallest, tol, method):
    """EigenResult of the k wanted Ritz pairs (values sorted descending); warns if some did not converge."""
    wanted = _wanted(ritz_values.size, k, smallest)
    converged = _wanted_converged(ritz_values, residuals, k, smallest, tol)
    if not converged.all():
        logger.warning(
            "%s: %d of %d eigenpairs not converged to tol=%g after %d products.",
            "Block Lanczos" if method == "block_lanczos" else "Lanczos",
            int((~converged).sum()),
            k,
            tol,
            num_mvps,
        )
    return EigenResult(
        eigenvalues=ritz_values[wanted],
        eigenvectors=ritz_vectors[:, wanted],
        residuals=residuals[wanted],
        num_mvps=num_mvps,
        converged=np.asarray(converged),
        method=method,
    )


def _normal_block(seed, dim, width):
    """(dim, width) standard normal float64 columns from one stateless seed."""
    return tf.random.stateless_normal([width, dim], seed=seed, dtype=tf.float64).numpy().T.copy()


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


def _checked_matmat(matmat_fn, vectors, dim):
    out = np.asarray(matmat_fn(vectors), dtype=np.float64)
    if out.shape != vectors.shape:
        raise ValueError(f"matmat_fn must return an array of shape {vectors.shape}, got {out.shape}.")
    if not np.all(np.isfinite(out)):
        raise ValueError(
            f"matmat_fn returned {int(np.sum(~np.isfinite(out)))} non-finite value(s) (NaN or inf): the "
            "Hessian is not finite here. Check that the loss is finite at these weights (a diverged model "
            "or NaN/inf in the data gives NaN curvature) before probing the Hessian."
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


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")


def _check_block_size(block_size, dim):
    _check_positive_int(block_size, "block_size")
    if block_size > dim:
        raise ValueError(f"block_size={block_size} exceeds the dimension {dim}; use at most {dim}.")


def _start_vector(dim, seed, initial_vector, *, salt):
    if initial_vector is None:
        return _random.unit_vector(_random.split_seeds(seed, 1, salt=salt)[0], dim)
    v = np.asarray(initial_vector, dtype=np.float64).reshape(-1)
    if v.shape != (dim,) or not np.isfinite(v).all() or not np.linalg.norm(v) > 0:
        raise ValueError(f"initial_vector must be a finite nonzero vector of shape ({dim},).")
    return v / np.linalg.norm(v)
