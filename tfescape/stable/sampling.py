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

from tfescape import _checks
from tfescape._seeds import sanitize_seed


def symmetric_stable_sample(shape, alpha, *, scale=1.0, seed=None, dtype=tf.float32) -> tf.Tensor:
    """Draw iid SaS(alpha, scale) variates of the given shape (Chambers-Mallows-Stuck).

    X = s sin(alpha V) / cos(V)^(1/alpha) * (cos((1 - alpha) V) / W)^((1 - alpha)/alpha),
    V ~ U(-pi/2, pi/2), W ~ Exp(1). ``alpha`` and ``scale`` broadcast against ``shape``'s trailing axes.
    The two powers are evaluated as one exponential of a sum of logarithms (``_cms_log_magnitude``).

    Args:
        shape: output shape (list or 1-D int tensor).
        alpha: tail index in (0, 2].
        scale: scale s > 0.
        seed: an int, a pair of ints or a stateless seed tensor (tfp.random.sanitize_seed); the same seed
            gives the same draws.
        dtype: float32 or float64.

    Returns:
        Tensor of ``shape`` (broadcast with alpha and scale) and ``dtype``.

    Raises:
        ValueError: a concrete alpha outside (0, 2], scale not finite and > 0, or a negative shape entry.
    """
    _checks.sample_shape(shape)
    _checks.stable_alpha(alpha)
    _checks.stable_scale(scale)
    dtype = tf.as_dtype(dtype)
    seed = sanitize_seed(seed, salt="symmetric_stable_sample")
    alpha = tf.convert_to_tensor(alpha, dtype=dtype)
    scale = tf.convert_to_tensor(scale, dtype=dtype)
    v, log_w = _cms_inputs(shape, seed, dtype)
    return _symmetric_from_inputs(v, log_w, alpha, scale)


def _symmetric_from_inputs(v, log_w, alpha, scale):
    """Chambers-Mallows-Stuck map for SaS(alpha, scale) from V ~ U(-pi/2, pi/2) and log W, W ~ Exp(1)."""
    t = alpha * v
    log_magnitude = _cms_log_magnitude(v, log_w, tf.math.log(tf.cos(v)), t, alpha, tf.math.log(scale))
    return tf.sin(t) * tf.exp(log_magnitude)


def _cms_inputs(shape, seed, dtype):
    """V ~ U(-h, h) with h just below pi/2 (so cos V > 0 in dtype), and log W for W ~ Exp(1).

    W = -log U with U ~ U[tiny, 1), so 0 < W < inf and log W is finite.
    """
    v_seed, w_seed = tfp.random.split_seed(seed, n=2)
    edge = 1e-15 if dtype == tf.float64 else 1e-7
    half_width = tf.constant(np.pi / 2 * (1 - edge), dtype)
    v = tf.random.stateless_uniform(
        shape, seed=v_seed, minval=-half_width, maxval=half_width, dtype=dtype, alg="philox"
    )
    tiny = np.finfo(dtype.as_numpy_dtype).tiny
    u = tf.random.stateless_uniform(shape, seed=w_seed, minval=tiny, maxval=1.0, dtype=dtype, alg="philox")
    return v, tf.math.log(-tf.math.log(u))


def _cms_log_magnitude(v, log_w, log_cos_v, t, alpha, log_gain):
    """log(|Z| / |sin t|) in Chambers-Mallows-Stuck with t = alpha (V + B):

        log_gain - log(cos V) / alpha + ((1 - alpha) / alpha) (log cos(V - t) - log W).

    One exp of this replaces the powers cos(V)^(-1/alpha) and (cos(V - t) / W)^((1 - alpha)/alpha): pow is
    not vectorized on CPU (about 20x slower per element than exp or log here), and the rounding error of
    exp of a sum of logs, a few units in the last place times |log magnitude|, is far below the resolution
    of V and W. cos(V - t) > 0 for alpha != 1 (Weron 1996); at alpha = 1 its factor (1 - alpha) is 0.
    """
    log_tail = tf.math.log(tf.cos(v - t)) - log_w
    return log_gain - log_cos_v / alpha + ((1.0 - alpha) / alpha) * log_tail


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
        ValueError: if ``parameterization`` is not "S0" or "S1", or a concrete parameter is out of range
            (alpha outside (0, 2], beta outside [-1, 1], scale not finite and > 0, loc not finite).

    References:
        Chambers, Mallows & Stuck (1976), JASA 71. Weron (1996), Statist. Probab. Lett. 28.
        Nolan (2020), Univariate Stable Distributions, Springer, Theorem 3.3.
    """
    if parameterization not in ("S0", "S1"):
        raise ValueError(
            "parameterization must be 'S0' or 'S1' (as in scipy.stats.levy_stable), "
            f"got {parameterization!r}."
        )
    _checks.sample_shape(shape)
    _checks.stable_alpha(alpha)
    _checks.stable_beta(beta)
    _checks.stable_scale(scale)
    _checks.finite_values(loc, "loc")
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


def _stable_draw(shape, alpha, beta, scale, loc, parameterization, seed, dtype):
    """S0 or S1 (alpha, beta, scale, loc) draws computed in ``dtype`` (the parameters already in it)."""
    v, log_w = _cms_inputs(shape, seed, dtype)
    return _stable_from_inputs(v, log_w, alpha, beta, scale, loc, parameterization)


def _stable_from_inputs(v, log_w, alpha, beta, scale, loc, parameterization):
    """Chambers-Mallows-Stuck map from V ~ U(-pi/2, pi/2) and log W (W ~ Exp(1)), in v's dtype."""
    half_pi = np.pi / 2
    one = tf.equal(alpha, 1.0)
    a = tf.where(one, tf.ones_like(alpha) * 0.5, alpha)  # safe alpha for the alpha != 1 formula
    zeta = beta * tf.tan(half_pi * a)  # S0 = S1 - zeta; the CMS factor is S = (1 + zeta^2)^(1/(2 alpha))
    if parameterization == "S0":
        offset = loc - tf.where(one, tf.zeros_like(zeta), scale * zeta)
    else:
        offset = loc + tf.where(one, (2.0 / np.pi) * beta * scale * tf.math.log(scale), tf.zeros_like(zeta))
    cos_v = tf.cos(v)
    log_cos_v = tf.math.log(cos_v)
    t = a * v + tf.atan(zeta)  # alpha (V + B), B = arctan(zeta) / alpha
    log_gain = tf.math.log(scale) + tf.math.log1p(tf.square(zeta)) / (2.0 * a)  # log(scale S)
    not_one = tf.sin(t) * tf.exp(_cms_log_magnitude(v, log_w, log_cos_v, t, a, log_gain)) + offset

    def with_alpha_one():
        # Z1 = (2/pi) [(pi/2 + beta V) tan V - beta log((pi/2) W cos V / (pi/2 + beta V))]
        bv = half_pi + beta * v
        log_ratio = np.log(half_pi) + log_w + log_cos_v - tf.math.log(bv)
        z1 = (bv * tf.sin(v) / cos_v - beta * log_ratio) / half_pi
        return tf.where(one, scale * z1 + offset, not_one)

    # The alpha = 1 formula is evaluated only when some alpha equals 1.
    return tf.cond(tf.reduce_any(one), with_alpha_one, lambda: tf.broadcast_to(not_one, tf.shape(not_one)))
