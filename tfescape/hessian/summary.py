"""All sharpness measures of one minimum in one call: Hessian top eigenvalues, trace, spectral density,
Keskar's epsilon-sharpness and a 1-D loss landscape (one HVP operator shared by the three spectra).

Example:
    >>> probe = probe_sharpness(model, loss, train_eval, k=5, seed=0)
    >>> probe.top_eigenvalues[0], probe.trace, probe.epsilon_sharpness
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

__all__ = ["SharpnessProbe", "probe_sharpness"]


@dataclass(frozen=True)
class SharpnessProbe:
    """Flatness measures of one minimum (Hessian of the training loss in inference mode).

    Attributes:
        num_params: number of parameters (Hessian dimension).
        base_loss: training loss at the minimum (nats).
        top_eigenvalues: (k,) largest Hessian eigenvalues, descending.
        eigen_residuals: (k,) ||H v - lambda v|| of each Ritz pair.
        eigen_converged: (k,) whether each pair met the Lanczos tolerance.
        trace: Hutch++ estimate of tr(H); trace_stderr its standard error.
        epsilon_sharpness: Keskar et al.'s 100 (max f - f) / (1 + f) over the box eps (|x| + 1).
        epsilon: the box size eps.
        density_grid, density: (g,) stochastic-Lanczos-quadrature estimate of the eigenvalue density.
        landscape_alphas, landscape_losses: (n,) training loss along a filter-normalized direction.
        seconds: wall time of the probe.
        eigenvectors: (num_params, k) eigenvectors of ``top_eigenvalues`` (None when loaded from disk;
            read them with :func:`load_eigenvectors`).
    """

    num_params: int
    base_loss: float
    top_eigenvalues: np.ndarray
    eigen_residuals: np.ndarray
    eigen_converged: np.ndarray
    trace: float
    trace_stderr: float
    epsilon_sharpness: float
    epsilon: float
    density_grid: np.ndarray
    density: np.ndarray
    landscape_alphas: np.ndarray
    landscape_losses: np.ndarray
    seconds: float
    eigenvectors: np.ndarray | None = None


def probe_sharpness(
    model,
    loss,
    data,
    *,
    k: int = 5,
    lanczos_iters: int = 40,
    density_starts: int = 3,
    trace_samples: int = 20,
    landscape_points: int = 25,
    landscape_radius: float = 1.0,
    epsilon: float = 1e-3,
    sharpness_steps: int = 20,
    seed: int = 0,
) -> SharpnessProbe:
    """All sharpness measures of ``model`` at its current weights over ``data``.

    Args:
        model: a built Keras model (weights of the minimum).
        loss: the training loss (mean reduction), e.g. SparseCategoricalCrossentropy(from_logits=True).
        data: tf.data.Dataset of (x, y) batches (the whole set is averaged) or one (x, y) batch.
        k: number of top eigenvalues.
        lanczos_iters: Hessian-vector products of the eigenvalue search (cap) and per density start.
        density_starts: random starts of stochastic Lanczos quadrature.
        trace_samples: Hutch++ products for the trace (>= 4).
        landscape_points: points of the 1-D landscape on [-landscape_radius, landscape_radius].
        landscape_radius: extent of the landscape in filter-normalized units.
        epsilon: Keskar box size.
        sharpness_steps: projected-gradient ascent steps.
        seed: seed of every random start (the same seed gives the same directions for every model).

    Returns:
        SharpnessProbe.

    Raises:
        ValueError: bad sizes (propagated from tfescape.hessian with its message).
    """
    from tfescape import hessian

    if trace_samples < 4:
        raise ValueError(f"trace_samples must be >= 4 for Hutch++, got {trace_samples}.")
    tick = time.monotonic()
    op = hessian.HessianOperator(model, loss, data)  # one operator (one traced HVP) for the three spectra
    top = hessian.top_eigenvalues_of(
        op.matvec, dim=op.dim, k=k, seed=seed, max_iters=max(lanczos_iters, k + 2)
    )
    tr = hessian.trace_of(op.matvec, dim=op.dim, seed=seed + 1, num_probes=trace_samples)
    density = hessian.spectral_density_of(
        op.matvec,
        dim=op.dim,
        num_random_starts=density_starts,
        num_iters=lanczos_iters,
        seed=seed + 2,
        num_grid=400,
    )
    sharp = hessian.epsilon_sharpness(
        model, loss, data, epsilon=epsilon, max_steps=sharpness_steps, seed=seed + 3
    )
    alphas = np.linspace(-landscape_radius, landscape_radius, landscape_points)
    land = hessian.loss_landscape_1d(model, loss, data, alphas=alphas, seed=seed + 4)
    return SharpnessProbe(
        num_params=int(top.eigenvectors.shape[0]),
        base_loss=float(sharp.base_loss),
        top_eigenvalues=np.asarray(top.eigenvalues, float),
        eigen_residuals=np.asarray(top.residuals, float),
        eigen_converged=np.asarray(top.converged, bool),
        trace=float(tr.estimate),
        trace_stderr=float(tr.stderr),
        epsilon_sharpness=float(sharp.sharpness),
        epsilon=float(epsilon),
        density_grid=np.asarray(density.grid, float),
        density=np.asarray(density.density, float),
        landscape_alphas=np.asarray(land.alphas, float),
        landscape_losses=np.asarray(land.losses, float),
        seconds=time.monotonic() - tick,
        eigenvectors=np.asarray(top.eigenvectors, np.float32),
    )
