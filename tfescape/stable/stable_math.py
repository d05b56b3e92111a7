"""Densities, distribution functions and characteristic functions of alpha-stable laws (pure functions).

Parameterizations follow Nolan (and scipy.stats.levy_stable, which spells them "S0" and "S1"). For the
standardized laws (scale 1, location 0):

    S1: E exp(iuZ1) = exp(-|u|^alpha (1 - i beta sign(u) tan(pi alpha / 2)))       alpha != 1
                      exp(-|u|     (1 + i beta sign(u) (2/pi) log|u|))            alpha == 1
    S0: Z0 = Z1 + zeta,  zeta = -beta tan(pi alpha / 2)  (alpha != 1),   Z0 = Z1 (alpha == 1).

With scale g > 0 and location d: S0 is X = d + g Z0; S1 is X = d + g Z1 (alpha != 1) and
X = d + g Z1 + (2/pi) beta g log(g) (alpha == 1). The symmetric law SaS(alpha, s) of DESIGN.md is beta = 0
in either parameterization.

Numerical method (all arithmetic in float64, whatever the caller's dtype):

* Body: Nolan's (1997) integral representation. For x0 > zeta the density is
  c2(x) int g(theta) exp(-g(theta)) dtheta and the distribution function c1 + c3 int exp(-g(theta)) dtheta,
  with g monotone in theta. The integration interval is mapped to t in [0, 1] by a doubly logarithmic map
  (theta at distance (L/2) exp(-K |1 - 2t|) from the nearer end), the points where log g crosses fixed levels
  (-30 ... 3.7) are located by a coarse grid plus Illinois (regula falsi) steps, and each of the resulting
  panels is integrated with a fixed 12-point Gauss-Legendre rule in t. The integrand is smooth in t even where
  g behaves like a power of the distance to an end of the interval, which is what happens in the far tails
  and next to the mode, so the same rule serves the whole real line. Trigonometric terms that vanish at an end
  of the interval are evaluated from the distance to that end (no cancellation).
* Far tails: the heavy-tailed side uses the convergent (alpha < 1) or asymptotic (alpha > 1) series
  f(x) ~ (1/pi) sum_k (-1)^(k+1) sigma^k Gamma(k alpha + 1) / k! sin(k alpha L) x^(-k alpha - 1)
  where the quadrature is no longer needed (first omitted term below 1e-17 of the sum).
* Near x0 = zeta (Nolan's "x close to zeta" problem) the value is interpolated linearly between the exact
  value at zeta and the integral at zeta +- delta, delta ~ 1e-8 (1 + |zeta|) alpha / |alpha - 1|.
* Many points per law (at least 1000 per distinct (alpha, beta), e.g. a sample evaluated under one law):
  the shared-law path of :mod:`tfescape.stable._interpolate` runs the quadrature above on a fixed set of
  nodes per law (piecewise Chebyshev in log|x0 - c|, c = 0 or zeta) and interpolates log f, log F and
  log S between them, with the tail series beyond; panels are accepted only after an a-posteriori check
  (coefficient decay and extra points, 1e-9 in log), refined once, and the quadrature is run at the points
  of panels still rejected. Agreement with the pointwise quadrature: below 1e-8 relative everywhere
  (tests/stable/test_shared_law_path.py). About 15-25 ms for 1e4 points of one law instead of 0.4-0.9 s.
* Near alpha = 1 (|alpha - 1| < 1e-4) log-values are interpolated linearly in alpha between alpha = 1 (exact:
  Cauchy, or Nolan's alpha = 1 integral) and alpha = 1 +- 1e-4 (S0 is continuous in alpha). At alpha = 1 with
  |beta| < 1e-5 the same is done in beta. alpha = 2 is the Gaussian N(0, 2) exactly.

References:
    Nolan (1997), Numerical calculation of stable densities and distribution functions. Commun. Statist.
        Stochastic Models 13(4), 759-774.
    Nolan (2020), Univariate Stable Distributions. Springer (parameterizations S0/S1, tail series).
    Zolotarev (1986), One-dimensional Stable Distributions. AMS (series expansions).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfescape import _checks
from tfescape.stable import _interpolate

__all__ = [
    "characteristic_function",
    "levy_measure_constant",
    "log_prob",
    "prob",
    "cdf",
    "log_cdf",
    "survival_function",
    "log_survival_function",
    "standard_log_prob_cdf_sf",
    "s1_to_s0_loc",
]

_F64 = tf.float64
_PI = math.pi

# Quadrature design (see module docstring).
_GL_ORDER = 12
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_ORDER)
_LEVELS = np.array([-30.0, -16.0, -8.0, -4.0, -1.5, 0.0, 1.2, 2.4, 3.7])
# Fixed panel ends at (L/2) exp(-m) from either end: they grade the panels where g tends to a finite
# limit at an end of the interval (beta = +-1, alpha = 1) and the broad shoulders of alpha < 1 tails,
# which the level crossings do not resolve.
_END_GRADING = np.array([1.5, 4.5, 13.5, 40.0])
_CHUNK = 8192
_GRID = 33
_BISECTION_STEPS = 8
_ILLINOIS_STEPS = 6
# Special regions.
_ALPHA_ONE_BAND = 1e-4
_BETA_ZERO_BAND = 1e-5
_ZETA_BAND = 1e-8
_SERIES_TERMS = 10
_SERIES_TOL = 1e-17
# Shared-law interpolation (tfescape.stable._interpolate) from this many points per law on.
_MIN_POINTS_PER_LAW = 1000


def levy_measure_constant(alpha):
    """Levy-measure constant c_alpha = Gamma(1 + alpha) sin(pi alpha / 2) / pi of SaS(alpha, 1).

    The Levy measure of SaS(alpha, s) is nu(dy) = c_alpha s^alpha |y|^(-1-alpha) dy, and
    P(|X| > x) ~ (2 c_alpha / alpha) s^alpha x^(-alpha) as x -> inf.

    Args:
        alpha: tail index in (0, 2) (float or tensor).

    Returns:
        c_alpha with the dtype of ``alpha`` (NumPy and tensor dtypes kept; float32 for Python numbers).

    Raises:
        ValueError: a concrete alpha outside (0, 2] (c_alpha is 0 at alpha = 2, the Gaussian case).
    """
    _checks.stable_alpha(alpha)
    if isinstance(alpha, (np.ndarray, np.generic)):
        alpha = tf.convert_to_tensor(alpha)
    alpha = tf.convert_to_tensor(alpha, dtype_hint=tf.float32)
    return tf.exp(tf.math.lgamma(1.0 + alpha)) * tf.sin(_PI * alpha / 2.0) / _PI


def s1_to_s0_loc(alpha, beta, scale, loc):
    """Location of the S0 law equal to the S1 law (alpha, beta, scale, loc).

    loc0 = loc + beta scale tan(pi alpha / 2) for alpha != 1 and loc + (2/pi) beta scale log(scale) at 1.
    """
    one = tf.equal(alpha, 1.0)
    safe_alpha = tf.where(one, tf.zeros_like(alpha) + 0.5, alpha)
    shift = tf.where(
        one,
        (2.0 / _PI) * beta * scale * tf.math.log(scale),
        beta * scale * tf.tan(_PI * safe_alpha / 2.0),
    )
    return loc + shift


def characteristic_function(t, alpha, beta, scale, loc, parameterization="S0"):
    """Characteristic function E exp(i t X) of the stable law in Nolan's S0 or S1 parameterization.

    S0: exp(i d t - |g t|^alpha [1 + i beta sign(t) tan(pi alpha/2) (|g t|^(1-alpha) - 1)])   (alpha != 1)
        exp(i d t - |g t|       [1 + i beta sign(t) (2/pi) log|g t|])                        (alpha == 1)
    S1: exp(i d t - |g t|^alpha [1 - i beta sign(t) tan(pi alpha/2)])                          (alpha != 1)
        exp(i d t - |g t|       [1 + i beta sign(t) (2/pi) log|t|])                          (alpha == 1)

    Args:
        t: real argument.
        alpha, beta, scale, loc: parameters (broadcast).
        parameterization: "S0" or "S1".

    Returns:
        complex128 tensor (complex64 if the inputs are float32) of the broadcast shape.
    """
    _check_parameterization(parameterization)
    t = tf.convert_to_tensor(t, dtype_hint=tf.float32)
    dtype = t.dtype
    t, alpha, beta, scale, loc = (tf.cast(v, _F64) for v in (t, alpha, beta, scale, loc))
    one = tf.equal(alpha, 1.0)
    safe_alpha = tf.where(one, tf.zeros_like(alpha) + 0.5, alpha)
    abs_gt = tf.abs(scale * t)
    tan_half = tf.tan(_PI * safe_alpha / 2.0)
    sign_t = tf.sign(t)
    pow_ = tf.pow(abs_gt, safe_alpha)
    log_abs_gt = tf.math.log(tf.where(abs_gt > 0, abs_gt, tf.ones_like(abs_gt)))
    log_abs_t = tf.math.log(tf.where(t != 0, tf.abs(t), tf.ones_like(t)))
    if parameterization == "S0":
        imag_not_one = beta * sign_t * tan_half * (abs_gt - pow_)  # |gt|^a (|gt|^(1-a) - 1)
        imag_one = beta * sign_t * (2.0 / _PI) * abs_gt * log_abs_gt
    else:
        imag_not_one = -beta * sign_t * tan_half * pow_
        imag_one = beta * sign_t * (2.0 / _PI) * abs_gt * log_abs_t
    real = tf.where(one, abs_gt, pow_)
    imag = tf.where(one, imag_one, imag_not_one)
    log_cf = tf.complex(-real, loc * t - imag)
    out = tf.exp(log_cf)
    return tf.cast(out, tf.complex64 if dtype == tf.float32 else tf.complex128)


def _check_parameterization(parameterization):
    if parameterization not in ("S0", "S1"):
        raise ValueError(
            "parameterization must be 'S0' or 'S1' (as in scipy.stats.levy_stable), "
            f"got {parameterization!r}."
        )


# ----------------------------------------------------------------------------------------------------------
# Nolan's integral for alpha != 1
# ----------------------------------------------------------------------------------------------------------


class _Consts:
    """Per-point constants of Nolan's representation for alpha != 1 (all [N, 1] float64 tensors)."""

    def __init__(self, alpha, beta, log_y):
        s = tf.sin(_PI * alpha / 2.0)
        c = tf.cos(_PI * alpha / 2.0)
        sgn_c = tf.where(c >= 0, tf.ones_like(c), -tf.ones_like(c))
        abs_c = tf.abs(c)
        # alpha L = pi alpha/2 + arctan(beta tan(pi alpha/2)) and alpha M = pi alpha/2 - arctan(...),
        # written with atan2 so that neither loses precision when it is small (L + M = pi).
        num_l = (1.0 + beta) * s * abs_c
        den_l = sgn_c * (c * c - beta * s * s)
        num_m = (1.0 - beta) * s * abs_c
        den_m = sgn_c * (c * c + beta * s * s)
        r_l = tf.sqrt(num_l * num_l + den_l * den_l)
        self.alpha = alpha
        self.sin_al = num_l / r_l  # sin(alpha L)
        self.cos_al = den_l / r_l  # cos(alpha L)
        self.L = tf.atan2(num_l, den_l) / alpha  # length of the theta interval, pi/2 + theta0
        self.M = tf.atan2(num_m, den_m) / alpha  # pi - L = pi/2 - theta0
        self.sin_l = tf.sin(tf.minimum(self.L, self.M))
        self.cos_l = tf.where(self.L <= self.M, tf.cos(self.L), -tf.cos(self.M))
        # log cos(alpha theta0) = -log(1 + zeta^2) / 2
        self.log_cos_at0 = tf.math.log(abs_c) - 0.5 * tf.math.log(c * c + beta * beta * s * s)
        self.r = alpha / (alpha - 1.0)
        self.log_y = log_y
        self.direction = tf.where(alpha > 1.0, -tf.ones_like(alpha), tf.ones_like(alpha))
        # g ~ v^p at its vanishing end; the map must reach 36 / p e-folds beyond the peak, which sits
        # about |log y| (mode side) or alpha |log y| (tail side) e-folds from an end.
        p = tf.where(alpha < 1.0, alpha / (1.0 - alpha), 1.0 / (alpha - 1.0))
        self.K = tf.clip_by_value(20.0 + 40.0 / p + 2.0 * tf.abs(log_y), 30.0, 690.0)

    def log_g(self, v, right):
        """log g at distance v from the left (right=False) or right (right=True) end of the interval."""
        a = self.alpha
        av, bv = a * v, (a - 1.0) * v
        sin_av, cos_av = tf.sin(av), tf.cos(av)
        sin_bv, cos_bv = tf.sin(bv), tf.cos(bv)
        sin_apsi = tf.where(right, self.sin_al * cos_av - self.cos_al * sin_av, sin_av)
        t3 = tf.where(
            right, self.sin_al * cos_bv - self.cos_al * sin_bv, self.sin_l * cos_bv + self.cos_l * sin_bv
        )
        w = tf.where(right, v, tf.minimum(self.L - v, self.M + v))
        sin_phi = tf.sin(w)
        return (
            self.r * (self.log_y + tf.math.log(sin_phi / sin_apsi))
            + self.log_cos_at0 / (a - 1.0)
            + tf.math.log(t3 / sin_phi)
        )


class _ConstsAlphaOne:
    """Per-point constants of Nolan's representation for alpha == 1, beta > 0 ([N, 1] float64 tensors)."""

    def __init__(self, beta, x):
        self.beta = beta
        self.L = tf.fill(tf.shape(beta), tf.constant(_PI, _F64))
        self.M = tf.zeros_like(beta)
        self.shift = -_PI * x / (2.0 * beta) + math.log(2.0 / _PI)
        self.direction = tf.ones_like(beta)
        # g ~ exp(+-c / v) at the ends; the peak is about log|x| e-folds from an end.
        log_abs_x = tf.math.log(tf.maximum(tf.abs(x), 1e-300))
        self.K = tf.clip_by_value(20.0 + 2.0 * tf.abs(log_abs_x), 30.0, 690.0)

    def log_g(self, v, right):
        b = self.beta
        a0 = tf.where(right, (1.0 + b) * (_PI / 2), (1.0 - b) * (_PI / 2))
        a1 = tf.where(right, -b, b)
        big_a = a0 + a1 * v
        sin_v = tf.sin(v)
        cot = tf.cos(v) / sin_v
        tan_theta = tf.where(right, cot, -cot)
        return self.shift + tf.math.log(big_a) - tf.math.log(sin_v) + big_a * tan_theta / b


def _map_t(t, consts):
    """Distance from the nearer end, its log, and the side, of the point t in [0, 1]."""
    right = t > 0.5
    log_v = tf.math.log(consts.L / 2.0) - consts.K * tf.abs(1.0 - 2.0 * t)
    return tf.exp(log_v), log_v, right


def _safe_directed_log_g(t, consts):
    v, _, right = _map_t(t, consts)
    # asinh makes both the power-law ends (u ~ p log v) and the alpha = 1 ends (u ~ 1/v) close to linear
    # in t, so that regula falsi converges in a few steps.
    u = tf.asinh(consts.direction * consts.log_g(v, right))
    return tf.where(tf.math.is_nan(u), tf.zeros_like(u), u)


def _level_points(consts):
    """t-values (shape [N, levels]) where log g crosses the fixed levels (clamped to [0, 1])."""
    n = tf.shape(consts.L)[0]
    grid = tf.constant(np.linspace(0.0, 1.0, _GRID), _F64)
    grid_b = tf.broadcast_to(grid[tf.newaxis, :], [n, _GRID])
    u_grid = _safe_directed_log_g(grid_b, consts)  # increasing in t
    levels = tf.asinh(consts.direction * tf.constant(_LEVELS, _F64)[tf.newaxis, :])  # [N, nl]
    below = tf.cast(u_grid[:, tf.newaxis, :] < levels[:, :, tf.newaxis], tf.int32)
    idx = tf.reduce_sum(below, axis=-1)  # number of grid points below each level
    lo = tf.clip_by_value(idx - 1, 0, _GRID - 1)
    hi = tf.clip_by_value(idx, 0, _GRID - 1)
    t_lo = tf.gather(grid, lo)
    t_hi = tf.gather(grid, hi)
    f_lo = tf.gather(u_grid, lo, batch_dims=1) - levels
    f_hi = tf.gather(u_grid, hi, batch_dims=1) - levels
    for _ in range(_BISECTION_STEPS):
        t_mid = 0.5 * (t_lo + t_hi)
        f_mid = _safe_directed_log_g(t_mid, consts) - levels
        go_right = f_mid < 0
        t_lo = tf.where(go_right, t_mid, t_lo)
        f_lo = tf.where(go_right, f_mid, f_lo)
        t_hi = tf.where(go_right, t_hi, t_mid)
        f_hi = tf.where(go_right, f_hi, f_mid)
    last_side = tf.zeros_like(f_lo)
    for _ in range(_ILLINOIS_STEPS):
        denom = f_hi - f_lo
        ok = denom > 0
        frac = tf.where(ok, -f_lo / tf.where(ok, denom, tf.ones_like(denom)), tf.zeros_like(denom))
        t_new = t_lo + tf.clip_by_value(frac, 0.0, 1.0) * (t_hi - t_lo)
        f_new = _safe_directed_log_g(t_new, consts) - levels
        go_right = f_new < 0  # the root lies to the right of t_new
        # Illinois: halve the retained end's value when the same end is kept twice in a row.
        f_hi = tf.where(go_right & (last_side > 0), 0.5 * f_hi, f_hi)
        f_lo = tf.where(~go_right & (last_side < 0), 0.5 * f_lo, f_lo)
        t_lo = tf.where(go_right, t_new, t_lo)
        f_lo = tf.where(go_right, f_new, f_lo)
        t_hi = tf.where(go_right, t_hi, t_new)
        f_hi = tf.where(go_right, f_hi, f_new)
        last_side = tf.where(go_right, tf.ones_like(last_side), -tf.ones_like(last_side))
    denom = f_hi - f_lo
    ok = denom > 0
    frac = tf.where(ok, -f_lo / tf.where(ok, denom, tf.ones_like(denom)), tf.zeros_like(denom))
    return t_lo + tf.clip_by_value(frac, 0.0, 1.0) * (t_hi - t_lo)


def _nolan_integrals(consts):
    """Log of int g e^-g dtheta, and the linear integrals A = int e^-g, B = int (1 - e^-g) (each / pi).

    Panel ends: 0, 1/2, 1, the level crossings of log g, and fixed points graded towards both ends.
    """
    n = tf.shape(consts.L)[0]
    t_levels = _level_points(consts)
    fixed = tf.broadcast_to(tf.constant([[0.0, 0.5, 1.0]], _F64), [n, 3])
    offsets = tf.constant(np.concatenate([-_END_GRADING, _END_GRADING])[np.newaxis, :], _F64)
    fixed = tf.concat([fixed, tf.clip_by_value(0.5 + offsets / (2.0 * consts.K), 0.0, 1.0)], axis=1)
    bounds = tf.sort(tf.concat([fixed, t_levels], axis=1), axis=1)  # [N, nb]
    t_a, t_b = bounds[:, :-1], bounds[:, 1:]  # [N, P]
    half = 0.5 * (t_b - t_a)
    mid = 0.5 * (t_a + t_b)
    nodes = mid[:, :, tf.newaxis] + half[:, :, tf.newaxis] * tf.constant(_GL_X, _F64)  # [N, P, q]
    p_count = tf.shape(t_a)[1]
    flat_nodes = tf.reshape(nodes, [n, -1])
    v, log_v, right = _map_t(flat_nodes, consts)
    u = tf.reshape(consts.log_g(v, right), [n, p_count, _GL_ORDER])
    log_v = tf.reshape(log_v, [n, p_count, _GL_ORDER])
    v = tf.reshape(v, [n, p_count, _GL_ORDER])
    # Weights in t times dv/dt = 2 K v.
    gl_w = tf.constant(_GL_W, _F64)
    log_jac = tf.math.log(2.0 * consts.K)[:, :, tf.newaxis] + log_v
    log_w = tf.math.log(half)[:, :, tf.newaxis] + tf.math.log(gl_w) + log_jac
    nan_u = tf.math.is_nan(u)
    # Density integrand g e^-g in log space (log g - g).
    log_dens = tf.where(nan_u, tf.constant(-np.inf, _F64), u - tf.exp(u))
    log_pdf_int = tf.reduce_logsumexp(tf.reshape(log_w + log_dens, [n, -1]), axis=1)
    g = tf.exp(tf.where(nan_u, tf.constant(np.inf, _F64), u))
    w = tf.exp(log_w)
    b_panel = tf.reduce_sum(w * -tf.math.expm1(-g), axis=2)  # [N, P]
    a_direct = tf.reduce_sum(w * tf.exp(-g), axis=2)
    v_a = tf.exp(_map_t(t_a, consts)[1])
    v_b = tf.exp(_map_t(t_b, consts)[1])
    dv = tf.abs(v_b - v_a)
    # Where g is small on a whole panel, A's integrand (about 1) is steep in t; where g is large, B's is.
    # There the other integral is the accurate one and the panel length closes the sum: A + B = dv.
    small_g = tf.reduce_max(g, axis=2) < 0.5
    large_g = tf.reduce_min(g, axis=2) > 0.5
    a_panel = tf.where(small_g, tf.maximum(dv - b_panel, 0.0), a_direct)
    b_panel = tf.where(large_g, tf.maximum(dv - a_direct, 0.0), b_panel)
    a_int = tf.reduce_sum(a_panel, axis=1) / _PI
    b_int = tf.reduce_sum(b_panel, axis=1) / _PI
    return log_pdf_int, a_int, b_int


def _core_not_one(y, alpha, beta):
    """Nolan for alpha != 1 at x0 - zeta = y > 0 (beta already reflected). Returns log f, F', S' (flat)."""
    a, b = alpha[:, tf.newaxis], beta[:, tf.newaxis]
    consts = _Consts(a, b, tf.math.log(y)[:, tf.newaxis])
    log_int, a_int, b_int = _nolan_integrals(consts)
    log_c2 = tf.math.log(alpha / (_PI * tf.abs(alpha - 1.0) * y))
    log_pdf = log_c2 + log_int
    c = consts.M[:, 0] / _PI
    below_one = alpha < 1.0
    cdf = tf.where(below_one, c + a_int, c + b_int)
    sf = tf.where(below_one, b_int, a_int)
    degenerate = consts.L[:, 0] <= 0.0  # alpha < 1, beta = -1: no mass beyond zeta
    log_pdf = tf.where(degenerate, tf.constant(-np.inf, _F64), log_pdf)
    cdf = tf.where(degenerate, tf.ones_like(cdf), cdf)
    sf = tf.where(degenerate, tf.zeros_like(sf), sf)
    return log_pdf, cdf, sf, consts


def _core_one(x, beta):
    """Nolan for alpha == 1 with beta > 0 (caller reflects). Returns log f, F, S (flat)."""
    consts = _ConstsAlphaOne(beta[:, tf.newaxis], x[:, tf.newaxis])
    log_int, a_int, b_int = _nolan_integrals(consts)
    return -tf.math.log(2.0 * beta) + log_int, a_int, b_int


# ----------------------------------------------------------------------------------------------------------
# Regimes
# ----------------------------------------------------------------------------------------------------------


def _tail_series(y, alpha, consts):
    """Tail series of the density and survival function on the heavy side, in log; and where it is exact.

    Terms are summed relative to the first one, so nothing underflows however far out y is.
    """
    a = alpha
    sigma_log = -consts.log_cos_at0[:, 0]  # log sigma = -log cos(alpha theta0)
    al = a * consts.L[:, 0]
    log_y = tf.math.log(y)

    def log_mag(k, extra):
        kf = float(k)
        return kf * sigma_log - kf * a * log_y - math.lgamma(kf + 1.0) + tf.math.lgamma(kf * a + extra)

    sums, lasts = [], []
    # density: Gamma(k alpha + 1) y^(-k alpha - 1); survival: Gamma(k alpha) y^(-k alpha)
    for extra in (1.0, 0.0):
        first = log_mag(1, extra)
        terms = [
            (1.0 if k % 2 == 1 else -1.0) * tf.sin(float(k) * al) * tf.exp(log_mag(k, extra) - first)
            for k in range(1, _SERIES_TERMS + 2)
        ]
        sums.append((first, tf.add_n(terms[:-1])))
        lasts.append((tf.abs(terms[-1]), tf.abs(terms[-2])))
    ok = consts.sin_al[:, 0] > 1e-12
    for (_, total), (last, before) in zip(sums, lasts, strict=True):
        ok = ok & (total > 0) & (last < _SERIES_TOL * total) & (last <= before)
    safe = lambda v: tf.where(ok, v, tf.ones_like(v))  # noqa: E731
    (f_first, f_total), (s_first, s_total) = sums
    log_pdf = f_first + tf.math.log(safe(f_total)) - log_y - math.log(_PI)
    log_sf = s_first + tf.math.log(safe(s_total)) - math.log(_PI)
    return log_pdf, log_sf, ok


def _log_values_not_one(x0, alpha, beta):
    """log f, log F, log S of the standardized S0 law for alpha != 1 (flat float64 tensors)."""
    one = tf.ones_like(alpha)
    tan_half = tf.tan(_PI * alpha / 2.0)
    zeta = -beta * tan_half
    diff = x0 - zeta
    side = tf.where(diff >= 0, one, -one)
    y = tf.abs(diff)
    band = _ZETA_BAND * (1.0 + tf.abs(zeta)) * tf.maximum(alpha / tf.abs(alpha - 1.0), 1.0)
    y_eff = tf.maximum(y, band)
    beta_r = side * beta
    log_pdf, cdf_r, sf_r, consts = _core_not_one(y_eff, alpha, beta_r)
    # Heavy-tail series where it is exact to working precision.
    ser_pdf, ser_sf, ser_ok = _tail_series(y_eff, alpha, consts)
    log_pdf = tf.where(ser_ok, ser_pdf, log_pdf)
    log_cdf_r = tf.math.log(cdf_r)
    log_sf_r = tf.where(ser_ok, ser_sf, tf.math.log(sf_r))
    # Back to the original side: for x0 < zeta, F(x0) = S'(y), S(x0) = F'(y).
    up = side > 0
    log_cdf = tf.where(up, log_cdf_r, log_sf_r)
    log_sf = tf.where(up, log_sf_r, log_cdf_r)
    # Mode region: linear interpolation between the exact values at zeta and those at zeta +- band.
    near = y < band
    consts0 = _Consts(alpha, beta, tf.zeros_like(alpha))
    f_zeta = (
        tf.exp(tf.math.lgamma(1.0 + 1.0 / alpha)) * consts0.sin_l / _PI * tf.exp(consts0.log_cos_at0 / alpha)
    )
    cdf_zeta = consts0.M / _PI
    sf_zeta = consts0.L / _PI
    lam = y / band

    def blend(at_zeta, log_at_band):
        return tf.math.log(at_zeta + lam * (tf.exp(log_at_band) - at_zeta))

    log_pdf = tf.where(near, blend(f_zeta, log_pdf), log_pdf)
    log_cdf = tf.where(near, blend(cdf_zeta, log_cdf), log_cdf)
    log_sf = tf.where(near, blend(sf_zeta, log_sf), log_sf)
    return log_pdf, log_cdf, log_sf


def _log_values_cauchy(x0):
    log_pdf = -math.log(_PI) - tf.math.log1p(x0 * x0)
    # F = 1/2 + atan(x)/pi; for x < 0 use atan(1/|x|) / pi to keep relative accuracy in the tail.
    ax = tf.abs(x0)
    small_side = tf.where(ax > 1.0, tf.atan(1.0 / tf.maximum(ax, 1.0)) / _PI, 0.5 - tf.atan(ax) / _PI)
    big_side = 1.0 - small_side
    log_cdf = tf.math.log(tf.where(x0 < 0, small_side, big_side))
    log_sf = tf.math.log(tf.where(x0 < 0, big_side, small_side))
    return log_pdf, log_cdf, log_sf


def _log_values_gauss(x0):
    normal = tfp.distributions.Normal(tf.constant(0.0, _F64), tf.constant(math.sqrt(2.0), _F64))
    log_pdf = -0.25 * x0 * x0 - 0.5 * math.log(4.0 * _PI)
    return log_pdf, normal.log_cdf(x0), normal.log_survival_function(x0)


def _log_values_one(x0, beta):
    """alpha == 1: Cauchy at beta = 0, Nolan's alpha = 1 integral otherwise (interpolated near beta = 0)."""
    sgn = tf.where(beta < 0, -tf.ones_like(beta), tf.ones_like(beta))
    abs_b = tf.abs(beta)
    b_eff = tf.maximum(abs_b, _BETA_ZERO_BAND)
    x_r = sgn * x0
    log_pdf, cdf_r, sf_r = _core_one(x_r, b_eff)
    log_cdf_r, log_sf_r = tf.math.log(cdf_r), tf.math.log(sf_r)
    neg = sgn < 0
    log_cdf = tf.where(neg, log_sf_r, log_cdf_r)
    log_sf = tf.where(neg, log_cdf_r, log_sf_r)
    near = abs_b < _BETA_ZERO_BAND
    lam = abs_b / _BETA_ZERO_BAND
    c_pdf, c_cdf, c_sf = _log_values_cauchy(x0)
    return (
        tf.where(near, c_pdf + lam * (log_pdf - c_pdf), log_pdf),
        tf.where(near, c_cdf + lam * (log_cdf - c_cdf), log_cdf),
        tf.where(near, c_sf + lam * (log_sf - c_sf), log_sf),
    )


def standard_log_prob_cdf_sf(x0, alpha, beta):
    """log density, log cdf and log survival function of the standardized S0 law (any shapes, float64).

    When at least 1000 points share each law (alpha, beta), the shared-law interpolant of
    :mod:`tfescape.stable._interpolate` is used (exact quadrature on 138 nodes per side of each law,
    checked a posteriori, exact fallback); otherwise the exact quadrature runs at every point, in chunks of
    8192 points (memory stays bounded).

    Args:
        x0: points (float64 tensor).
        alpha: in (0, 2], broadcast against x0.
        beta: in [-1, 1], broadcast against x0.

    Returns:
        Three float64 tensors of the broadcast shape.
    """
    x0, alpha, beta = (tf.convert_to_tensor(v, _F64) for v in (x0, alpha, beta))
    law_shape = tf.broadcast_dynamic_shape(tf.shape(alpha), tf.shape(beta))
    shape = tf.broadcast_dynamic_shape(tf.shape(x0), law_shape)
    flat_x = tf.reshape(tf.broadcast_to(x0, shape), [-1])

    def exact():
        flat = [tf.reshape(tf.broadcast_to(v, shape), [-1]) for v in (alpha, beta)]
        return _chunked_log_values(flat_x, *flat)

    def interpolated():
        n_laws = tf.reduce_prod(law_shape)
        law_index = tf.reshape(tf.broadcast_to(tf.reshape(tf.range(n_laws), law_shape), shape), [-1])
        laws = [tf.reshape(tf.broadcast_to(v, law_shape), [-1]) for v in (alpha, beta)]
        return _interpolated_log_values(flat_x, law_index, *laws)

    use_fast = _use_shared_law_path(x0, alpha, beta)
    if isinstance(use_fast, bool):
        outs = interpolated() if use_fast else exact()
    else:
        outs = tf.cond(use_fast, interpolated, exact)
    return tuple(tf.reshape(v, shape) for v in outs)


def _use_shared_law_path(x0, alpha, beta):
    """Python bool when the shapes are static, else a boolean tensor: enough points per law?"""
    shapes = [v.shape for v in (x0, alpha, beta)]
    if all(s.is_fully_defined() for s in shapes):
        law = np.broadcast_shapes(tuple(shapes[1]), tuple(shapes[2]))
        full = np.broadcast_shapes(tuple(shapes[0]), law)
        return int(np.prod(full)) >= _MIN_POINTS_PER_LAW * int(np.prod(law))
    law_shape = tf.broadcast_dynamic_shape(tf.shape(alpha), tf.shape(beta))
    shape = tf.broadcast_dynamic_shape(tf.shape(x0), law_shape)
    return tf.reduce_prod(shape) >= _MIN_POINTS_PER_LAW * tf.reduce_prod(law_shape)


def _law_series_constants(alpha, beta):
    """alpha L and log sigma = -log cos(alpha theta0) of Nolan's representation (tail-series constants)."""
    consts = _Consts(alpha, beta, tf.zeros_like(alpha))
    return alpha * consts.L, -consts.log_cos_at0


_VECTOR = tf.TensorSpec([None], _F64)
# Kept as separate function calls (not inlined into callers): graph optimization then runs once per
# function instead of once per call site, which keeps the first call of the shared-law path at seconds.
_NOINLINE = {"_noinline": True}


@tf.function(input_signature=[_VECTOR] * 3, autograph=False, experimental_attributes=_NOINLINE)
def _chunked_log_values(x0, alpha, beta):
    # A graph function (also when called eagerly: the many small ops are much faster as a graph). Up to
    # _CHUNK points run in one call (a while loop costs about 10 ms of overhead on 2 cores).
    return tf.cond(
        tf.size(x0) <= _CHUNK,
        lambda: _direct_log_values(x0, alpha, beta),
        lambda: _mapped_log_values(x0, alpha, beta),
    )


@tf.function(input_signature=[_VECTOR] * 3, autograph=False, experimental_attributes=_NOINLINE)
def _direct_log_values(x0, alpha, beta):
    return _flat_log_values(x0, alpha, beta)


def _mapped_log_values(x0, alpha, beta):
    n = tf.size(x0)
    n_chunks = tf.maximum((n + _CHUNK - 1) // _CHUNK, 1)
    chunk = (n + n_chunks - 1) // n_chunks  # equal chunks of at most _CHUNK points, little padding
    pad = n_chunks * chunk - n
    padded = [
        tf.reshape(tf.concat([v, tf.fill([pad], tf.constant(fill, _F64))], 0), [n_chunks, chunk])
        for v, fill in ((x0, 0.0), (alpha, 1.5), (beta, 0.0))
    ]
    outs = tf.map_fn(
        lambda args: _direct_log_values(*args),
        tuple(padded),
        fn_output_signature=(_F64, _F64, _F64),
        parallel_iterations=1,
    )
    return tuple(tf.reshape(v, [-1])[:n] for v in outs)


@tf.function(
    input_signature=[_VECTOR, tf.TensorSpec([None], tf.int32), _VECTOR, _VECTOR],
    autograph=False,
    experimental_attributes=_NOINLINE,
)
def _interpolated_log_values(x0, law_index, alpha, beta):
    return _interpolate.log_values(
        x0, law_index, alpha, beta, exact=_chunked_log_values, law_constants=_law_series_constants
    )


def _flat_log_values(x0, alpha, beta):
    is_gauss = tf.equal(alpha, 2.0)
    near_one = tf.abs(alpha - 1.0) < _ALPHA_ONE_BAND
    side = tf.where(alpha >= 1.0, tf.ones_like(alpha), -tf.ones_like(alpha))
    placeholder = tf.fill(tf.shape(alpha), tf.constant(1.5, _F64))  # any alpha != 1, 2; result unused
    alpha_main = tf.where(near_one, 1.0 + side * _ALPHA_ONE_BAND, tf.where(is_gauss, placeholder, alpha))
    main = _log_values_not_one(x0, alpha_main, beta)
    gauss = _log_values_gauss(x0)
    # Nolan's alpha = 1 integral is needed only for skewed points near alpha = 1 (Cauchy otherwise).
    any_skewed_one = tf.reduce_any(near_one & tf.not_equal(beta, 0.0))
    one_vals = tf.cond(any_skewed_one, lambda: _log_values_one(x0, beta), lambda: _log_values_cauchy(x0))
    lam = tf.abs(alpha - 1.0) / _ALPHA_ONE_BAND
    outs = []
    for m, g1, gs in zip(main, one_vals, gauss, strict=True):
        # Both ends may be -inf (a light tail beyond the float range at alpha ~ 1, |beta| = 1): no NaN.
        step = tf.where(tf.equal(m, g1) | tf.equal(lam, 0.0), tf.zeros_like(m), lam * (m - g1))
        v = tf.where(near_one, g1 + step, m)
        outs.append(tf.where(is_gauss, gs, v))
    return tuple(outs)


# ----------------------------------------------------------------------------------------------------------
# Located and scaled laws
# ----------------------------------------------------------------------------------------------------------


def _standardize(x, alpha, beta, scale, loc, parameterization):
    _check_parameterization(parameterization)
    x, alpha, beta, scale, loc = (tf.cast(v, _F64) for v in (x, alpha, beta, scale, loc))
    if parameterization == "S1":
        loc = s1_to_s0_loc(alpha, beta, scale, loc)
    return (x - loc) / scale, alpha, beta, scale


def _log_triplet(x, alpha, beta, scale, loc, parameterization):
    x = tf.convert_to_tensor(x, dtype_hint=tf.float32)
    dtype = x.dtype
    x0, alpha, beta, scale = _standardize(x, alpha, beta, scale, loc, parameterization)
    lp, lc, ls = standard_log_prob_cdf_sf(x0, alpha, beta)
    lp = lp - tf.math.log(scale)
    return dtype, lp, lc, ls


def log_prob(x, alpha, beta, scale, loc, parameterization="S0"):
    """Log density of the stable law (alpha, beta, scale, loc) in S0 or S1 at x (result in x's dtype)."""
    dtype, lp, _, _ = _log_triplet(x, alpha, beta, scale, loc, parameterization)
    return tf.cast(lp, dtype)


def prob(x, alpha, beta, scale, loc, parameterization="S0"):
    """Density of the stable law at x."""
    dtype, lp, _, _ = _log_triplet(x, alpha, beta, scale, loc, parameterization)
    return tf.cast(tf.exp(lp), dtype)


def log_cdf(x, alpha, beta, scale, loc, parameterization="S0"):
    """Log distribution function of the stable law at x."""
    dtype, _, lc, _ = _log_triplet(x, alpha, beta, scale, loc, parameterization)
    return tf.cast(lc, dtype)


def cdf(x, alpha, beta, scale, loc, parameterization="S0"):
    """Distribution function P(X <= x) of the stable law."""
    dtype, _, lc, _ = _log_triplet(x, alpha, beta, scale, loc, parameterization)
    return tf.cast(tf.exp(lc), dtype)


def log_survival_function(x, alpha, beta, scale, loc, parameterization="S0"):
    """Log survival function log P(X > x) of the stable law."""
    dtype, _, _, ls = _log_triplet(x, alpha, beta, scale, loc, parameterization)
    return tf.cast(ls, dtype)


def survival_function(x, alpha, beta, scale, loc, parameterization="S0"):
    """Survival function P(X > x) of the stable law (accurate in the upper tail)."""
    dtype, _, _, ls = _log_triplet(x, alpha, beta, scale, loc, parameterization)
    return tf.cast(tf.exp(ls), dtype)
