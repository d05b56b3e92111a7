"""Increments of a coordinate-wise symmetric alpha-stable Levy process.

A standard alpha-stable Levy process L_t in R^d with independent coordinates has independent, stationary
increments L_{t+dt} - L_t = dt^(1/alpha) S, S with iid SaS(1) coordinates (E exp(iuS_j) = exp(-|u|^alpha),
the DESIGN.md convention). This is the noise of the Euler-Maruyama scheme
X_{k+1} = X_k + b(X_k) dt + G dL_k used everywhere in tfescape.sde.

Two samplers:

* ``levy_increments(shape, ...)``: any shape, from tfescape.stable's Chambers-Mallows-Stuck sampler.
* ``levy_increment_grid(seed, first_step=k, num_steps=C, num_slots=B, dim=d, ...)``: the increments of
  steps k .. k + C - 1 for B simulation slots, each entry a pure function of (seed, step, slot,
  coordinate), so any block of the grid can be drawn on its own (by chunks of steps, by groups of slots)
  and gives the same numbers. The bits are Philox-4x32-10 (Salmon et al. 2011) with counter
  (block, step, 0, 0) and the seed as key, written in plain TensorFlow integer ops; the transform is
  Chambers-Mallows-Stuck with polynomial sines. Both compile to one fused loop under XLA, where this
  is several times faster than TensorFlow's stateless random ops (which XLA's CPU backend implements
  slowly); first_exit_times draws its noise this way.

References:
    Janicki & Weron (1994), Simulation and Chaotic Behavior of alpha-Stable Stochastic Processes.
    Chambers, Mallows & Stuck (1976), A method for simulating stable random variables. JASA 71.
    Salmon, Moraes, Dror & Shaw (2011), Parallel random numbers: as easy as 1, 2, 3. SC'11.
"""

from __future__ import annotations

import math

import tensorflow as tf

from tfescape._seeds import sanitize_seed as stateless_seed
from tfescape.stable.sampling import symmetric_stable_sample

__all__ = [
    "levy_increment_grid",
    "levy_increments",
    "philox4x32",
    "stateless_seed",
    "validate_alpha",
    "validate_dt",
]


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


_PHILOX_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
_PHILOX_KEY_BUMPS = (0x9E3779B9, 0xBB67AE85)


def _mul_hi_lo(a, multiplier):
    """(high, low) 32-bit halves of the 64-bit product a * multiplier, for uint32 a."""
    product = tf.cast(a, tf.uint64) * tf.constant(multiplier, tf.uint64)
    return tf.cast(tf.bitwise.right_shift(product, tf.constant(32, tf.uint64)), tf.uint32), tf.cast(
        product, tf.uint32
    )


def philox4x32(counter, key, *, rounds: int = 10):
    """The Philox-4x32 block function (Salmon et al. 2011): four uint32 words from a counter and a key.

    Args:
        counter: four uint32 tensors of one shape (the 128-bit counter, low word first).
        key: two uint32 tensors broadcastable to that shape (the 64-bit key, low word first).
        rounds: number of rounds (10, the standard Philox-4x32-10).

    Returns:
        A tuple of four uint32 tensors, the output block.
    """
    c0, c1, c2, c3 = counter
    k0, k1 = key
    xor = tf.bitwise.bitwise_xor
    for r in range(rounds):
        if r:
            k0 = k0 + tf.constant(_PHILOX_KEY_BUMPS[0], tf.uint32)
            k1 = k1 + tf.constant(_PHILOX_KEY_BUMPS[1], tf.uint32)
        hi0, lo0 = _mul_hi_lo(c0, _PHILOX_MULTIPLIERS[0])
        hi1, lo1 = _mul_hi_lo(c2, _PHILOX_MULTIPLIERS[1])
        c0, c1, c2, c3 = xor(xor(hi1, c1), k0), lo1, xor(xor(hi0, c3), k1), lo0
    return c0, c1, c2, c3


def _shift_right(words, bits):
    return tf.bitwise.right_shift(words, tf.constant(bits, tf.uint32))


def _open_uniform_32(words, dtype):
    """U(0, 1) on the grid (m + 1/2) 2^-23 from the top 23 bits: exact in float32, never 0 or 1."""
    return (tf.cast(_shift_right(words, 9), dtype) + 0.5) * (2.0**-23)


def _open_uniform_64(high, low):
    """U(0, 1) on the grid (m + 1/2) 2^-52 from 26 + 26 bits: exact in float64, never 0 or 1."""
    m = tf.cast(_shift_right(high, 6), tf.float64) * 2.0**26 + tf.cast(_shift_right(low, 6), tf.float64)
    return (m + 0.5) * (2.0**-52)


def _sin_coefficients(dtype) -> list[float]:
    """Taylor coefficients of sin(x)/x in x^2; truncation < 1e-9 (float32), 2e-18 (float64) on [0, pi/2]."""
    terms = 7 if dtype == tf.float32 else 11
    return [(-1) ** k / math.factorial(2 * k + 1) for k in range(terms)]


def _sin_0_to_half_pi(x):
    """sin x for x in [0, pi/2] by a polynomial (fuses and vectorizes under XLA, unlike tf.sin there)."""
    coefficients = _sin_coefficients(x.dtype)
    x2 = x * x
    poly = tf.constant(coefficients[-1], x.dtype)
    for c in coefficients[-2::-1]:
        poly = poly * x2 + c
    return poly * x


def _standard_sas_from_uniforms(u_angle, u_exp, alpha: float):
    """SaS(alpha, 1) by Chambers-Mallows-Stuck from two open uniforms, with accurate tails.

    X = sin(alpha V) / cos(V)^(1/alpha) (cos((1 - alpha) V) / W)^((1 - alpha)/alpha) with
    V = pi (u_angle - 1/2), W = -log(u_exp). The sines and cosines are written as sines of arguments in
    [0, pi/2] computed from m = min(u, 1 - u) (exact), so that cos V = sin(pi m) keeps full relative
    precision where it vanishes (the heavy tail).
    """
    dtype = u_angle.dtype
    pi = math.pi
    m = tf.minimum(u_angle, 1.0 - u_angle)
    sign = tf.where(u_angle < 0.5, tf.constant(-1.0, dtype), tf.constant(1.0, dtype))
    centre = 0.5 - m  # |V| / pi
    cos_v = _sin_0_to_half_pi(pi * m)
    # |alpha V| = alpha pi centre; beyond pi/2 use sin(pi - |alpha V|) = sin(pi ((1 - alpha/2) + alpha m)).
    near = alpha * pi * centre
    far = pi * ((1.0 - alpha / 2.0) + alpha * m)
    sin_av = sign * _sin_0_to_half_pi(tf.where(near <= pi / 2, near, far))
    # cos((1 - alpha) V) = sin(pi (1/2 - |1 - alpha| centre)) = sin(pi ((1 - c)/2 + c m)), c = |1 - alpha|.
    c = abs(1.0 - alpha)
    cos_bv = _sin_0_to_half_pi(pi * ((1.0 - c) / 2.0 + c * m))
    w = -tf.math.log(u_exp)
    log_magnitude = ((1.0 - alpha) * tf.math.log(cos_bv / w) - tf.math.log(cos_v)) / alpha
    return sin_av * tf.exp(log_magnitude)


def _seed_key(seed):
    words = tf.bitcast(tf.cast(seed, tf.int32), tf.uint32)
    return words[0], words[1]


def levy_increment_grid(
    seed,
    *,
    first_step,
    num_steps: int,
    first_slot: int = 0,
    num_slots: int,
    dim: int,
    alpha,
    dt,
    dtype=tf.float32,
) -> tf.Tensor:
    """Increments dL[k, s, i] = dt^(1/alpha) S[k, s, i] of steps k, slots s and coordinates i.

    S[k, s, i] are iid SaS(alpha, 1), each a pure function of (seed, k, s, i): the entry of flat index
    e = s dim + i at step k comes from the Philox-4x32-10 block with counter (e // 2, k, 0, 0) (float32:
    two draws per block) or (e, k, 0, 0) (float64: one draw per block) and key ``seed``. Any sub-block of
    the grid is therefore drawn identically on its own. Pure TensorFlow ops: eager, tf.function and XLA
    give the same draws up to float rounding.

    Args:
        seed: shape-[2] integer stateless seed tensor (e.g. from ``stateless_seed``).
        first_step: index k of the first step (int or int32 scalar tensor), 0 <= k < 2^31.
        num_steps: number of steps C.
        first_slot: index of the first slot.
        num_slots: number of slots B.
        dim: number of coordinates d.
        alpha: tail index in (0, 2].
        dt: time step > 0.
        dtype: float32 or float64.

    Returns:
        Tensor [num_steps, num_slots, dim] of ``dtype``.

    Raises:
        ValueError: alpha outside (0, 2], dt <= 0, or a bad size or dtype.

    Example:
        >>> seed = stateless_seed(0, salt="example")
        >>> dl = levy_increment_grid(seed, first_step=0, num_steps=64, num_slots=1000, dim=2, alpha=1.5,
        ...                          dt=1e-2)
    """
    alpha = validate_alpha(alpha)
    scale = validate_dt(dt) ** (1.0 / alpha)
    dtype = tf.as_dtype(dtype)
    if dtype not in (tf.float32, tf.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype.name}.")
    for name, value in (("num_steps", num_steps), ("num_slots", num_slots), ("dim", dim)):
        if int(value) != value or int(value) < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if int(first_slot) != first_slot or first_slot < 0:
        raise ValueError(f"first_slot must be an integer >= 0, got {first_slot!r}.")
    flat = _flat_increment_grid(
        seed,
        first_step=first_step,
        num_steps=int(num_steps),
        index=tf.range(int(first_slot) * int(dim), (int(first_slot) + int(num_slots)) * int(dim)),
        alpha=alpha,
        scale=scale,
        dtype=dtype,
    )
    return tf.reshape(flat, [int(num_steps), int(num_slots), int(dim)])


def _flat_increment_grid(seed, *, first_step, num_steps, index, alpha, scale, dtype):
    """levy_increment_grid at the flat indices ``index`` (e = s dim + i, int32 [count]): [num_steps, count].

    Every entry is computed on its own from its (step, e): one elementwise expression that XLA fuses
    into a single loop, vectorized along e (a trailing axis of length dim would not vectorize, and
    materializing the four Philox words to split them costs more than the duplicated rounds).
    """
    per_block = 2 if dtype == tf.float32 else 1
    index = tf.cast(index, tf.uint32)[None, :]
    step = tf.cast(tf.cast(first_step, tf.int32) + tf.range(num_steps), tf.uint32)[:, None]
    zero = tf.zeros([num_steps, tf.shape(index)[1]], tf.uint32)
    block = _shift_right(index, per_block - 1) + zero
    w0, w1, w2, w3 = philox4x32((block, step + zero, zero, zero), _seed_key(seed))
    if dtype == tf.float32:
        even = tf.equal(tf.bitwise.bitwise_and(index, tf.constant(1, tf.uint32)), 0) | tf.equal(zero, 1)
        u_angle = _open_uniform_32(tf.where(even, w0, w2), dtype)
        u_exp = _open_uniform_32(tf.where(even, w1, w3), dtype)
    else:
        u_angle, u_exp = _open_uniform_64(w0, w1), _open_uniform_64(w2, w3)
    return _standard_sas_from_uniforms(u_angle, u_exp, alpha) * scale
