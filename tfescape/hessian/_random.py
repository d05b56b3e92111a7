"""Stateless random probe vectors (float64 NumPy) for the Hessian algorithms.

Every public random function sanitizes its ``seed`` once with ``tfp.random.sanitize_seed`` and then
splits it per draw, so results are a deterministic function of the seed and never touch global state.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp


def sanitize_seed(seed, *, salt: str) -> tf.Tensor:
    """tfp.random.sanitize_seed, reproducible for Python int seeds.

    tfp.random.sanitize_seed turns an int into a stateless seed through a stateful draw (the same int
    gives different seeds on each call), so ints are first mapped to the stateless pair
    (seed // 2**31, seed % 2**31). None still draws a fresh seed; shape-[2] tensors pass through.
    """
    if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
        seed = int(seed)
        seed = tf.constant([(seed // 2**31) % 2**31, seed % 2**31], tf.int32)
    return tfp.random.sanitize_seed(seed, salt=salt)


def split_seeds(seed, n: int, *, salt: str) -> list[tf.Tensor]:
    """Sanitize ``seed`` once and split it into ``n`` independent stateless seeds."""
    sanitized = sanitize_seed(seed, salt=salt)
    if n == 1:
        return [sanitized]
    return list(tfp.random.split_seed(sanitized, n=n))


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
