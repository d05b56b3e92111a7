"""Basins of trained minima in the span of their top Hessian eigenvectors: prediction and simulation of
any optimizer's escape.

Reduced model of a minimum theta* (DESIGN.md conventions). Let V be the k top Hessian eigenvectors with
positive eigenvalues lambda_1..k (tfescape.hessian), and d = V^T (theta - theta*). Near theta* the basin
is the quadratic {1/2 d^T diag(lambda) d < h} with a chosen loss height h (nats). An optimizer with a
diagonal preconditioner Q (SGD: Q = I; Adam: Q = sqrt(v_hat) + epsilon recorded at the end of its
training, frozen as the exit-law theory assumes) follows, in these coordinates,

    dd = -P diag(lambda) d dt + eps P S dL,   P = V^T Q^-1 V,

with L a standard alpha-stable Levy process with independent SaS(1) coordinates, S = diag(s) the SaS scales
of the gradient noise projected on V (measured at theta*: s_i = median |v_i^T w| / median |SaS(alpha, 1)|),
and eps = eta^((alpha - 1)/alpha) for the optimizer's learning rate eta and its measured tail index alpha.
The prediction is tfescape.sde.theory.predict_optimizer_escape (the exit law, mean exit time 1 / nu(W));
the simulation is tfescape.sde.first_exit_times of tfescape.sde.SGDSDE with that drift and noise matrix.
Times are SDE time (one iteration is dt = eta); iterations = time / eta.

Example:
    >>> basin = reduce_basin(eigenvalues, eigenvectors, noise_vectors=w, alpha=1.3, height=0.05, seed=0)
    >>> escape = basin_escape(basin, alpha=1.4, learning_rate=1e-3, preconditioner=q_adam, seed=0)
    >>> escape.predicted_iterations, escape.simulated_iterations
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from tfescape.sde.theory import preconditioner_projection, predict_optimizer_escape

logger = logging.getLogger(__name__)

__all__ = [
    "ReducedBasin",
    "BasinEscape",
    "positive_subspace",
    "median_abs_standard_sas",
    "projected_noise_scale",
    "reduce_basin",
    "basin_escape",
]


@dataclass(frozen=True)
class ReducedBasin:
    """The quadratic basin of a minimum in the top-eigenvector subspace.

    Attributes:
        eigenvalues: (k,) positive Hessian eigenvalues lambda_i (loss units / parameter^2).
        eigenvectors: (num_params, k) orthonormal columns V.
        noise_scale: (k,) SaS scales s_i of the projected gradient noise.
        height: basin height h (nats).
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    noise_scale: np.ndarray
    height: float


@dataclass(frozen=True)
class BasinEscape:
    """Predicted and simulated escape of one optimizer from one reduced basin.

    Attributes:
        alpha: tail index used; eps: noise level eta^((alpha-1)/alpha); learning_rate: eta.
        predicted_time: 1 / nu(W), SDE time; predicted_iterations: predicted_time / eta.
        theta, m_w: the paper's Theta = (2/alpha) eps^alpha and m(W) = nu(W) / Theta.
        simulated_time, simulated_low, simulated_high: Monte Carlo mean exit time and its 95% interval
            (SDE time); simulated_iterations: simulated_time / eta.
        escaped_fraction: share of paths that left before the horizon.
        dt, horizon, num_paths: simulation settings.
        projection: P = V^T Q^-1 V (k, k).
    """

    alpha: float
    eps: float
    learning_rate: float
    predicted_time: float
    predicted_iterations: float
    theta: float
    m_w: float
    simulated_time: float
    simulated_low: float
    simulated_high: float
    simulated_iterations: float
    escaped_fraction: float
    dt: float
    horizon: float
    num_paths: int
    projection: np.ndarray

    def scalars(self) -> dict:
        """Every scalar field (for a CSV row)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "projection"}


def positive_subspace(eigenvalues, eigenvectors) -> tuple[np.ndarray, np.ndarray]:
    """Keep the eigenpairs with lambda > 0 (a minimum's basin needs them).

    Raises:
        ValueError: no positive eigenvalue (the point is not a minimum), or mismatched shapes.
    """
    eigenvalues = np.asarray(eigenvalues, float)
    eigenvectors = np.asarray(eigenvectors, float)
    if eigenvectors.ndim != 2 or eigenvectors.shape[1] != eigenvalues.size:
        raise ValueError(
            f"eigenvectors must be [num_params, {eigenvalues.size}] (one column per eigenvalue), "
            f"got shape {eigenvectors.shape}."
        )
    keep = np.isfinite(eigenvalues) & (eigenvalues > 0)
    if not keep.any():
        raise ValueError(
            "no positive Hessian eigenvalue at this point: it is not a minimum, so it has no basin to "
            "escape. Train longer (more epochs)."
        )
    return eigenvalues[keep], eigenvectors[:, keep]


def median_abs_standard_sas(alpha: float, *, num_samples: int = 200_000, seed: int = 0) -> float:
    """median |X| for X ~ SaS(alpha, 1), by Monte Carlo with tfescape.stable.symmetric_stable_sample."""
    import tensorflow as tf

    from tfescape.stable import symmetric_stable_sample

    x = symmetric_stable_sample([num_samples], alpha, seed=seed, dtype=tf.float64)
    return float(np.median(np.abs(np.asarray(x))))


def projected_noise_scale(noise_vectors, eigenvectors, alpha: float, *, seed: int = 0) -> np.ndarray:
    """SaS scales of noise projected on the eigenvectors: median |V^T w| / median |SaS(alpha, 1)|.

    Args:
        noise_vectors: (num_batches, num_params) flat noise vectors w.
        eigenvectors: (num_params, k).
        alpha: tail index of the noise.
        seed: seed of the Monte Carlo constant.

    Returns:
        (k,) scales (floored at 1e-12 so the noise matrix stays invertible).

    Raises:
        ValueError: mismatched shapes or non-finite noise.
    """
    w = np.asarray(noise_vectors, float)
    v = np.asarray(eigenvectors, float)
    if w.ndim != 2 or w.shape[1] != v.shape[0]:
        raise ValueError(f"noise_vectors must be [num_batches, {v.shape[0]}], got shape {w.shape}.")
    if not np.all(np.isfinite(w)):
        raise ValueError("noise_vectors hold NaN or inf: the gradients at this point are not finite.")
    projected = w @ v
    return np.maximum(np.median(np.abs(projected), axis=0) / median_abs_standard_sas(alpha, seed=seed), 1e-12)


def reduce_basin(eigenvalues, eigenvectors, *, noise_vectors, alpha, height, seed: int = 0) -> ReducedBasin:
    """The reduced basin of a minimum: positive eigenpairs, projected noise scales, height.

    Args:
        eigenvalues: top Hessian eigenvalues (k,), any sign.
        eigenvectors: (num_params, k) matching columns.
        noise_vectors: (num_batches, num_params) gradient noise measured at the minimum.
        alpha: tail index of that noise (sets the SaS scale constant).
        height: basin height h > 0 (nats).
        seed: seed of the Monte Carlo constant.
    """
    height = float(height)
    if not (np.isfinite(height) and height > 0):
        raise ValueError(f"height must be finite and > 0 (nats above the minimum), got {height}.")
    lam, v = positive_subspace(eigenvalues, eigenvectors)
    scale = projected_noise_scale(noise_vectors, v, alpha, seed=seed)
    return ReducedBasin(lam, v, scale, height)


def basin_escape(
    basin: ReducedBasin,
    *,
    alpha: float,
    learning_rate: float,
    preconditioner=None,
    num_paths: int = 1000,
    max_steps: int = 20_000,
    seed: int = 0,
) -> BasinEscape:
    """Prediction and simulation of one optimizer's escape from ``basin``.

    Args:
        basin: the reduced basin.
        alpha: the optimizer's gradient-noise tail index.
        learning_rate: eta; eps = eta^((alpha - 1)/alpha).
        preconditioner: the optimizer's diagonal Q per parameter (flat, num_params), or None for Q = I (SGD).
        num_paths: Monte Carlo paths.
        max_steps: step budget per path; the horizon is min(20 x prediction, max_steps x dt) and later
            exits are censored (the mean then uses the tail-exponential estimate of first_exit_times).
        seed: simulation seed.

    Returns:
        BasinEscape.
    """
    import tensorflow as tf

    from tfescape.sde.basins import Ellipsoid
    from tfescape.sde.exit_times import first_exit_times
    from tfescape.sde.processes import SGDSDE

    lam = np.asarray(basin.eigenvalues, float)
    k = lam.size
    p = preconditioner_projection(preconditioner, dim=k, basis=basin.eigenvectors)
    prediction = predict_optimizer_escape(
        alpha=alpha,
        noise_scale=basin.noise_scale,
        hessian=lam,
        height=basin.height,
        preconditioner=preconditioner,
        basis=basin.eigenvectors,
        learning_rate=learning_rate,
    )
    eps = prediction.eps
    sigma = p @ np.diag(basin.noise_scale)
    drift = p @ np.diag(lam)
    stiffness = float(np.max(np.abs(np.linalg.eigvals(drift))))
    predicted = prediction.mean_exit_time
    dt = min(0.05 / stiffness, predicted / 100.0)
    horizon = min(20.0 * predicted, max_steps * dt)
    drift_tf = tf.constant(drift.T.copy(), tf.float64)
    sde = SGDSDE(lambda x: tf.linalg.matmul(x, drift_tf), alpha=alpha, eps=eps, sigma=sigma, dtype=tf.float64)
    result = first_exit_times(
        sde,
        x0=np.zeros(k),
        basin=Ellipsoid(center=np.zeros(k), hessian=lam, height=basin.height),
        dt=dt,
        num_paths=num_paths,
        max_time=horizon,
        seed=seed,
    )
    eta = float(learning_rate)
    mean = result.mean
    return BasinEscape(
        alpha=float(alpha),
        eps=eps,
        learning_rate=eta,
        predicted_time=predicted,
        predicted_iterations=predicted / eta,
        theta=prediction.theta,
        m_w=prediction.m_w,
        simulated_time=float(mean.value),
        simulated_low=float(mean.low),
        simulated_high=float(mean.high),
        simulated_iterations=float(mean.value) / eta,
        escaped_fraction=float(result.num_escaped / result.num_paths),
        dt=dt,
        horizon=float(result.horizon),
        num_paths=int(result.num_paths),
        projection=p,
    )
