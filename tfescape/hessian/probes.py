"""Hessian probes of a Keras model's loss: top eigenvalues, trace, spectral density, diagonal.

Each function builds a :class:`~tfescape.hessian.hvp.HessianOperator` for ``(model, loss, data)`` (the
Hessian of the data-averaged loss at the current weights, in inference mode) and runs the matching
algorithm of :mod:`tfescape.hessian.estimators` on its flat float64 Hessian-vector product. Every product
is one pass over ``data``; pass a tuple ``(x, y)`` to use a single batch. The options ``variables``,
``layers``, ``hvp_method``, ``include_model_losses`` and ``strategy`` are forwarded to the operator
(e.g. ``layers=["logits"]`` for the Hessian block of one layer).

Example:
    >>> loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> top = top_eigenvalues(model, loss, train, k=3, seed=0)
    >>> top.eigenvalues, top.converged
    >>> tr = trace(model, loss, train, seed=0, num_probes=99)
    >>> tr.estimate, tr.stderr
"""

from __future__ import annotations

from tfescape.hessian.estimators import (
    DensityResult,
    DiagonalResult,
    TraceResult,
    diagonal_of,
    spectral_density_of,
    top_eigenvalues_of,
    trace_of,
)
from tfescape.hessian.hvp import HessianOperator
from tfescape.hessian.lanczos import EigenResult


def top_eigenvalues(
    model,
    loss,
    data,
    *,
    k: int = 1,
    seed=None,
    smallest: bool = False,
    method: str = "lanczos",
    tol: float = 1e-3,
    max_iters: int | None = None,
    block_size: int | None = None,
    **operator_options,
) -> EigenResult:
    """The k largest (or smallest) Hessian eigenvalues and eigenvectors (flat, float64).

    Args:
        model, loss, data: see :class:`~tfescape.hessian.hvp.HessianOperator`.
        k: number of eigenpairs (<= number of parameters).
        seed: seed of the random starts.
        smallest: return the k smallest (most negative first) instead of the largest.
        method, tol, max_iters: see :func:`~tfescape.hessian.estimators.top_eigenvalues_of`.
        block_size: with method="lanczos", a block size > 1 runs block Lanczos
            (:func:`~tfescape.hessian.lanczos.block_lanczos_eigenvalues`): each step computes
            ``block_size`` products in one pass over the data (``HessianOperator.matmat``). None
            (default) runs single-vector Lanczos, one product per pass. The trade-off, measured by
            section 4 of ``benchmarks/bench_hessian.py`` (cnn on digits, tol 1e-3, k = 1, 3, 5):
            blocks take 40-60% fewer passes but 15-100% more products, and the wall time was
            1.09-1.46x that of single-vector Lanczos on a quiet CPU (0.8-1.3x on a busy one), so
            single-vector Lanczos stays the default. A block pays where a product computed in a
            block costs much less than a lone one (wide batches on an accelerator).
        **operator_options: forwarded to HessianOperator (variables, layers, hvp_method, ...).

    Returns:
        EigenResult; ``eigenvectors`` are (num_params, k), split per variable with
        ``HessianOperator.unflatten``.

    Raises:
        ValueError: bad data, loss, k > number of parameters, ...
    """
    op = _operator(model, loss, data, operator_options)
    return top_eigenvalues_of(
        op.matvec,
        dim=op.dim,
        k=k,
        smallest=smallest,
        method=method,
        tol=tol,
        max_iters=max_iters,
        seed=seed,
        matmat_fn=op.matmat,
        block_size=block_size,
    )


def trace(
    model,
    loss,
    data,
    *,
    seed=None,
    method: str = "hutch++",
    num_probes: int | None = None,
    rtol: float | None = None,
    max_probes: int = 1000,
    **operator_options,
) -> TraceResult:
    """Estimate the Hessian trace by Hutch++ (default) or Hutchinson, with a fixed budget of products
    or until the relative standard error is at most ``rtol``; see
    :func:`~tfescape.hessian.estimators.trace_of`.

    Returns:
        TraceResult(estimate, stderr, method, num_probes, relative_stderr, converged).
    """
    op = _operator(model, loss, data, operator_options)
    return trace_of(
        op.matvec,
        dim=op.dim,
        matmat_fn=op.matmat,
        num_probes=num_probes,
        method=method,
        rtol=rtol,
        max_probes=max_probes,
        seed=seed,
    )


def diagonal(
    model,
    loss,
    data,
    *,
    seed=None,
    exact: bool = False,
    num_probes: int | None = None,
    rtol: float | None = None,
    max_probes: int = 1000,
    **operator_options,
) -> DiagonalResult:
    """Estimate the Hessian diagonal (flat, float64); ``exact=True`` uses one product per parameter,
    ``rtol`` adds probes until ||stderr|| <= rtol ||diagonal||.

    See :func:`~tfescape.hessian.estimators.diagonal_of`.

    Returns:
        DiagonalResult(diagonal, stderr, method, num_probes, relative_stderr, converged).
    """
    op = _operator(model, loss, data, operator_options)
    return diagonal_of(
        op.matvec,
        dim=op.dim,
        matmat_fn=op.matmat,
        num_probes=num_probes,
        exact=exact,
        rtol=rtol,
        max_probes=max_probes,
        seed=seed,
    )


def spectral_density(
    model,
    loss,
    data,
    *,
    num_random_starts: int = 5,
    num_iters: int = 80,
    grid=None,
    num_grid: int = 1000,
    sigma: float | None = None,
    seed=None,
    reorthogonalize: bool = True,
    **operator_options,
) -> DensityResult:
    """Hessian eigenvalue density by stochastic Lanczos quadrature with a Gaussian kernel of width sigma.

    Uses num_random_starts x num_iters Hessian-vector products. See
    :func:`~tfescape.hessian.estimators.spectral_density_of`.

    Returns:
        DensityResult(grid, density, nodes, weights, sigma, num_mvps).
    """
    op = _operator(model, loss, data, operator_options)
    return spectral_density_of(
        op.matvec,
        dim=op.dim,
        matmat_fn=op.matmat,
        num_random_starts=num_random_starts,
        num_iters=num_iters,
        grid=grid,
        num_grid=num_grid,
        sigma=sigma,
        reorthogonalize=reorthogonalize,
        seed=seed,
    )


def _operator(model, loss, data, options) -> HessianOperator:
    options = dict(options)
    if "hvp_method" in options:
        options["method"] = options.pop("hvp_method")
    allowed = {"variables", "layers", "method", "include_model_losses", "strategy"}
    unknown = set(options) - allowed
    if unknown:
        raise ValueError(
            f"Unknown option(s) {sorted(unknown)}; accepted: {sorted(allowed - {'method'} | {'hvp_method'})}."
        )
    return HessianOperator(model, loss, data, **options)
