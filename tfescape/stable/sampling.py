"""Chambers-Mallows-Stuck sampling of alpha-stable laws (symmetric and skewed) with stateless seeds.

SaS(alpha, scale s): E exp(iuX) = exp(-s^alpha |u|^alpha) (DESIGN.md); at alpha = 2 it is N(0, 2 s^2).

References:
    Chambers, Mallows & Stuck (1976), A method for simulating stable random variables. JASA 71.
    Weron (1996), On the Chambers-Mallows-Stuck method for simulating skewed stable random variables.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfescape._seeds import sanitize_seed


def symmetric_stable_sample(shape, alpha, *, scale=1.0, seed=None, dtype=tf.float32) -> tf.Tensor:
    """Draw iid SaS(alpha, scale) variates of the given shape (Chambers-Mallows-Stuck).

    X = s sin(alpha V) / cos(V)^(1/alpha) * (cos((1 - alpha) V) / W)^((1 - alpha)/alpha),
    V ~ U(-pi/2, pi/2), W ~ Exp(1). ``alpha`` and ``scale`` broadcast against ``shape``'s trailing axes.

    Args:
        shape: output shape (list or 1-D int tensor).
        alpha: tail index in (0, 2].
        scale: scale s > 0.
        seed: an int, a pair of ints or a stateless seed tensor (tfp.random.sanitize_seed); the same seed
            gives the same draws.
        dtype: float32 or float64.

    Returns:
        Tensor of ``shape`` (broadcast with alpha and scale) and ``dtype``.
    """
    seed = sanitize_seed(seed, salt="symmetric_stable_sample")
    v_seed, w_seed = tfp.random.split_seed(seed, n=2)
    alpha = tf.convert_to_tensor(alpha, dtype=dtype)
    scale = tf.convert_to_tensor(scale, dtype=dtype)
    half_pi = tf.constant(np.pi / 2, dtype)
    tiny = np.finfo(dtype.as_numpy_dtype).tiny
    v = tf.random.stateless_uniform(
        shape, seed=v_seed, minval=-half_pi, maxval=half_pi, dtype=dtype, alg="philox"
    )
    # Keep V strictly inside (-pi/2, pi/2) so cos(V) > 0.
    v = tf.clip_by_value(v, -half_pi * (1 - 1e-7), half_pi * (1 - 1e-7))
    u = tf.random.stateless_uniform(shape, seed=w_seed, minval=tiny, maxval=1.0, dtype=dtype, alg="philox")
    w = -tf.math.log(u)
    cos_v = tf.cos(v)
    body = tf.sin(alpha * v) / tf.pow(cos_v, 1.0 / alpha)
    tail = tf.pow(tf.cos((1.0 - alpha) * v) / w, (1.0 - alpha) / alpha)
    return scale * body * tail


def _standard_s1_sample(v, w, alpha, beta):
    """Z1 ~ S1(alpha, beta, 1, 0) from V ~ U(-pi/2, pi/2), W ~ Exp(1) (Chambers-Mallows-Stuck, Weron 1996)."""
    half_pi = np.pi / 2
    one = tf.equal(alpha, 1.0)
    a = tf.where(one, tf.ones_like(alpha) * 0.5, alpha)  # safe alpha for the alpha != 1 branch
    tan_half = tf.tan(half_pi * a)
    b_shift = tf.atan(beta * tan_half) / a
    log_s = tf.math.log1p(tf.square(beta * tan_half)) / (2.0 * a)
    cos_v = tf.cos(v)
    not_one = (
        tf.exp(log_s)
        * tf.sin(a * (v + b_shift))
        / tf.pow(cos_v, 1.0 / a)
        * tf.pow(tf.cos(v - a * (v + b_shift)) / w, (1.0 - a) / a)
    )

    def with_alpha_one():
        bv = half_pi + beta * v
        at_one = (bv * tf.tan(v) - beta * tf.math.log(half_pi * w * cos_v / bv)) / half_pi
        return tf.where(one, at_one, not_one)

    # The alpha = 1 formula is evaluated only when some alpha equals 1.
    return tf.cond(tf.reduce_any(one), with_alpha_one, lambda: tf.broadcast_to(not_one, tf.shape(not_one)))


def stable_sample(
    shape, alpha, beta, *, scale=1.0, loc=0.0, parameterization="S0", seed=None, dtype=tf.float32
) -> tf.Tensor:
    """Draw iid stable variates in Nolan's S0 (default) or S1 parameterization (Chambers-Mallows-Stuck).

    Z1 = S sin(alpha (V + B)) / cos(V)^(1/alpha) (cos(V - alpha (V + B)) / W)^((1 - alpha)/alpha)
                                                                              (alpha != 1)
    Z1 = (2/pi) [(pi/2 + beta V) tan V - beta log((pi/2) W cos V / (pi/2 + beta V))]  (alpha == 1)
    with B = arctan(beta tan(pi alpha/2)) / alpha, S = (1 + beta^2 tan^2(pi alpha/2))^(1/(2 alpha)),
    V ~ U(-pi/2, pi/2), W ~ Exp(1). Then S1: X = loc + scale Z1 (+ (2/pi) beta scale log(scale) at
    alpha = 1) and S0: X = loc + scale (Z1 - beta tan(pi alpha/2)) (alpha != 1), loc + scale Z1 (alpha = 1),
    exactly as scipy.stats.levy_stable defines them. float64 output is computed in float64; float32 output
    in float32 unless some alpha lies within 0.1 of 1, where the S0 shift cancels against Z1 and the draw
    is made in float64 and cast.

    Args:
        shape: output shape; parameters broadcast against its trailing axes.
        alpha: stability index in (0, 2].
        beta: skewness in [-1, 1].
        scale: scale > 0.
        loc: location.
        parameterization: "S0" or "S1".
        seed: an int, a pair of ints or a stateless seed tensor (tfp.random.sanitize_seed); the same seed
            gives the same draws.
        dtype: float32 or float64.

    Returns:
        Tensor of ``shape`` (broadcast with the parameters) and ``dtype``.

    Raises:
        ValueError: if ``parameterization`` is not "S0" or "S1".

    References:
        Chambers, Mallows & Stuck (1976), JASA 71. Weron (1996), Statist. Probab. Lett. 28.
        Nolan (2020), Univariate Stable Distributions, Springer, Theorem 3.3.
    """
    if parameterization not in ("S0", "S1"):
        raise ValueError(
            "parameterization must be 'S0' or 'S1' (as in scipy.stats.levy_stable), "
            f"got {parameterization!r}."
        )
    seed = sanitize_seed(seed, salt="stable_sample")
    dtype = tf.as_dtype(dtype)
    params64 = [
        tf.cast(p, tf.float64) if tf.is_tensor(p) else tf.constant(np.asarray(p, np.float64))
        for p in (alpha, beta, scale, loc)
    ]
    if dtype == tf.float64:
        return _stable_draw(shape, *params64, parameterization, seed, tf.float64)
    # float32 output: draw in float32 (vectorized, several times faster) unless some alpha is within 0.1 of
    # 1, where the S0 shift -beta tan(pi alpha/2) cancels against Z1 and float64 is needed.
    far_from_one = tf.reduce_all(tf.abs(params64[0] - 1.0) > 0.1)
    return tf.cond(
        far_from_one,
        lambda: tf.cast(
            _stable_draw(shape, *(tf.cast(p, dtype) for p in params64), parameterization, seed, dtype), dtype
        ),
        lambda: tf.cast(_stable_draw(shape, *params64, parameterization, seed, tf.float64), dtype),
    )


def _stable_draw(shape, alpha, beta, scale, loc, parameterization, seed, work_dtype):
    v_seed, w_seed = tfp.random.split_seed(seed, n=2)
    half_pi = np.pi / 2
    edge = 1e-15 if work_dtype == tf.float64 else 1e-7
    v = tf.random.stateless_uniform(
        shape, seed=v_seed, minval=-half_pi, maxval=half_pi, dtype=work_dtype, alg="philox"
    )
    v = tf.clip_by_value(v, -half_pi * (1 - edge), half_pi * (1 - edge))
    tiny = np.finfo(work_dtype.as_numpy_dtype).tiny
    u = tf.random.stateless_uniform(
        shape, seed=w_seed, minval=tiny, maxval=1.0, dtype=work_dtype, alg="philox"
    )
    w = -tf.math.log(u)
    z1 = _standard_s1_sample(v, w, alpha, beta)
    one = tf.equal(alpha, 1.0)
    safe_alpha = tf.where(one, tf.ones_like(alpha) * 0.5, alpha)
    if parameterization == "S0":
        shift = tf.where(one, tf.zeros_like(alpha), -beta * tf.tan(half_pi * safe_alpha))
        return loc + scale * (z1 + shift)
    shift = tf.where(one, (2.0 / np.pi) * beta * scale * tf.math.log(scale), tf.zeros_like(scale))
    return loc + scale * z1 + shift
