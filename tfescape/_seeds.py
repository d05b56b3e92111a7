"""Stateless seeds: the one place where a user's ``seed=`` becomes a TensorFlow stateless seed.

``tfp.random.sanitize_seed`` turns a Python int into a stateless seed through a *stateful* draw, so the
same int gives different numbers on every eager call. tfescape maps ints (and NumPy ints) to the fixed
stateless pair ``(seed // 2**31 mod 2**31, seed mod 2**31)`` first, which for the usual seeds
0 <= seed < 2**31 is ``(0, seed)``; the same int then gives the same draws everywhere. ``None`` still
draws a fresh seed, and shape-[2] tensors or pairs pass through unchanged.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp


def sanitize_seed(seed, *, salt: str) -> tf.Tensor:
    """A shape-[2] int32 stateless seed from ``seed`` (None, int or pair/tensor), salted with ``salt``."""
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
