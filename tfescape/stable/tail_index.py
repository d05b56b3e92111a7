"""Tail-index (alpha) estimators for symmetric alpha-stable data, batched and tf.function-ready.

``tail_index(x)`` estimates one alpha per slice ``x[..., :]`` (the last axis holds the samples, leading axes
are a batch: one alpha per layer in one call). Four methods:

- ``"mohammadi"`` (default): the block-sum estimator of Mohammadi, Mohammadpour & Ogata (2015),
  Corollary 2.4, used by Simsekli et al. (2019) and Zhou et al. (2020). With n = K1 * K2 samples split into
  K2 consecutive blocks of K1 samples and Y_i the block sums,

      1/alpha_hat = (1/log K1) * ( (1/K2) sum_i log|Y_i| - (1/n) sum_j log|X_j| ).

  It rests on the stability identity Y =d K1^(1/alpha) X, so E log|Y| - E log|X| = (1/alpha) log K1 and the
  estimate of 1/alpha is unbiased for exactly stable data.
  Write D_i = log|Y_i| - mean_{j in block i} log|X_j|;
  then 1/alpha_hat = mean_i D_i / log K1, and the D_i are iid across blocks, which gives a plug-in asymptotic
  interval (normal approximation to mean_i D_i) and a cheap block bootstrap.
- ``"mohammadi_order"``: the order-statistics form of the same identity: |Y| =d K1^(1/alpha) |X| means every
  quantile of log|Y| is the matching quantile of log|X| plus (1/alpha) log K1. The estimate averages the
  differences between the central half of the order statistics of log|Y| (orders with plotting positions
  (i + 1/2)/K2 in [1/4, 3/4]) and the log|X| order statistics at the same positions, divided by log K1. It
  is robust to a few wild values and to exact zeros outside the central half.
- ``"hill"``: Hill's estimator on |x| with k = max(10, floor(sqrt(n))) upper order statistics (override with
  ``k=``): 1/alpha_hat = (1/k) sum_{i<k} log(|x|_(i) / |x|_(k)), descending order. Stable tails are
  Pareto only far out (P(|X| > t) = C t^-alpha (1 + O(t^-alpha))), so Hill is biased upward for alpha
  above about 1.5 unless n is very large; it is here as the classical reference.
- ``"ecf_regression"``: the characteristic-function log-log regression. For SaS(alpha, s),
  log(-log|phi(u)|) = alpha log u + alpha log s, so the slope of log(-log|phi_hat(u)|) against log u is
  alpha. Data are centered at the median and divided by the median absolute deviation first; the grid is
  24 log-spaced points u in [0.05, 5]; points with |phi_hat| below max(0.2, 2/sqrt(n)) (noise) or above
  1 - 1e-6 are dropped and the rest weighted by the delta-method inverse variance
  2 n |phi|^2 log(|phi|)^2 / (1 - |phi|^2) (weighted least squares).

Reported alpha and interval ends are clipped into (0, 2]: an estimate of 1/alpha at or below 1/2 (data
lighter tailed than a Gaussian, or sampling noise near alpha = 2) is reported as alpha = 2.

Intervals: ``interval="bootstrap"`` (percentile bootstrap; for the block methods the blocks are resampled,
for the others the samples; stateless seeds), ``"asymptotic"`` (normal approximation; "mohammadi" and
"hill" only) or ``"none"``.

Bad input raises ValueError (eagerly) naming what was wrong and what to do: NaN/inf, constant slices, too
few samples for the block size or k, exact zeros (for the two Mohammadi methods, whose logs they break),
parameters out of range. Inside tf.function, checks on values of symbolic tensors become
tf.debugging assertions that raise tf.errors.InvalidArgumentError with the same message when run.

References:
    Mohammadi, Mohammadpour & Ogata (2015), On estimating the tail index and the spectral measure of
        multivariate alpha-stable distributions. Metrika 78, 549-561.
    Simsekli, Sagun & Gurbuzbalaban (2019), A tail-index analysis of stochastic gradient noise in deep
        neural networks. ICML.
    Zhou, Feng, Ma, Xiong, Hoi & E (2020), Towards theoretically understanding why SGD generalizes better
        than Adam in deep learning. NeurIPS.
    Hill (1975), A simple general approach to inference about the tail of a distribution. Ann. Statist. 3.
    Koutrouvelis (1980), Regression-type estimation of the parameters of stable laws. JASA 75.
"""

from __future__ import annotations

import dataclasses
import math
import statistics

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfescape import _checks
from tfescape._seeds import sanitize_seed

INTERVALS = ("bootstrap", "asymptotic", "none")
_ASYMPTOTIC_METHODS = ("mohammadi", "hill")
_BLOCK_METHODS = ("mohammadi", "mohammadi_order")
_DEFAULT_NUM_BOOTSTRAP = {"mohammadi": 1000, "mohammadi_order": 200, "hill": 200, "ecf_regression": 200}
_ECF_GRID = np.geomspace(0.05, 5.0, 24)
# Points with |phi_hat| below this are dropped from the ECF regression: there log(-log|phi|) is dominated by
# noise that the delta-method weights understate (measured: alpha RMSE at n = 1000 and alpha = 1.9 drops
# from 0.059 to 0.035 against a floor of 2/sqrt(n)).
ECF_MIN_MODULUS = 0.2
_MAX_ALPHA = 2.0


@dataclasses.dataclass(frozen=True)
class TailIndexResult:
    """Estimated tail index with a confidence interval.

    Attributes:
        alpha: Tensor of shape ``x.shape[:-1]`` (the batch shape), in (0, 2].
        ci_low: lower interval end, same shape, or None when ``interval == "none"``.
        ci_high: upper interval end, same shape, or None when ``interval == "none"``.
        interval: "bootstrap", "asymptotic" or "none".
        method: the estimator's name (see ``METHODS``).
        num_samples: n, the length of the last axis of the input (or the number of samples streamed).
        block_size: K1 for the block methods (the estimate uses the first K1 * floor(n / K1) samples),
            k (the number of upper order statistics) for "hill", None for "ecf_regression".
        confidence: the interval's nominal coverage.

    The class follows TensorFlow's nest protocol, so it can be returned from a tf.function.
    """

    alpha: tf.Tensor
    ci_low: tf.Tensor | None
    ci_high: tf.Tensor | None
    interval: str
    method: str
    num_samples: int
    block_size: int | None
    confidence: float

    def __tf_flatten__(self):
        metadata = (
            self.interval,
            self.method,
            self.num_samples,
            self.block_size,
            self.confidence,
            self.ci_low is None,
        )
        components = (self.alpha,) if self.ci_low is None else (self.alpha, self.ci_low, self.ci_high)
        return metadata, components

    @classmethod
    def __tf_unflatten__(cls, metadata, components):
        interval, method, num_samples, block_size, confidence, no_ci = metadata
        alpha = components[0]
        ci_low, ci_high = (None, None) if no_ci else (components[1], components[2])
        return cls(alpha, ci_low, ci_high, interval, method, num_samples, block_size, confidence)


# ----------------------------------------------------------------------------------------------------------
# Checks


def _require(condition, message: str) -> list:
    """Raise ValueError(message) eagerly when ``condition`` (a bool tensor) is false; in graphs, assert.

    Returns the list of assertion ops to use as control dependencies (empty when eager).
    """
    if tf.executing_eagerly():
        if not bool(tf.reduce_all(condition)):
            raise ValueError(message)
        return []
    return [tf.debugging.Assert(tf.reduce_all(condition), [message])]


def default_block_size(n: int) -> int:
    """The default Mohammadi block size: K1 = floor(sqrt(n)) (so K2 = floor(n / K1) >= K1 blocks).

    This is the balanced choice of the reference implementations (K1 ~ K2 ~ sqrt(n)). For exactly stable
    data a small K1 (around 8) has lower variance, but large blocks make the block sums closer to stable
    when the data are only in a stable law's domain of attraction, as gradient noise is.
    """
    return max(2, math.isqrt(int(n)))


def default_hill_k(n: int) -> int:
    """The default number of upper order statistics for Hill: k = max(10, floor(sqrt(n))), at most n - 1."""
    return min(int(n) - 1, max(10, math.isqrt(int(n))))


def validate_samples(x: tf.Tensor, *, name: str, allow_zeros: bool) -> tf.Tensor:
    """Check ``x`` ([..., n]) for NaN/inf, constant slices and (optionally) exact zeros.

    Returns ``x`` (with the checks as control dependencies in graph mode).

    Raises:
        ValueError: eagerly, on bad values (tf.errors.InvalidArgumentError inside tf.function).
    """
    finite = tf.reduce_all(tf.math.is_finite(x))
    ops = _require(
        finite,
        f"{name}: x contains NaN or inf; remove non-finite values (e.g. x[np.isfinite(x)]) or fix the "
        "computation that produced them before estimating the tail index.",
    )
    spread = tf.reduce_max(x, axis=-1) - tf.reduce_min(x, axis=-1)
    ops += _require(
        spread > 0,
        f"{name}: x is constant along its last axis (in at least one batch slice), so it has no tail to "
        "measure; pass samples that vary (check that the noise was not zeroed or detached).",
    )
    if not allow_zeros:
        ops += _require(
            tf.reduce_all(tf.not_equal(x, 0)),
            f"{name}: x contains exact zeros, whose log is -inf; drop them first (x[x != 0]), e.g. "
            "coordinates whose gradient is always zero, or use method='hill' or 'ecf_regression'.",
        )
    if ops:
        with tf.control_dependencies(ops):
            x = tf.identity(x)
    return x


def _static_num_samples(x: tf.Tensor, name: str) -> int:
    if x.shape.rank is None or x.shape.rank == 0:
        raise ValueError(
            f"{name}: x must have shape [..., n] with samples on the last axis; got a scalar "
            "or unknown rank. Pass a 1-D vector of samples or a batch of them."
        )
    n = x.shape[-1]
    if n is None:
        raise ValueError(
            f"{name}: the number of samples (last axis of x) must be known statically; inside "
            "tf.function give an input_signature with a fixed last dimension."
        )
    return int(n)


def _as_float(x) -> tf.Tensor:
    _checks.real_dtype(x, "x")
    x = tf.convert_to_tensor(x)
    if x.dtype not in (tf.float32, tf.float64):
        x = tf.cast(x, tf.float32)
    return x


def _check_options(method, interval, confidence, num_bootstrap):
    if method not in _ESTIMATORS:
        raise ValueError(f"tail_index: unknown method {method!r}; choose one of {METHODS}.")
    if interval not in INTERVALS:
        raise ValueError(f"tail_index: unknown interval {interval!r}; choose one of {INTERVALS}.")
    if interval == "asymptotic" and method not in _ASYMPTOTIC_METHODS:
        raise ValueError(
            f"tail_index: method {method!r} has no asymptotic interval here; use "
            f"interval='bootstrap' (or a method among {_ASYMPTOTIC_METHODS})."
        )
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"tail_index: confidence must lie in (0, 1), got {confidence}; e.g. 0.95.")
    if num_bootstrap is not None and (int(num_bootstrap) != num_bootstrap or num_bootstrap < 20):
        raise ValueError(
            f"tail_index: num_bootstrap must be an integer >= 20, got {num_bootstrap}; "
            "use a few hundred or more for a 95% interval."
        )


def check_block_size(n: int, block_size, *, name: str = "tail_index") -> int:
    """Return the block size K1 (default rule when None), checking that at least 2 blocks fit in n."""
    k1 = default_block_size(n) if block_size is None else block_size
    if int(k1) != k1 or k1 < 2:
        raise ValueError(f"{name}: block_size must be an integer >= 2, got {block_size}.")
    k1 = int(k1)
    if n < 2 * k1:
        raise ValueError(
            f"{name}: too few samples for the block size: n={n} samples give fewer than 2 blocks of "
            f"block_size={k1}; pass at least {2 * k1} samples, or a smaller block_size (>= 2)."
        )
    return k1


# ----------------------------------------------------------------------------------------------------------
# Estimators (pure functions of tensors; return an estimate of 1/alpha or of alpha)


def inverse_alpha_to_alpha(inv_alpha: tf.Tensor) -> tf.Tensor:
    """Map an estimate of 1/alpha to alpha in (0, 2]: alpha = 1 / max(1/alpha, 1/2)."""
    return 1.0 / tf.maximum(inv_alpha, tf.cast(1.0 / _MAX_ALPHA, inv_alpha.dtype))


def _clip_alpha(alpha: tf.Tensor) -> tf.Tensor:
    tiny = np.finfo(alpha.dtype.as_numpy_dtype).tiny
    return tf.clip_by_value(alpha, tf.cast(tiny, alpha.dtype), tf.cast(_MAX_ALPHA, alpha.dtype))


def mohammadi_block_statistics(x: tf.Tensor, block_size: int) -> tf.Tensor:
    """D_i = log|Y_i| - mean_{j in block i} log|X_j| for the K2 = floor(n / K1) complete blocks.

    Args:
        x: [..., n] samples; the trailing n - K1 * K2 samples are not used.
        block_size: K1.

    Returns:
        [..., K2] tensor; 1/alpha_hat = mean(D, -1) / log K1.
    """
    n = x.shape[-1]
    k2 = n // block_size
    used = x[..., : k2 * block_size]
    blocks = tf.reshape(used, tf.concat([tf.shape(x)[:-1], [k2, block_size]], axis=0))
    log_abs_sum = tf.math.log(tf.abs(tf.reduce_sum(blocks, axis=-1)))
    mean_log_abs = tf.reduce_mean(tf.math.log(tf.abs(blocks)), axis=-1)
    return log_abs_sum - mean_log_abs


def _blocks(x: tf.Tensor, block_size: int) -> tf.Tensor:
    k2 = x.shape[-1] // block_size
    used = x[..., : k2 * block_size]
    return tf.reshape(used, tf.concat([tf.shape(x)[:-1], [k2, block_size]], axis=0))


def _central_orders(k2: int, k1: int):
    """Orders i of log|Y| with (i + 1/2)/K2 in [1/4, 3/4] and the matching log|X| orders i K1 + K1 // 2."""
    orders = np.arange(k2)
    positions = (orders + 0.5) / k2
    central = orders[(positions >= 0.25) & (positions <= 0.75)]
    if central.size == 0:  # very few blocks: use the median order
        central = np.array([k2 // 2])
    return central, central * k1 + k1 // 2


def _mohammadi_order_inverse(blocks: tf.Tensor, *, seed=None, num_bootstrap: int = 0):
    """1/alpha from central matched order statistics of log|Y| and log|X|; blocks: [..., K2, K1].

    Returns the estimate ([...]) and, when num_bootstrap > 0, block-bootstrap replicates ([B, ...]). The
    bootstrap sorts once: a resample is a vector of block counts, and its order statistics are found by
    searching the cumulative counts along the full-sample sort order (no re-sorting per replicate).
    """
    k2, k1 = blocks.shape[-2], blocks.shape[-1]
    y_orders, x_orders = _central_orders(k2, k1)
    log_abs_y = tf.math.log(tf.abs(tf.reduce_sum(blocks, axis=-1)))
    flat_shape = tf.concat([tf.shape(blocks)[:-2], [k1 * k2]], axis=0)
    log_abs_x = tf.math.log(tf.abs(tf.reshape(blocks, flat_shape)))
    y_perm = tf.argsort(log_abs_y, axis=-1, stable=True)
    x_perm = tf.argsort(log_abs_x, axis=-1, stable=True)
    y_sorted = tf.gather(log_abs_y, y_perm, batch_dims=-1)
    x_sorted = tf.gather(log_abs_x, x_perm, batch_dims=-1)
    diff = tf.gather(y_sorted, y_orders, axis=-1) - tf.gather(x_sorted, x_orders, axis=-1)
    inv = tf.reduce_mean(diff, axis=-1) / math.log(k1)
    if not num_bootstrap:
        return inv, None
    x_block = x_perm // k1  # block of each sorted log|X|
    counts = _resample_counts(seed, num_bootstrap, k2, tf.int32)  # [B, K2]
    batch_shape = tf.shape(log_abs_y)[:-1]

    def order_statistic(sorted_values, unit_of_sorted, unit_counts, wanted):
        cumulative = tf.math.cumsum(tf.gather(unit_counts, unit_of_sorted), axis=-1)
        targets = tf.broadcast_to(tf.constant(wanted, tf.int32), tf.concat([batch_shape, [len(wanted)]], 0))
        where = tf.searchsorted(cumulative, targets, side="right")
        return tf.gather(sorted_values, where, batch_dims=-1)

    def one(unit_counts):
        y = order_statistic(y_sorted, y_perm, unit_counts, y_orders)
        x = order_statistic(x_sorted, x_block, unit_counts, x_orders)
        return tf.reduce_mean(y - x, axis=-1) / math.log(k1)

    replicates = tf.map_fn(one, counts, fn_output_signature=blocks.dtype, parallel_iterations=4)
    return inv, replicates


def _hill_inverse(x: tf.Tensor, k: int) -> tf.Tensor:
    """Hill's estimate of 1/alpha on |x| with k upper order statistics; x: [..., n]."""
    top = tf.math.top_k(tf.abs(x), k=k + 1, sorted=True).values  # descending
    log_top = tf.math.log(top)
    return tf.reduce_mean(log_top[..., :k] - log_top[..., k : k + 1], axis=-1)


def _median(x: tf.Tensor) -> tf.Tensor:
    return tfp.stats.percentile(x, 50.0, axis=-1, interpolation="midpoint")


def ecf_moments(x: tf.Tensor, grid=_ECF_GRID):
    """cos(u x) and sin(u x) on the grid: two [..., G, n] tensors (means over n: Re, Im of phi_hat(u))."""
    u = tf.constant(grid, x.dtype)
    ux = x[..., tf.newaxis, :] * u[:, tf.newaxis]
    return tf.cos(ux), tf.sin(ux)


def ecf_modulus_regression(re: tf.Tensor, im: tf.Tensor, n: int, grid=_ECF_GRID):
    """Weighted regression of log(-log|phi_hat(u)|) on log u.

    Args:
        re, im: [..., G] real and imaginary parts of the empirical characteristic function of standardized
            data (centered, order-one spread) on ``grid``.
        n: the number of samples behind phi_hat (sets the noise floor and the weights).
        grid: 1-D numpy array of the G values of u.

    Returns:
        (slope, intercept, total_weight), each [...]: slope estimates alpha, intercept alpha log s.
    """
    dtype = re.dtype
    modulus = tf.sqrt(re * re + im * im)
    usable = (modulus > max(ECF_MIN_MODULUS, 2.0 / math.sqrt(n))) & (modulus < 1.0 - 1e-6)
    safe = tf.where(usable, modulus, tf.constant(0.5, dtype))
    log_mod = tf.math.log(safe)
    weight = tf.where(usable, 2.0 * n * safe * safe * log_mod * log_mod / (1.0 - safe * safe), 0.0)
    t = tf.math.log(-log_mod)
    s = tf.math.log(tf.constant(grid, dtype))
    return _weighted_line(s, t, weight)


def _weighted_line(s, t, weight):
    """Weighted least-squares line t = slope * s + intercept along the last axis; returns slope, intercept."""
    total = tf.reduce_sum(weight, axis=-1)
    safe_total = tf.where(total > 0, total, tf.ones_like(total))
    s_mean = tf.reduce_sum(weight * s, axis=-1) / safe_total
    t_mean = tf.reduce_sum(weight * t, axis=-1) / safe_total
    ds = s - s_mean[..., tf.newaxis]
    dt = t - t_mean[..., tf.newaxis]
    sxx = tf.reduce_sum(weight * ds * ds, axis=-1)
    sxy = tf.reduce_sum(weight * ds * dt, axis=-1)
    slope = sxy / tf.where(sxx > 0, sxx, tf.ones_like(sxx))
    return slope, t_mean - slope * s_mean, total


def standardize_robustly(x: tf.Tensor) -> tf.Tensor:
    """(x - median) / median|x - median| along the last axis (MAD; about the scale s of a SaS law)."""
    center = _median(x)
    centered = x - center[..., tf.newaxis]
    mad = _median(tf.abs(centered))
    return centered / tf.where(mad > 0, mad, tf.ones_like(mad))[..., tf.newaxis]


def _ecf_alpha(x: tf.Tensor, *, seed=None, num_bootstrap: int = 0):
    """ECF-regression alpha ([...]) and, when num_bootstrap > 0, its bootstrap replicates ([B, ...]).

    The slope of log(-log|phi|) on log u does not depend on location or scale, so the bootstrap reuses the
    full-sample standardization and reweights the per-sample cos/sin terms by the resampling counts.
    """
    n = x.shape[-1]
    cos_ux, sin_ux = ecf_moments(standardize_robustly(x))
    slope, _, _ = ecf_modulus_regression(tf.reduce_mean(cos_ux, -1), tf.reduce_mean(sin_ux, -1), n)
    if not num_bootstrap:
        return _clip_alpha(slope), None
    counts = _resample_counts(seed, num_bootstrap, n, x.dtype)  # [B, n]
    re = tf.einsum("...gn,bn->b...g", cos_ux, counts) / n
    im = tf.einsum("...gn,bn->b...g", sin_ux, counts) / n
    boot_slope, _, _ = ecf_modulus_regression(re, im, n)
    return _clip_alpha(slope), _clip_alpha(boot_slope)


# ----------------------------------------------------------------------------------------------------------
# Intervals


def _percentile_interval(replicates: tf.Tensor, confidence: float):
    """Percentile interval along axis 0 of ``replicates`` ([B, ...])."""
    tail = 50.0 * (1.0 - confidence)
    low = tfp.stats.percentile(replicates, tail, axis=0, interpolation="linear")
    high = tfp.stats.percentile(replicates, 100.0 - tail, axis=0, interpolation="linear")
    return low, high


def _resample_counts(seed, num_bootstrap: int, m: int, dtype) -> tf.Tensor:
    """[B, m] multinomial counts: how often each of m units appears in each bootstrap resample."""
    index = tf.random.stateless_uniform([num_bootstrap, m], seed=seed, minval=0, maxval=m, dtype=tf.int32)
    return tf.cast(tf.math.bincount(index, minlength=m, maxlength=m, axis=-1), dtype)


def _bootstrap_over_units(stat_fn, units: tf.Tensor, *, seed, num_bootstrap: int) -> tf.Tensor:
    """Replicates of stat_fn(resampled units); units: [..., m, ...] resampled along axis ``-2``.

    Units are the last-but-one axis for blocks ([..., K2, K1]); raw samples are passed as [..., n, 1].
    Returns [B, ...].
    """
    m = units.shape[-2]
    seeds = tf.random.experimental.stateless_split(seed, num=num_bootstrap)  # [B, 2]

    def one(replicate_seed):
        index = tf.random.stateless_uniform([m], seed=replicate_seed, minval=0, maxval=m, dtype=tf.int32)
        return stat_fn(tf.gather(units, index, axis=-2))

    out_dtype = units.dtype
    return tf.map_fn(one, seeds, fn_output_signature=out_dtype, parallel_iterations=4)


# ----------------------------------------------------------------------------------------------------------
# Public entry point


def tail_index(
    x,
    *,
    method: str = "mohammadi",
    block_size: int | None = None,
    k: int | None = None,
    confidence: float = 0.95,
    interval: str = "bootstrap",
    num_bootstrap: int | None = None,
    seed=None,
) -> TailIndexResult:
    """Estimate the tail index alpha of SaS samples, one per slice of the leading axes.

    Args:
        x: array or Tensor of shape [..., n]; the last axis holds the samples (n static), leading axes are
            a batch (e.g. one row per layer). Integers are cast to float32; float64 stays float64.
        method: "mohammadi" (block sums, default), "mohammadi_order", "hill" or "ecf_regression"
            (see the module docstring for each formula).
        block_size: K1 for the Mohammadi methods; default floor(sqrt(n)) (``default_block_size``). The
            estimate uses the first K1 * floor(n / K1) samples and needs at least 2 blocks.
        k: number of upper order statistics for "hill"; default max(10, floor(sqrt(n))).
        confidence: nominal coverage of the interval, in (0, 1).
        interval: "bootstrap" (percentile; blocks are resampled for the block methods), "asymptotic"
            (normal approximation on 1/alpha: plug-in standard deviation of the block statistics D_i for
            "mohammadi", alpha / sqrt(k) for "hill") or "none".
        num_bootstrap: number of bootstrap resamples; default 1000 for "mohammadi" (one matrix product),
            200 for the others (each resample reruns the estimator).
        seed: None, an int (reproducible: the same int gives the same interval) or a stateless seed
            (shape-[2] int Tensor); used by the bootstrap only (stateless draws).

    Returns:
        TailIndexResult with alpha, ci_low, ci_high of shape x.shape[:-1], clipped into (0, 2].

    Raises:
        ValueError: bad options, too few samples, NaN/inf, constant slices, or exact zeros for the
            Mohammadi methods. Inside tf.function, value checks raise tf.errors.InvalidArgumentError.

    Example:
        >>> x = symmetric_stable_sample([4, 100_000], 1.5, seed=1)
        >>> result = tail_index(x, seed=2)  # result.alpha has shape [4], close to 1.5
    """
    _check_options(method, interval, confidence, num_bootstrap)
    x = _as_float(x)
    n = _static_num_samples(x, "tail_index")
    name = f"tail_index(method={method!r})"
    confidence = float(confidence)
    num_bootstrap = int(num_bootstrap or _DEFAULT_NUM_BOOTSTRAP[method])
    if method in _BLOCK_METHODS:
        size = check_block_size(n, block_size, name=name)
    elif method == "hill":
        size = default_hill_k(n) if k is None else k
        if int(size) != size or not 2 <= size < n:
            raise ValueError(
                f"{name}: needs 2 <= k < n upper order statistics, got k={k} for n={n}; pass "
                "more samples (n >= 3) or a smaller k."
            )
        size = int(size)
    else:
        size = None
        if n < 16:
            raise ValueError(
                f"{name}: needs at least 16 samples to estimate a characteristic function, got "
                f"n={n}; pass more samples."
            )
    x = validate_samples(x, name=name, allow_zeros=method not in _BLOCK_METHODS)
    z_value = statistics.NormalDist().inv_cdf(0.5 + confidence / 2.0)

    alpha, ci_low, ci_high = _ESTIMATORS[method](
        x,
        size=size,
        interval=interval,
        confidence=confidence,
        z_value=z_value,
        seed=seed,
        num_bootstrap=num_bootstrap,
    )
    return TailIndexResult(
        alpha=alpha,
        ci_low=ci_low,
        ci_high=ci_high,
        interval=interval,
        method=method,
        num_samples=n,
        block_size=size,
        confidence=confidence,
    )


# ---------------------------------------- one estimator per method; each returns (alpha, ci_low, ci_high)


def _estimate_mohammadi(x, *, size, interval, confidence, z_value, seed, num_bootstrap):
    d = mohammadi_block_statistics(x, size)
    log_k1 = math.log(size)
    inv = tf.reduce_mean(d, axis=-1) / log_k1
    ci_low = ci_high = None
    if interval == "asymptotic":
        ci_low, ci_high = mohammadi_asymptotic_interval(inv, d, log_k1, z_value)
    elif interval == "bootstrap":
        seed = sanitize_seed(seed, salt="tail_index_mohammadi")
        counts = _resample_counts(seed, num_bootstrap, d.shape[-1], d.dtype)  # [B, K2]
        inv_boot = tf.einsum("...k,bk->b...", d, counts) / (d.shape[-1] * log_k1)
        ci_low, ci_high = _percentile_interval(inverse_alpha_to_alpha(inv_boot), confidence)
    return inverse_alpha_to_alpha(inv), ci_low, ci_high


def _estimate_mohammadi_order(x, *, size, interval, confidence, z_value, seed, num_bootstrap):
    if interval == "bootstrap":
        seed = sanitize_seed(seed, salt="tail_index_mohammadi_order")
        inv, reps = _mohammadi_order_inverse(_blocks(x, size), seed=seed, num_bootstrap=num_bootstrap)
        low, high = _percentile_interval(inverse_alpha_to_alpha(reps), confidence)
        return inverse_alpha_to_alpha(inv), low, high
    inv, _ = _mohammadi_order_inverse(_blocks(x, size))
    return inverse_alpha_to_alpha(inv), None, None


def _estimate_hill(x, *, size, interval, confidence, z_value, seed, num_bootstrap):
    inv = _hill_inverse(x, size)
    ci_low = ci_high = None
    if interval == "asymptotic":
        half = z_value * inv / math.sqrt(size)
        ci_low, ci_high = inverse_alpha_to_alpha(inv + half), inverse_alpha_to_alpha(inv - half)
    elif interval == "bootstrap":
        seed = sanitize_seed(seed, salt="tail_index_hill")
        reps = _bootstrap_over_units(
            lambda u: inverse_alpha_to_alpha(_hill_inverse(u[..., 0], size)),
            x[..., tf.newaxis],
            seed=seed,
            num_bootstrap=num_bootstrap,
        )
        ci_low, ci_high = _percentile_interval(reps, confidence)
    return inverse_alpha_to_alpha(inv), ci_low, ci_high


def _estimate_ecf(x, *, size, interval, confidence, z_value, seed, num_bootstrap):
    if interval == "bootstrap":
        seed = sanitize_seed(seed, salt="tail_index_ecf")
        alpha, reps = _ecf_alpha(x, seed=seed, num_bootstrap=num_bootstrap)
        low, high = _percentile_interval(reps, confidence)
        return alpha, low, high
    alpha, _ = _ecf_alpha(x)
    return alpha, None, None


_ESTIMATORS = {
    "mohammadi": _estimate_mohammadi,
    "mohammadi_order": _estimate_mohammadi_order,
    "hill": _estimate_hill,
    "ecf_regression": _estimate_ecf,
}
"""The tail-index estimators by name: ``METHODS`` is this table's keys."""

METHODS = tuple(_ESTIMATORS)


def mohammadi_asymptotic_interval(inv_alpha, d, log_k1: float, z_value: float):
    """Normal interval for 1/alpha from the block statistics D_i ([..., K2]), mapped to alpha.

    se(1/alpha_hat) = std(D_i) / (sqrt(K2) log K1) (sample standard deviation, ddof = 1).
    """
    k2 = d.shape[-1]
    centered = d - tf.reduce_mean(d, axis=-1, keepdims=True)
    std = tf.sqrt(tf.reduce_sum(centered * centered, axis=-1) / (k2 - 1))
    half = z_value * std / (math.sqrt(k2) * log_k1)
    return inverse_alpha_to_alpha(inv_alpha + half), inverse_alpha_to_alpha(inv_alpha - half)
