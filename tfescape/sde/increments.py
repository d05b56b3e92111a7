"""Increments of a coordinate-wise symmetric alpha-stable Levy process.

A standard alpha-stable Levy process L_t in R^d with independent coordinates has independent, stationary
increments L_{t+dt} - L_t = dt^(1/alpha) S, S with iid SaS(1) coordinates (E exp(iuS_j) = exp(-|u|^alpha),
the DESIGN.md convention). This is the noise of the Euler-Maruyama scheme
X_{k+1} = X_k + b(X_k) dt + G dL_k used everywhere in tfescape.sde.

References:
    Janicki & Weron (1994), Simulation and Chaotic Behavior of alpha-Stable Stochastic Processes.
"""

from __future__ import annotations

import math

import tensorflow as tf

from tfescape._seeds import sanitize_seed as stateless_seed
from tfescape.stable.sampling import symmetric_stable_sample

__all__ = ["levy_increments", "stateless_seed", "validate_alpha", "validate_dt"]


def validate_alpha(alpha) -> float:
    """Return ``alpha`` as a float after checking 0 < alpha <= 2.

    Raises:
        ValueError: alpha is not a finite number in (0, 2].
    """
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a number in (0, 2], got {alpha!r}.") from None
    if not (0.0 < value <= 2.0):
        raise ValueError(
            f"alpha must lie in (0, 2] (the tail index of a stable law), got {value}. "
            "Estimate it from gradient noise or pick e.g. 1.5."
        )
    return value


def validate_dt(dt) -> float:
    """Return ``dt`` as a float after checking it is a finite positive time step.

    Raises:
        ValueError: dt is not finite and > 0.
    """
    try:
        value = float(dt)
    except (TypeError, ValueError):
        raise ValueError(f"dt must be a positive number, got {dt!r}.") from None
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"dt must be a finite time step > 0, got {value}; e.g. dt=1e-3.")
    return value


def levy_increments(shape, alpha, dt, *, seed=None, dtype=tf.float32) -> tf.Tensor:
    """Draw increments dL = dt^(1/alpha) S of a standard coordinate-wise alpha-stable Levy process.

    Each entry is SaS(alpha, scale dt^(1/alpha)): E exp(iu dL) = exp(-dt |u|^alpha). Stateless: the same
    seed gives the same draws, in eager mode, in a tf.function and under XLA.

    Args:
        shape: output shape, e.g. ``[num_paths, dim]``.
        alpha: tail index in (0, 2].
        dt: time step > 0.
        seed: int, shape-[2] int tensor or None (see ``stateless_seed``).
        dtype: float32 or float64.

    Returns:
        Tensor of ``shape`` and ``dtype``.

    Raises:
        ValueError: alpha outside (0, 2] or dt <= 0.

    Example:
        >>> dl = levy_increments([1000, 2], 1.5, 1e-2, seed=0)
    """
    alpha = validate_alpha(alpha)
    dt = validate_dt(dt)
    seed = stateless_seed(seed, salt="levy_increments")
    return symmetric_stable_sample(shape, alpha, scale=dt ** (1.0 / alpha), seed=seed, dtype=dtype)
