"""Stateless random probe vectors (float64 NumPy) for the Hessian algorithms.

Every public random function sanitizes its ``seed`` once with ``tfp.random.sanitize_seed`` and then
splits it per draw, so results are a deterministic function of the seed and never touch global state.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfescape._seeds import sanitize_seed, split_seeds  # noqa: F401  (re-exported for the Hessian modules)


def normal_vector(seed: tf.Tensor, dim: int) -> np.ndarray:
    """A standard normal vector of length ``dim`` (float64)."""
    return tf.random.stateless_normal([dim], seed=seed, dtype=tf.float64).numpy()


def unit_vector(seed: tf.Tensor, dim: int) -> np.ndarray:
    """A uniformly distributed unit vector of length ``dim`` (float64)."""
    v = normal_vector(seed, dim)
    return v / np.linalg.norm(v)


def rademacher_vector(seed: tf.Tensor, dim: int) -> np.ndarray:
    """A vector of iid +-1 entries of length ``dim`` (float64)."""
    bits = tf.random.stateless_uniform([dim], seed=seed, minval=0, maxval=2, dtype=tf.int32).numpy()
    return 2.0 * bits.astype(np.float64) - 1.0
