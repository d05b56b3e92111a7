"""Fit all four parameters of a stable law (Nolan's S0): quantiles, characteristic-function regression, MLE.

``fit(x)`` returns one (alpha, beta, scale, loc) per slice ``x[..., :]`` (samples on the last axis, leading
axes batched), as a frozen ``StableFit``. Methods:

- ``"quantile"``: McCulloch (1986). From five sample quantiles q05, q25, q50, q75, q95,
  nu_alpha = (q95 - q05) / (q75 - q25) and nu_beta = (q95 + q05 - 2 q50) / (q95 - q05) are
  (nearly) functions of alpha and beta only; the paper's Tables III and IV invert them:
  alpha = psi1(nu_alpha, nu_beta), beta = psi2(nu_alpha, nu_beta) (bilinear interpolation). Then
  scale = (q75 - q25) / phi3(alpha, beta) (Table V) and loc = q50 + scale * phi5(alpha, beta) (Table VII;
  McCulloch's zeta is exactly the S0 location). The tables cover 0.5 <= alpha <= 2: nu_alpha is clipped
  into [2.439, 25] and |nu_beta| into [0, 1] (outside the tables, alpha is reported as 2 or 0.5).
- ``"ecf"``: Koutrouvelis (1980) regressions on the empirical characteristic function phi_hat of data
  standardized by the quantile fit: the slope of log(-log|phi_hat(u)|) on log u gives alpha and its
  intercept alpha log(scale); the phase arg phi_hat(u) = loc u + beta tan(pi alpha/2) ((s u)^alpha - s u)
  (S0 form, continuous through alpha = 1) gives loc and beta by least squares. Regressions are weighted by
  delta-method inverse variances on a fixed grid (tfescape.stable.tail_index's ECF grid) instead of
  Koutrouvelis's tabulated grids; the standardize-and-regress step is repeated twice.
- ``"mle"``: maximum likelihood on ``tfescape.stable.Stable(...).log_prob`` of the data standardized by the
  quantile fit, started from the ECF fit, minimized by tfp.optimizer.nelder_mead_minimize (the simplex is
  evaluated as one batch of parameter vectors) in unconstrained coordinates alpha = 0.1 + 1.9 sigmoid(a),
  beta = tanh(b), scale = exp(c), loc. Gradient-free because differentiating the density's quadrature is
  slow. Standard errors from the inverse observed information (central finite-difference Hessian of the
  log-likelihood in (alpha, beta, scale, loc)); inf where it is not positive definite or a parameter sits at
  its bound (alpha = 2, |beta| = 1).
  Eager only, one slice at a time: seconds per fit of n = 1000, not milliseconds.
- ``"auto"``: "ecf" (fast, batched, near-MLE accuracy at the sample sizes of gradient noise; see the
  benchmark table in benchmarks/README.md).

beta is not identifiable at alpha = 2 (the law is Gaussian whatever beta); fits there return a beta near 0
with no meaning. Gradient noise has tiny scale: every method works on data standardized by the quantile
fit and maps the result back, so the scale of x does not matter.

References:
    McCulloch (1986), Simple consistent estimators of stable distribution parameters. Commun. Statist.
        Simula. 15(4), 1109-1136 (Tables III, IV, V, VII).
    Koutrouvelis (1980), Regression-type estimation of the parameters of stable laws. JASA 75, 918-928.
    Nolan (2020), Univariate Stable Distributions, Springer (the S0 parameterization).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfescape import _checks
from tfescape.stable.tail_index import _ECF_GRID, ecf_modulus_regression, validate_samples

METHODS = ("auto", "quantile", "ecf", "mle")

# ----------------------------------------------------------------------------------------------------------
# McCulloch (1986) tables, entered from the paper.

# Tables III and IV: rows nu_alpha, columns nu_beta.
_NU_ALPHA = np.array([2.439, 2.5, 2.6, 2.7, 2.8, 3.0, 3.2, 3.5, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 25.0])
_NU_BETA = np.array([0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0])
_PSI1_ALPHA = np.array(
    [
        [2.000, 2.000, 2.000, 2.000, 2.000, 2.000, 2.000],
        [1.916, 1.924, 1.924, 1.924, 1.924, 1.924, 1.924],
        [1.808, 1.813, 1.829, 1.829, 1.829, 1.829, 1.829],
        [1.729, 1.730, 1.737, 1.745, 1.745, 1.745, 1.745],
        [1.664, 1.663, 1.663, 1.668, 1.676, 1.676, 1.676],
        [1.563, 1.560, 1.553, 1.548, 1.547, 1.547, 1.547],
        [1.484, 1.480, 1.471, 1.460, 1.448, 1.438, 1.438],
        [1.391, 1.386, 1.378, 1.364, 1.337, 1.318, 1.318],
        [1.279, 1.273, 1.266, 1.250, 1.210, 1.184, 1.150],
        [1.128, 1.121, 1.114, 1.101, 1.067, 1.027, 0.973],
        [1.029, 1.021, 1.014, 1.004, 0.974, 0.935, 0.874],
        [0.896, 0.892, 0.887, 0.883, 0.855, 0.823, 0.769],
        [0.818, 0.812, 0.806, 0.801, 0.780, 0.756, 0.691],
        [0.698, 0.695, 0.692, 0.689, 0.676, 0.656, 0.595],
        [0.593, 0.590, 0.588, 0.586, 0.579, 0.563, 0.513],
    ]
)
_PSI2_BETA = np.array(
    [
        [0.0, 2.160, 1.000, 1.000, 1.000, 1.000, 1.000],
        [0.0, 1.592, 3.390, 1.000, 1.000, 1.000, 1.000],
        [0.0, 0.759, 1.800, 1.000, 1.000, 1.000, 1.000],
        [0.0, 0.482, 1.048, 1.694, 1.000, 1.000, 1.000],
        [0.0, 0.360, 0.760, 1.232, 2.229, 1.000, 1.000],
        [0.0, 0.253, 0.518, 0.823, 1.575, 1.000, 1.000],
        [0.0, 0.203, 0.410, 0.632, 1.244, 1.906, 1.000],
        [0.0, 0.165, 0.332, 0.499, 0.943, 1.560, 1.000],
        [0.0, 0.136, 0.271, 0.404, 0.689, 1.230, 2.195],
        [0.0, 0.109, 0.216, 0.323, 0.539, 0.827, 1.917],
        [0.0, 0.096, 0.190, 0.284, 0.472, 0.693, 1.759],
        [0.0, 0.082, 0.163, 0.243, 0.412, 0.601, 1.596],
        [0.0, 0.074, 0.147, 0.220, 0.377, 0.546, 1.482],
        [0.0, 0.064, 0.128, 0.191, 0.330, 0.478, 1.362],
        [0.0, 0.056, 0.112, 0.167, 0.285, 0.428, 1.274],
    ]
)
# Tables V and VII: rows alpha (ascending here; the paper lists 2.0 down to 0.5), columns beta.
_ALPHA_GRID = np.round(np.arange(0.5, 2.01, 0.1), 1)
_BETA_GRID = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_PHI3_SCALE = np.array(
    [
        [2.588, 3.073, 4.534, 6.636, 9.144],  # alpha = 0.5
        [2.337, 2.635, 3.542, 4.808, 6.247],
        [2.189, 2.392, 3.004, 3.844, 4.775],
        [2.098, 2.244, 2.676, 3.265, 3.912],
        [2.040, 2.149, 2.461, 2.886, 3.356],
        [2.000, 2.085, 2.311, 2.624, 2.973],  # alpha = 1.0
        [1.980, 2.040, 2.205, 2.435, 2.696],
        [1.965, 2.007, 2.125, 2.294, 2.491],
        [1.955, 1.984, 2.067, 2.188, 2.333],
        [1.946, 1.967, 2.022, 2.106, 2.211],
        [1.939, 1.952, 1.988, 2.045, 2.116],  # alpha = 1.5
        [1.933, 1.940, 1.962, 1.997, 2.043],
        [1.927, 1.930, 1.943, 1.961, 1.987],
        [1.921, 1.922, 1.927, 1.936, 1.947],
        [1.914, 1.915, 1.916, 1.918, 1.921],
        [1.908, 1.908, 1.908, 1.908, 1.908],  # alpha = 2.0
    ]
)
_PHI5_LOC = np.array(
    [
        [0.0, -0.061, -0.279, -0.659, -1.198],  # alpha = 0.5
        [0.0, -0.078, -0.272, -0.581, -0.997],
        [0.0, -0.089, -0.262, -0.520, -0.853],
        [0.0, -0.096, -0.250, -0.469, -0.742],
        [0.0, -0.099, -0.237, -0.424, -0.652],
        [0.0, -0.098, -0.223, -0.383, -0.576],  # alpha = 1.0
        [0.0, -0.095, -0.208, -0.346, -0.508],
        [0.0, -0.090, -0.192, -0.310, -0.447],
        [0.0, -0.084, -0.173, -0.276, -0.390],
        [0.0, -0.075, -0.154, -0.241, -0.335],
        [0.0, -0.066, -0.134, -0.206, -0.283],  # alpha = 1.5
        [0.0, -0.056, -0.111, -0.170, -0.232],
        [0.0, -0.043, -0.088, -0.132, -0.179],
        [0.0, -0.030, -0.061, -0.092, -0.123],
        [0.0, -0.017, -0.032, -0.049, -0.064],
        [0.0, 0.0, 0.0, 0.0, 0.0],  # alpha = 2.0
    ]
)


@dataclasses.dataclass(frozen=True)
class StableStderr:
    """Standard errors of the four parameters (Tensors of the batch shape)."""

    alpha: tf.Tensor
    beta: tf.Tensor
    scale: tf.Tensor
    loc: tf.Tensor


@dataclasses.dataclass(frozen=True)
class StableFit:
    """Fitted stable law S0(alpha, beta, scale, loc), one per batch slice.

    Attributes:
        alpha, beta, scale, loc: Tensors of shape x.shape[:-1] (the batch shape), in x's float dtype.
        stderr: StableStderr (asymptotic standard errors) where the method gives them ("mle"), else None.
        method: the method used ("quantile", "ecf" or "mle"; "auto" is resolved).
        num_samples: n, the length of the last axis of x.
        parameterization: always "S0" (Nolan), as scipy.stats.levy_stable spells it.
    """

    alpha: tf.Tensor
    beta: tf.Tensor
    scale: tf.Tensor
    loc: tf.Tensor
    stderr: StableStderr | None
    method: str
    num_samples: int
    parameterization: str = "S0"


# ----------------------------------------------------------------------------------------------------------
# Interpolation


def _interp2d(table: np.ndarray, grid_a: np.ndarray, grid_b: np.ndarray, a: tf.Tensor, b: tf.Tensor):
    """Bilinear interpolation of table[grid_a, grid_b] at (a, b), clipped to the grid; a, b same shape."""
    dtype = a.dtype

    def locate(grid, v):
        g = tf.constant(grid, dtype)
        v = tf.clip_by_value(v, g[0], g[-1])
        flat = tf.reshape(v, [-1])
        i = tf.clip_by_value(tf.searchsorted(g, flat, side="right") - 1, 0, len(grid) - 2)
        lo, hi = tf.gather(g, i), tf.gather(g, i + 1)
        return i, (flat - lo) / (hi - lo)

    i, t = locate(grid_a, a)
    j, u = locate(grid_b, b)
    tab = tf.constant(table, dtype)

    def at(di, dj):
        return tf.gather_nd(tab, tf.stack([i + di, j + dj], axis=-1))

    value = (1 - t) * ((1 - u) * at(0, 0) + u * at(0, 1)) + t * ((1 - u) * at(1, 0) + u * at(1, 1))
    return tf.reshape(value, tf.shape(a))


# ----------------------------------------------------------------------------------------------------------
# Methods (pure functions of a validated [..., n] tensor)


def quantile_fit(x: tf.Tensor):
    """McCulloch's quantile estimates (alpha, beta, scale, loc), each [...]; x: [..., n]."""
    q = tfp.stats.percentile(x, [5.0, 25.0, 50.0, 75.0, 95.0], axis=-1, interpolation="linear")
    q05, q25, q50, q75, q95 = tf.unstack(q, axis=0)
    iqr = q75 - q25
    wide = q95 - q05
    nu_alpha = wide / iqr
    nu_beta = (q95 + q05 - 2.0 * q50) / wide
    abs_nu_beta = tf.clip_by_value(tf.abs(nu_beta), 0.0, 1.0)
    alpha = _interp2d(_PSI1_ALPHA, _NU_ALPHA, _NU_BETA, nu_alpha, abs_nu_beta)
    abs_beta = tf.minimum(_interp2d(_PSI2_BETA, _NU_ALPHA, _NU_BETA, nu_alpha, abs_nu_beta), 1.0)
    sign = tf.where(nu_beta < 0, -tf.ones_like(nu_beta), tf.ones_like(nu_beta))
    scale = iqr / _interp2d(_PHI3_SCALE, _ALPHA_GRID, _BETA_GRID, alpha, abs_beta)
    loc = q50 + sign * scale * _interp2d(_PHI5_LOC, _ALPHA_GRID, _BETA_GRID, alpha, abs_beta)
    return alpha, sign * abs_beta, scale, loc


def _phase_regressor(u, alpha, scale):
    """g(u) = tan(pi alpha/2) ((s u)^alpha - s u), with its limit -(2/pi) s u log(s u) at alpha = 1."""
    su = scale[..., tf.newaxis] * u
    a = alpha[..., tf.newaxis]
    near_one = tf.abs(a - 1.0) < 1e-3
    safe_a = tf.where(near_one, tf.ones_like(a) * 1.5, a)
    general = tf.tan(math.pi * safe_a / 2.0) * (tf.pow(su, safe_a) - su)
    limit = -(2.0 / math.pi) * su * tf.math.log(su)
    return tf.where(near_one, limit, general)


def _ecf_step(z: tf.Tensor):
    """One Koutrouvelis step on standardized data z ([..., n]): (alpha, beta, scale, loc) of z."""
    n = z.shape[-1]
    dtype = z.dtype
    u = tf.constant(_ECF_GRID, dtype)
    uz = z[..., tf.newaxis, :] * u[:, tf.newaxis]
    re = tf.reduce_mean(tf.cos(uz), axis=-1)
    im = tf.reduce_mean(tf.sin(uz), axis=-1)
    slope, intercept, _ = ecf_modulus_regression(re, im, n)
    alpha = tf.clip_by_value(slope, 0.1, 2.0)
    scale = tf.exp(intercept / slope)
    # Phase regression (no intercept): arg phi = loc * u + beta * g(u).
    modulus = tf.sqrt(re * re + im * im)
    usable = (modulus > 2.0 / math.sqrt(n)) & (modulus < 1.0 - 1e-9)
    safe = tf.where(usable, modulus, tf.constant(0.5, dtype))
    twice = tf.pow(safe, tf.pow(tf.constant(2.0, dtype), alpha[..., tf.newaxis]))  # |phi(2u)| for a SaS law
    weight = tf.where(usable, 2.0 * n * safe * safe / tf.maximum(1.0 - twice, 1e-12), 0.0)
    phase = tf.atan2(im, re)
    g = _phase_regressor(u, alpha, scale)
    uu = tf.broadcast_to(u, tf.shape(g))
    s_uu = tf.reduce_sum(weight * uu * uu, -1)
    s_ug = tf.reduce_sum(weight * uu * g, -1)
    s_gg = tf.reduce_sum(weight * g * g, -1) + 1e-9 * s_uu + 1e-30  # ridge: beta -> 0 where g vanishes
    s_uy = tf.reduce_sum(weight * uu * phase, -1)
    s_gy = tf.reduce_sum(weight * g * phase, -1)
    det = s_uu * s_gg - s_ug * s_ug
    loc = (s_gg * s_uy - s_ug * s_gy) / det
    beta = tf.clip_by_value((s_uu * s_gy - s_ug * s_uy) / det, -1.0, 1.0)
    return alpha, beta, scale, loc


def ecf_fit(x: tf.Tensor, *, num_steps: int = 2):
    """Koutrouvelis-style regression estimates (alpha, beta, scale, loc), each [...]; x: [..., n]."""
    _, _, scale, loc = quantile_fit(x)
    alpha = beta = None
    for _ in range(num_steps):
        z = (x - loc[..., tf.newaxis]) / scale[..., tf.newaxis]
        alpha, beta, scale_z, loc_z = _ecf_step(z)
        loc = loc + scale * loc_z  # S0 is a location-scale family
        scale = scale * scale_z
    return alpha, beta, scale, loc


# ----------------------------------------------------------------------------------------------------------
# Public entry point


def fit(x, *, method: str = "auto", seed=None) -> StableFit:
    """Fit S0(alpha, beta, scale, loc) to the samples on the last axis of x, one fit per batch slice.

    Args:
        x: array or Tensor [..., n] (n static, n >= 20; McCulloch's tables assume n of a few hundred or
            more). Integers are cast to float32; float64 stays float64.
        method: "auto" (= "ecf"), "quantile", "ecf" or "mle" (see the module docstring).
        seed: unused by the current methods (all deterministic); accepted for a uniform API.

    Returns:
        StableFit with Tensors of shape x.shape[:-1].

    Raises:
        ValueError: unknown method, fewer than 20 samples, NaN/inf, constant slices, or slices where more
            than half of the samples share one value (zero interquartile range). Inside tf.function the value
            checks raise tf.errors.InvalidArgumentError with the same message.

    Example:
        >>> x = scipy.stats.levy_stable.rvs(1.5, 0.3, size=(10, 1000))
        >>> result = fit(x)  # result.alpha: shape [10]
    """
    del seed
    if method not in METHODS:
        raise ValueError(f"fit: unknown method {method!r}; choose one of {METHODS}.")
    resolved = "ecf" if method == "auto" else method
    _checks.real_dtype(x, "fit: x")
    x = tf.convert_to_tensor(x)
    if x.dtype not in (tf.float32, tf.float64):
        x = tf.cast(x, tf.float32)
    if x.shape.rank is None or x.shape.rank == 0 or x.shape[-1] is None:
        raise ValueError("fit: x must have shape [..., n] with a statically known number n of samples.")
    n = int(x.shape[-1])
    if n < 20:
        raise ValueError(f"fit: needs at least 20 samples per fit, got n={n}; pass more samples.")
    name = f"fit(method={method!r})"
    x = validate_samples(x, name=name, allow_zeros=True)
    x = _check_spread(x, name)
    if resolved == "mle":
        return _mle_fit(x, n)
    estimator = quantile_fit if resolved == "quantile" else ecf_fit
    if tf.executing_eagerly():  # run the arithmetic as one compiled graph (traced once per shape and dtype)
        estimator = _COMPILED[resolved]
    params, stderr = estimator(x), None
    alpha, beta, scale, loc = params
    return StableFit(alpha, beta, scale, loc, stderr, resolved, n)


_COMPILED = {
    "quantile": tf.function(quantile_fit),
    "ecf": tf.function(ecf_fit),
}


def _check_spread(x: tf.Tensor, name: str) -> tf.Tensor:
    from tfescape.stable.tail_index import _require

    q = tfp.stats.percentile(x, [25.0, 75.0], axis=-1, interpolation="linear")
    ops = _require(
        q[1] > q[0],
        f"{name}: the interquartile range is zero (more than half of the samples in a slice share one "
        "value), so no scale can be estimated; remove the repeated value (e.g. exact zeros) first.",
    )
    if ops:
        with tf.control_dependencies(ops):
            x = tf.identity(x)
    return x


def _to_natural(u: tf.Tensor) -> tf.Tensor:
    """Unconstrained [..., 4] -> (alpha, beta, scale, loc) [..., 4]."""
    a, b, c, d = tf.unstack(u, axis=-1)
    return tf.stack([0.1 + 1.9 * tf.sigmoid(a), tf.tanh(b), tf.exp(c), d], axis=-1)


def _to_unconstrained(theta: np.ndarray) -> np.ndarray:
    alpha = np.clip(theta[0], 0.11, 1.99)
    beta = np.clip(theta[1], -0.99, 0.99)
    p = (alpha - 0.1) / 1.9
    return np.array([np.log(p / (1 - p)), np.arctanh(beta), np.log(theta[2]), theta[3]])


def _log_likelihoods(z: tf.Tensor, theta: tf.Tensor) -> tf.Tensor:
    """Sum of Stable log-densities of z ([n]) for each parameter row of theta ([k, 4]) -> [k]."""
    from tfescape.stable.distribution import Stable

    alpha, beta, scale, loc = (theta[:, i : i + 1] for i in range(4))
    return tf.reduce_sum(Stable(alpha, beta, scale, loc).log_prob(z[tf.newaxis, :]), axis=-1)


def _observed_information(z: tf.Tensor, theta: np.ndarray) -> np.ndarray:
    """Central finite-difference Hessian of the negative log-likelihood at theta (natural coordinates)."""
    h = np.array([1e-3, 1e-3, 1e-3 * theta[2], 1e-3 * theta[2]])
    points = [theta]
    for i in range(4):
        for j in range(i, 4):
            for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                step = np.zeros(4)
                step[i] += si * h[i]
                step[j] += sj * h[j]
                points.append(theta + step)
    values = -_log_likelihoods(z, tf.constant(np.array(points), z.dtype)).numpy()
    hessian = np.empty((4, 4))
    k = 1
    for i in range(4):
        for j in range(i, 4):
            pp, pm, mp, mm = values[k : k + 4]
            hessian[i, j] = hessian[j, i] = (pp - pm - mp + mm) / (4 * h[i] * h[j])
            k += 4
    return hessian


def _mle_one(z: tf.Tensor, start: np.ndarray):
    """MLE of (alpha, beta, scale, loc) on standardized samples z ([n]); returns (theta, stderr)."""
    n = int(z.shape[-1])

    def objective(u):  # u: [4] (one vertex) or [k, 4] (the simplex)
        values = -_log_likelihoods(z, _to_natural(tf.reshape(u, [-1, 4]))) / n
        return tf.reshape(values, tf.shape(u)[:-1])

    result = tfp.optimizer.nelder_mead_minimize(
        objective,
        initial_vertex=tf.constant(_to_unconstrained(start), z.dtype),
        step_sizes=tf.constant([0.1, 0.1, 0.05, 0.05], z.dtype),
        batch_evaluate_objective=True,
        func_tolerance=1e-7,
        position_tolerance=1e-4,
        max_iterations=400,
    )
    theta = _to_natural(result.position).numpy()
    if theta[0] > 2.0 - 2e-3 or abs(theta[1]) > 1.0 - 2e-3:  # at a bound: no two-sided information
        return theta, np.full(4, np.inf)
    information = _observed_information(z, theta)
    try:
        covariance = np.linalg.inv(information)
        variances = np.diag(covariance)
        if not np.all(np.linalg.eigvalsh(information) > 0):
            raise np.linalg.LinAlgError("observed information not positive definite")
        stderr = np.sqrt(variances)
    except np.linalg.LinAlgError:
        stderr = np.full(4, np.inf)
    return theta, stderr


def _mle_fit(x: tf.Tensor, n: int) -> StableFit:
    if not tf.executing_eagerly():
        raise ValueError("fit(method='mle') runs eagerly only; call it outside tf.function (or use 'ecf').")
    batch_shape = x.shape[:-1]
    flat = tf.reshape(x, [-1, n])
    _, _, scale0, loc0 = (v.numpy() for v in _COMPILED["quantile"](flat))
    start = np.stack([v.numpy() for v in _COMPILED["ecf"](flat)], axis=-1)  # [m, 4]
    thetas, errors = [], []
    for i in range(flat.shape[0]):
        z = (flat[i] - loc0[i]) / scale0[i]
        start_z = np.array(
            [start[i, 0], start[i, 1], start[i, 2] / scale0[i], (start[i, 3] - loc0[i]) / scale0[i]]
        )
        theta, stderr = _mle_one(z, start_z)
        thetas.append([theta[0], theta[1], theta[2] * scale0[i], loc0[i] + theta[3] * scale0[i]])
        errors.append([stderr[0], stderr[1], stderr[2] * scale0[i], stderr[3] * scale0[i]])
    thetas = np.reshape(np.array(thetas), tuple(batch_shape) + (4,))
    errors = np.reshape(np.array(errors), tuple(batch_shape) + (4,))

    def column(values, i):
        return tf.constant(values[..., i], x.dtype)

    stderr = StableStderr(*(column(errors, i) for i in range(4)))
    return StableFit(*(column(thetas, i) for i in range(4)), stderr, "mle", n)
