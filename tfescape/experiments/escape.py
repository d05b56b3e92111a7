"""Escape of SGD and Adam from the basins of trained minima: the exit law's prediction and a Monte Carlo
simulation of the Levy-driven SDEs, in the subspace of the top Hessian eigenvectors.

Reduced model of a minimum theta* (DESIGN.md conventions). Let V be the k top Hessian eigenvectors with
positive eigenvalues lambda_1..k (tfescape.hessian), and d = V^T (theta - theta*). Near theta* the basin
is the quadratic {1/2 d^T diag(lambda) d < h} with a chosen loss height h (nats). In these coordinates

    SGD:  dd = -diag(lambda) d dt + eps_SGD S dL,
    Adam: dd = -P diag(lambda) d dt + eps_Adam P S dL,   P = V^T Q^-1 V,

with L a standard alpha-stable Levy process with independent SaS(1) coordinates, S = diag(s) the SaS scales of
the gradient noise projected on V (measured at theta*: s_i = median |v_i^T w| / median |SaS(alpha, 1)|),
eps = eta^((alpha - 1)/alpha) for the optimizer's learning rate eta and its measured tail index alpha, and
Q the Adam preconditioner recorded at the end of Adam's training (frozen, as the exit-law theory assumes).
The prediction is tfescape.sde.theory.quadratic_escape_rate with G = eps S (SGD) or eps P S (Adam), mean exit
time 1 / nu(W); the simulation is tfescape.sde.first_exit_times of tfescape.sde.SGDSDE with that drift and
noise matrix. Times are SDE time (one iteration is dt = eta); iterations = time / eta.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)


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
class EscapeEstimate:
    """Predicted and simulated escape of one optimizer from one basin.

    Attributes:
        basin: name of the minimum whose basin it is ("sgd" or "adam").
        optimizer: "sgd" or "adam".
        alpha: tail index used; eps: noise level eta^((alpha-1)/alpha); learning_rate: eta.
        predicted_time: 1 / nu(W), SDE time; predicted_iterations: predicted_time / eta.
        theta, m_w: the paper's Theta = (2/alpha) eps^alpha and m(W) = nu(W) / Theta.
        simulated_time, simulated_low, simulated_high: Monte Carlo mean exit time and its 95% interval.
        escaped_fraction: share of paths that left before the horizon.
        dt, horizon, num_paths: simulation settings.
    """

    basin: str
    optimizer: str
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
    escaped_fraction: float
    dt: float
    horizon: float
    num_paths: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def median_abs_standard_sas(alpha: float, *, num_samples: int = 200_000, seed: int = 0) -> float:
    """median |X| for X ~ SaS(alpha, 1), by Monte Carlo with tfescape.stable.symmetric_stable_sample."""
    import tensorflow as tf

    from tfescape.stable import symmetric_stable_sample

    x = symmetric_stable_sample([num_samples], alpha, seed=seed, dtype=tf.float64)
    return float(np.median(np.abs(np.asarray(x))))


def projected_noise_scale(
    noise_vectors: np.ndarray, eigenvectors: np.ndarray, alpha: float, *, seed: int = 0
):
    """SaS scales of noise projected on the eigenvectors: median |V^T w| / median |SaS(alpha, 1)|.

    Args:
        noise_vectors: (num_batches, num_params) flat noise vectors w.
        eigenvectors: (num_params, k).
        alpha: tail index of the noise.
        seed: seed of the Monte Carlo constant.

    Returns:
        (k,) scales (floored at 1e-12 so the noise matrix stays invertible).
    """
    projected = np.asarray(noise_vectors, float) @ np.asarray(eigenvectors, float)
    return np.maximum(np.median(np.abs(projected), axis=0) / median_abs_standard_sas(alpha, seed=seed), 1e-12)


def adam_projection(eigenvectors: np.ndarray, preconditioner: np.ndarray) -> np.ndarray:
    """P = V^T Q^-1 V, the frozen Adam preconditioner in the eigenvector subspace (k, k)."""
    v = np.asarray(eigenvectors, float)
    q = np.asarray(preconditioner, float).ravel()
    if q.shape[0] != v.shape[0] or np.any(~np.isfinite(q)) or np.any(q <= 0):
        raise ValueError(
            f"preconditioner must be {v.shape[0]} finite positive values (one per parameter), got {q.shape}."
        )
    return v.T @ (v / q[:, None])


def estimate_escape(
    basin: ReducedBasin,
    *,
    basin_name: str,
    optimizer: str,
    alpha: float,
    learning_rate: float,
    projection: np.ndarray | None = None,
    num_paths: int = 1000,
    max_steps: int = 20_000,
    seed: int = 0,
) -> EscapeEstimate:
    """Prediction and simulation of one optimizer's escape from ``basin``.

    Args:
        basin: the reduced basin.
        basin_name: which minimum it belongs to (for the record).
        optimizer: "sgd" or "adam" (for the record; Adam needs ``projection``).
        alpha: the optimizer's gradient-noise tail index.
        learning_rate: eta; eps = eta^((alpha - 1)/alpha).
        projection: P = V^T Q^-1 V for Adam; None (identity) for SGD.
        num_paths: Monte Carlo paths.
        max_steps: step budget per path; the horizon is min(20 x prediction, max_steps x dt) and later
            exits are censored (the mean then uses the tail-exponential estimate of first_exit_times).
        seed: simulation seed.

    Returns:
        EscapeEstimate.
    """
    from tfescape.sde import SGDSDE, Ellipsoid, first_exit_times, theory

    lam = np.asarray(basin.eigenvalues, float)
    k = lam.size
    p = np.eye(k) if projection is None else np.asarray(projection, float)
    eps = float(learning_rate) ** ((alpha - 1.0) / alpha)
    sigma = p @ np.diag(basin.noise_scale)
    g = eps * sigma
    rate = theory.quadratic_escape_rate(alpha=alpha, noise_matrix=g, hessian=lam, height=basin.height)
    predicted = 1.0 / rate
    theta, m_w = theory.paper_form(rate, alpha=alpha, eps=eps)
    drift = p @ np.diag(lam)
    stiffness = float(np.max(np.abs(np.linalg.eigvals(drift))))
    dt = min(0.05 / stiffness, predicted / 100.0)
    horizon = min(20.0 * predicted, max_steps * dt)
    drift_t = drift.T.copy()

    import tensorflow as tf

    drift_tf = tf.constant(drift_t, tf.float64)
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
    mean = result.mean
    return EscapeEstimate(
        basin=basin_name,
        optimizer=optimizer,
        alpha=float(alpha),
        eps=eps,
        learning_rate=float(learning_rate),
        predicted_time=predicted,
        predicted_iterations=predicted / float(learning_rate),
        theta=theta,
        m_w=m_w,
        simulated_time=float(mean.value),
        simulated_low=float(mean.low),
        simulated_high=float(mean.high),
        escaped_fraction=float(result.num_escaped / result.num_paths),
        dt=dt,
        horizon=float(result.horizon),
        num_paths=int(result.num_paths),
    )


def positive_subspace(eigenvalues: np.ndarray, eigenvectors: np.ndarray):
    """Keep the eigenpairs with lambda > 0 (a minimum's basin needs them); raises if none is left."""
    eigenvalues = np.asarray(eigenvalues, float)
    keep = np.isfinite(eigenvalues) & (eigenvalues > 0)
    if not keep.any():
        raise ValueError(
            "no positive Hessian eigenvalue at this point: it is not a minimum, so it has no basin to "
            "escape. Train longer (more epochs)."
        )
    return eigenvalues[keep], np.asarray(eigenvectors, float)[:, keep]
