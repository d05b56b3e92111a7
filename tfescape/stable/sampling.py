"""Chambers-Mallows-Stuck sampling of symmetric alpha-stable laws with stateless seeds.

SaS(alpha, scale s): E exp(iuX) = exp(-s^alpha |u|^alpha) (DESIGN.md); at alpha = 2 it is N(0, 2 s^2).

References:
    Chambers, Mallows & Stuck (1976), A method for simulating stable random variables. JASA 71.
    Weron (1996), On the Chambers-Mallows-Stuck method for simulating skewed stable random variables.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp


def symmetric_stable_sample(shape, alpha, *, scale=1.0, seed=None, dtype=tf.float32) -> tf.Tensor:
    """Draw iid SaS(alpha, scale) variates of the given shape (Chambers-Mallows-Stuck).

    X = s sin(alpha V) / cos(V)^(1/alpha) * (cos((1 - alpha) V) / W)^((1 - alpha)/alpha),
    V ~ U(-pi/2, pi/2), W ~ Exp(1). ``alpha`` and ``scale`` broadcast against ``shape``'s trailing axes.

    Args:
        shape: output shape (list or 1-D int tensor).
        alpha: tail index in (0, 2].
        scale: scale s > 0.
        seed: anything tfp.random.sanitize_seed accepts; the same seed gives the same draws.
        dtype: float32 or float64.

    Returns:
        Tensor of ``shape`` (broadcast with alpha and scale) and ``dtype``.
    """
    seed = tfp.random.sanitize_seed(seed, salt="symmetric_stable_sample")
    v_seed, w_seed = tfp.random.split_seed(seed, n=2)
    alpha = tf.convert_to_tensor(alpha, dtype=dtype)
    scale = tf.convert_to_tensor(scale, dtype=dtype)
    half_pi = tf.constant(np.pi / 2, dtype)
    tiny = np.finfo(dtype.as_numpy_dtype).tiny
    v = tf.random.stateless_uniform(shape, seed=v_seed, minval=-half_pi, maxval=half_pi, dtype=dtype)
    # Keep V strictly inside (-pi/2, pi/2) so cos(V) > 0.
    v = tf.clip_by_value(v, -half_pi * (1 - 1e-7), half_pi * (1 - 1e-7))
    u = tf.random.stateless_uniform(shape, seed=w_seed, minval=tiny, maxval=1.0, dtype=dtype)
    w = -tf.math.log(u)
    cos_v = tf.cos(v)
    body = tf.sin(alpha * v) / tf.pow(cos_v, 1.0 / alpha)
    tail = tf.pow(tf.cos((1.0 - alpha) * v) / w, (1.0 - alpha) / alpha)
    return scale * body * tail
