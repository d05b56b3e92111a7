"""Shared-law fast path: piecewise Chebyshev interpolation of log f, log F and log S of stable laws.

When many points share few laws (the usual case: one ``Stable`` evaluated on a sample), the exact
quadrature of :mod:`tfescape.stable.stable_math` is run on a fixed set of nodes per law, and every point is
then served by a polynomial in a transformed variable (about 20 multiply-adds) or by the heavy-tail series.

Layout, per law (alpha, beta) and per side of a centre c (c = zeta for alpha < 1 when abs(zeta) <= 5,
where the density is smooth but not analytic; c = 0 otherwise), with u = x0 - c and a = abs(u):

* a centre piece, a <= exp(-7), interpolated in a (degree 8);
* five panels in s = log(a), with ends -7, -3.5, -1, 1, 2.5, s_hi and degrees 16, 20, 28, 28, 20, where
  s_hi = log(y_ser + abs(zeta - c)) clipped to [3, 7] and y_ser is where the tail series becomes exact to
  1e-14 (never, on the light side of a skewed law); the wide body panels of high degree need fewer nodes
  than narrow ones of low degree for the same accuracy (measured over alpha in [0.5, 2], beta in [-1, 1]);
* beyond s_hi: the tail series f(y) = (1/pi) sum_k (-1)^(k+1) sigma^k Gamma(k alpha + 1)/k! sin(k alpha L)
  y^(-k alpha - 1) (and its integral for S), y = x0 - zeta, evaluated by Horner's rule in y^(-alpha), where
  the first omitted term bounds the error below 1e-14 of the sum.

The three functions are interpolated in log space (absolute error in log = relative error of the value).
Each panel is accepted a posteriori only if (1) all its node values are finite, (2) the sum of the
magnitudes of its last three Chebyshev coefficients is below 1e-9, and (3) the interpolant agrees with the
exact quadrature to 1e-9 at two extra points (t = -0.8, 0.8) of the panel. A rejected s-panel with finite
node values is split into four equal parts of degree 20, each fitted and checked the same way (this
resolves the Gaussian-to-power-law crossover of alpha near 2 and the shoulder of alpha near 1 on the far
side of zeta).
Points in a panel still rejected, beyond s_hi where the series check fails, or with a non-finite result,
are recomputed with the exact quadrature, so the accuracy is that of the quadrature (about 1e-12) up to the
1e-9 acceptance level (measured: at most about 3e-9 in log, at alpha = 2's far Gaussian tail; 1e-10 in the
body of the laws of the benchmark). All of it is made of TensorFlow ops and linear in the node values, so
gradients with respect to x, alpha and beta flow through (node values carry the quadrature's own gradients).

Cost per law: 138 quadrature evaluations per side (9 + 17 + 21 + 29 + 29 + 21 nodes, 12 check points),
about 6-8 ms per side on one CPU core, then under a microsecond per point; the fast path is worth it from a
few hundred points per law on (stable_math uses it from 1000).

Symmetric laws (beta = 0 for every law) use the mirror image of the right side instead of evaluating the
left side: f(-y) = f(y), F(-y) = S(y).

References:
    Trefethen (2019), Approximation Theory and Approximation Practice, extended ed. SIAM (Chebyshev
        interpolation, coefficient decay as an error estimate).
    Nolan (1997), Numerical calculation of stable densities and distribution functions.
    Zolotarev (1986), One-dimensional Stable Distributions. AMS (tail series).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf

_F64 = tf.float64
_PI = math.pi

CENTRE_DEGREE = 8
# s-panels: (lower end in s = log|x0 - c|, degree); the last one ends at s_hi (law dependent).
S_PANELS = ((-7.0, 16), (-3.5, 20), (-1.0, 28), (1.0, 28), (2.5, 20))
MAX_DEGREE = max(d for _, d in S_PANELS)
REFINE_DEGREE = 20
S_LO = -7.0
_S_HI_RANGE = (3.0, 7.0)
_N_PANELS = 1 + len(S_PANELS)  # the centre piece and the s-panels
COEFFICIENT_TOL = 1e-9
CHECK_TOL = 1e-9
_CHECK_T = (-0.8, 0.8)
REFINE = 4  # a rejected s-panel is split into this many parts, each fitted and checked again
_CENTRE_MAX_ABS_ZETA = 5.0
_SERIES_TERMS = 10
_SERIES_TOL = 1e-14
_SERIES_ALPHA_ONE_GAP = 1e-3  # no tail series within this distance of alpha = 1 (zeta explodes)


def _cheb_nodes(n):
    """Chebyshev points of the second kind t_j = cos(pi j / n), j = 0..n (from 1 down to -1)."""
    return np.cos(np.pi * np.arange(n + 1) / n)


def _values_to_coefficients(n):
    """Matrix M with c = M f: Chebyshev coefficients of the interpolant through f at _cheb_nodes(n)."""
    j = np.arange(n + 1)
    half_ends = np.ones(n + 1)
    half_ends[[0, -1]] = 0.5
    m = (2.0 / n) * np.cos(np.pi * np.outer(j, j) / n) * half_ends[np.newaxis, :]
    m[[0, -1]] *= 0.5
    return m


def clenshaw(coefficients, t):
    """sum_k c_k T_k(t). coefficients: list of n+1 tensors broadcastable with t."""
    b1 = tf.zeros_like(t)
    b2 = tf.zeros_like(t)
    two_t = 2.0 * t
    for c in reversed(coefficients[1:]):
        b1, b2 = c + two_t * b1 - b2, b1
    return coefficients[0] + t * b1 - b2


def _centre(alpha, beta):
    """Expansion centre c per law, and zeta."""
    tan_half = tf.tan(_PI * alpha / 2.0)
    zeta = -beta * tan_half
    use_zeta = (alpha < 1.0) & (tf.abs(zeta) <= _CENTRE_MAX_ABS_ZETA)
    return tf.where(use_zeta, zeta, tf.zeros_like(zeta)), zeta


# ----------------------------------------------------------------------------------------------------------
# Tail series (per law coefficients, per point Horner)
# ----------------------------------------------------------------------------------------------------------


class _Series:
    """Tail-series coefficients for both sides of each law: arrays [B, 2, K] (side 0: y > 0, 1: y < 0)."""

    def __init__(self, alpha, beta, law_constants):
        k = tf.constant(np.arange(1, _SERIES_TERMS + 2, dtype=np.float64), _F64)  # 1 .. K+1
        log_fact = tf.constant([math.lgamma(v + 1.0) for v in range(1, _SERIES_TERMS + 2)], _F64)
        sign = tf.constant([1.0 if v % 2 == 1 else -1.0 for v in range(1, _SERIES_TERMS + 2)], _F64)
        a = alpha[:, tf.newaxis, tf.newaxis]
        sides = []
        for beta_r in (beta, -beta):
            alpha_l, log_sigma = law_constants(alpha, beta_r)
            sides.append((alpha_l, log_sigma))
        alpha_l = tf.stack([s[0] for s in sides], axis=1)[:, :, tf.newaxis]  # [B, 2, 1]
        log_sigma = tf.stack([s[1] for s in sides], axis=1)[:, :, tf.newaxis]
        sin_k = tf.sin(k * alpha_l)
        log_mag_f = k * log_sigma + tf.math.lgamma(k * a + 1.0) - log_fact  # [B, 2, K+1]
        log_mag_s = k * log_sigma + tf.math.lgamma(k * a) - log_fact
        self.alpha = alpha
        self.coef_f = (sign * sin_k * tf.exp(log_mag_f))[:, :, :-1]
        self.coef_s = (sign * sin_k * tf.exp(log_mag_s))[:, :, :-1]
        self.log_bound_f = log_mag_f[:, :, -2:]  # magnitudes of terms K and K+1 without the sine
        self.log_bound_s = log_mag_s[:, :, -2:]
        far_from_one = tf.abs(alpha - 1.0) > _SERIES_ALPHA_ONE_GAP
        heavy = tf.abs(self.coef_f[:, :, 0]) > 1e-12 * tf.exp(log_mag_f[:, :, 0])
        self.allowed = far_from_one[:, tf.newaxis] & heavy & (alpha[:, tf.newaxis] < 2.0)
        # Where the series is certainly exact: omitted term <= tol/2 of the first and decreasing terms.
        log_z_max = tf.minimum(
            self._log_z_max(self.coef_f, self.log_bound_f), self._log_z_max(self.coef_s, self.log_bound_s)
        )
        log_y_ser = -log_z_max / alpha[:, tf.newaxis]
        self.log_y_ser = tf.where(
            self.allowed, log_y_ser, tf.fill(tf.shape(log_y_ser), tf.constant(np.inf, _F64))
        )

    @staticmethod
    def _log_z_max(coef, log_bound):
        log_first = tf.math.log(tf.maximum(tf.abs(coef[:, :, 0]), 1e-300))
        by_size = (math.log(_SERIES_TOL / 2.0) + log_first - log_bound[:, :, 1]) / _SERIES_TERMS
        by_decrease = log_bound[:, :, 0] - log_bound[:, :, 1]
        return tf.minimum(by_size, by_decrease)

    def evaluate(self, x0, zeta, law_index):
        """log f, log F, log S from the series at each point, and where the series is exact."""
        y = x0 - tf.gather(zeta, law_index)
        side = tf.cast(y < 0, tf.int32)
        pair = tf.stack([law_index, side], axis=1)
        alpha = tf.gather(self.alpha, law_index)
        abs_y = tf.abs(y)
        log_y = tf.math.log(tf.where(abs_y > 0, abs_y, tf.ones_like(abs_y)))
        z = tf.exp(-alpha * log_y)
        coef_f = tf.gather_nd(self.coef_f, pair)  # [N, K]
        coef_s = tf.gather_nd(self.coef_s, pair)
        poly_f = _horner(coef_f, z)
        poly_s = _horner(coef_s, z)
        log_z_k = _SERIES_TERMS * (-alpha * log_y)
        ok = tf.gather_nd(self.allowed, pair) & (abs_y > 0)
        for poly, bound in ((poly_f, self.log_bound_f), (poly_s, self.log_bound_s)):
            bound = tf.gather_nd(bound, pair)
            safe = tf.where(poly > 0, poly, tf.ones_like(poly))
            ok = ok & (poly > 0) & (bound[:, 1] + log_z_k < math.log(_SERIES_TOL) + tf.math.log(safe))
            ok = ok & (bound[:, 1] - alpha * log_y <= bound[:, 0])
        safe_f = tf.where(ok, poly_f, tf.ones_like(poly_f))
        safe_s = tf.where(ok, poly_s, tf.ones_like(poly_s))
        log_pdf = -(alpha + 1.0) * log_y - math.log(_PI) + tf.math.log(safe_f)
        log_tail = -alpha * log_y - math.log(_PI) + tf.math.log(safe_s)
        log_body = tf.math.log1p(-tf.exp(log_tail))
        up = side == 0
        return log_pdf, tf.where(up, log_body, log_tail), tf.where(up, log_tail, log_body), ok


def _horner(coef, z):
    out = coef[:, -1]
    for i in range(coef.shape[1] - 2, -1, -1):
        out = coef[:, i] + z * out
    return out


# ----------------------------------------------------------------------------------------------------------
# Node layout and the per-law interpolant
# ----------------------------------------------------------------------------------------------------------


def _breakpoints(s_hi):
    """s-panel ends [B, 2, len(S_PANELS) + 1] for s_hi [B, 2]."""
    fixed = tf.constant([lo for lo, _ in S_PANELS], _F64)
    fixed = tf.broadcast_to(fixed, tf.concat([tf.shape(s_hi), [len(S_PANELS)]], 0))
    return tf.concat([fixed, s_hi[..., tf.newaxis]], axis=-1)


def _node_abs_u(bps):
    """abs(u) at the nodes of the centre piece and of each s-panel ([B, 2, degree + 1] each), and at the
    check points ([B, 2, _N_PANELS, 2])."""
    t_chk = tf.constant(_CHECK_T, _F64)
    a_lo = math.exp(S_LO)
    ones = tf.ones_like(bps[:, :, :1])
    nodes = [0.5 * (tf.constant(_cheb_nodes(CENTRE_DEGREE), _F64) + 1.0) * a_lo * ones]
    for k, (_, degree) in enumerate(S_PANELS):
        lo, hi = bps[:, :, k : k + 1], bps[:, :, k + 1 : k + 2]
        nodes.append(tf.exp(lo + 0.5 * (tf.constant(_cheb_nodes(degree), _F64) + 1.0) * (hi - lo)))
    lo, hi = bps[:, :, :-1, tf.newaxis], bps[:, :, 1:, tf.newaxis]
    check_centre = 0.5 * (t_chk + 1.0) * a_lo * ones
    check_panels = tf.exp(lo + 0.5 * (t_chk + 1.0) * (hi - lo))
    checks = tf.concat([check_centre[:, :, tf.newaxis, :], check_panels], axis=2)
    return nodes, checks


class _PanelFit(NamedTuple):
    """Chebyshev fit of panels (leading dimensions [...]; the three functions last)."""

    coef: tf.Tensor  # [..., MAX_DEGREE + 1, 3], zero-padded above the panel's degree, non-finite set to 0
    finite: tf.Tensor  # [...] all node values finite
    error: tf.Tensor  # [...] max of the coefficient-tail and check-point error estimates
    valid: tf.Tensor  # [...] finite and both estimates below their tolerances


def _fit(node_values, check_values, degree):
    """Fit panels from node values [..., degree+1, 3] and check them at _CHECK_T ([..., 2, 3])."""
    m = tf.constant(_values_to_coefficients(degree), _F64)
    coef = tf.einsum("kj,...jf->...kf", m, node_values)
    finite = tf.reduce_all(tf.math.is_finite(node_values), axis=[-2, -1])
    coef = tf.where(tf.math.is_finite(coef), coef, tf.zeros_like(coef))
    tail = tf.reduce_max(tf.reduce_sum(tf.abs(coef[..., -3:, :]), axis=-2), axis=-1)
    t_chk = tf.constant(_CHECK_T, _F64)[:, tf.newaxis] + tf.zeros_like(check_values)
    at_checks = clenshaw(tf.unstack(coef[..., tf.newaxis, :, :], axis=-2), t_chk)
    check_err = tf.reduce_max(tf.abs(at_checks - check_values), axis=[-2, -1])
    check_err = tf.where(tf.math.is_nan(check_err), tf.constant(np.inf, _F64), check_err)
    valid = finite & (tail < COEFFICIENT_TOL) & (check_err < CHECK_TOL)
    pad = [[0, 0]] * (len(coef.shape) - 2) + [[0, MAX_DEGREE - degree], [0, 0]]
    return _PanelFit(tf.pad(coef, pad), finite, tf.maximum(tail, check_err), valid)


class LawInterpolant:
    """Per-law interpolant: coefficients [n+1, B*2*9, 3], panel validity, breakpoints and centres."""

    def __init__(self, alpha, beta, *, exact, law_constants):
        """Evaluate the nodes with ``exact`` (flat x0, alpha, beta -> log f, log F, log S) and fit.

        Args:
            alpha, beta: [B] float64 law parameters (S0).
            exact: the exact quadrature on flat float64 vectors.
            law_constants: (alpha, beta) -> (alpha L, log sigma) of Nolan's representation.
        """
        self.centre, self.zeta = _centre(alpha, beta)
        self.series = _Series(alpha, beta, law_constants)
        gap = tf.abs(self.zeta - self.centre)[:, tf.newaxis]
        s_hi = tf.math.log(tf.exp(tf.minimum(self.series.log_y_ser, 50.0)) + gap)
        self.s_hi = tf.clip_by_value(s_hi, *_S_HI_RANGE)  # [B, 2]
        self.bps = _breakpoints(self.s_hi)
        node_a, check_a = _node_abs_u(self.bps)
        b = tf.shape(alpha)[0]
        degrees = [CENTRE_DEGREE] + [d for _, d in S_PANELS]
        sizes = [d + 1 for d in degrees] + [_N_PANELS * len(_CHECK_T)]
        per_side = tf.concat(node_a + [tf.reshape(check_a, [b, 2, -1])], axis=2)  # [B, 2, m]
        m = sum(sizes)
        side_sign = tf.constant([1.0, -1.0], _F64)[tf.newaxis, :, tf.newaxis]
        x_nodes = self.centre[:, tf.newaxis, tf.newaxis] + side_sign * per_side
        law_alpha = tf.broadcast_to(alpha[:, tf.newaxis, tf.newaxis], tf.shape(x_nodes))
        law_beta = tf.broadcast_to(beta[:, tf.newaxis, tf.newaxis], tf.shape(x_nodes))

        def both_sides():
            out = exact(*(tf.reshape(v, [-1]) for v in (x_nodes, law_alpha, law_beta)))
            return tuple(tf.reshape(v, [b, 2, m]) for v in out)

        def mirrored():
            # beta = 0 everywhere: c = zeta = 0 and the law is symmetric; evaluate the right side only.
            out = exact(*(tf.reshape(v[:, 0], [-1]) for v in (x_nodes, law_alpha, law_beta)))
            lp, lc, ls = (tf.reshape(v, [b, m]) for v in out)
            return tuple(tf.stack(pair, axis=1) for pair in ((lp, lp), (lc, ls), (ls, lc)))

        values = tf.cond(tf.reduce_all(tf.equal(beta, 0.0)), mirrored, both_sides)
        values = tf.stack(values, axis=-1)  # [B, 2, m, 3]
        *node_v, check_v = tf.split(values, sizes, axis=2)
        check_v = tf.reshape(check_v, [b, 2, _N_PANELS, len(_CHECK_T), 3])
        fits = [
            _fit(v[:, :, tf.newaxis], check_v[:, :, k : k + 1], d)
            for k, (v, d) in enumerate(zip(node_v, degrees, strict=True))
        ]
        fit = _PanelFit(*(tf.concat(parts, axis=2) for parts in zip(*fits, strict=True)))
        self.valid = fit.valid  # [B, 2, _N_PANELS]
        self.error_estimate = fit.error
        # [MAX_DEGREE + 1, B * 2 * _N_PANELS, 3]: a gather along axis 1 gives each point its coefficients.
        self.coef = tf.transpose(tf.reshape(fit.coef, [-1, MAX_DEGREE + 1, 3]), [1, 0, 2])
        self._n_first = tf.shape(self.coef)[1]
        self._refine(alpha, beta, exact, fit.finite)

    def _refine(self, alpha, beta, exact, finite):
        """Split each rejected s-panel with finite node values into REFINE equal parts and fit those."""
        refinable = ~self.valid & finite & (tf.range(_N_PANELS) > 0)[tf.newaxis, tf.newaxis, :]
        where = tf.cast(tf.where(refinable), tf.int32)  # [M, 3]: law, side, panel
        m = tf.shape(where)[0]
        bps = tf.gather_nd(self.bps, where[:, :2])  # [M, len(S_PANELS) + 1]
        lo = tf.gather(bps, where[:, 2] - 1, batch_dims=1)
        hi = tf.gather(bps, where[:, 2], batch_dims=1)
        frac = tf.constant(np.linspace(0.0, 1.0, REFINE + 1), _F64)
        edges = lo[:, tf.newaxis] + (hi - lo)[:, tf.newaxis] * frac  # [M, R+1]
        sub_lo, sub_hi = edges[:, :-1, tf.newaxis], edges[:, 1:, tf.newaxis]
        t_all = tf.constant(np.concatenate([_cheb_nodes(REFINE_DEGREE), _CHECK_T]), _F64)
        s = sub_lo + 0.5 * (t_all + 1.0) * (sub_hi - sub_lo)  # [M, R, n+1+2]
        sign = 1.0 - 2.0 * tf.cast(where[:, 1], _F64)
        x = tf.gather(self.centre, where[:, 0])[:, tf.newaxis, tf.newaxis] + sign[
            :, tf.newaxis, tf.newaxis
        ] * tf.exp(s)
        law_alpha = tf.broadcast_to(tf.gather(alpha, where[:, 0])[:, tf.newaxis, tf.newaxis], tf.shape(x))
        law_beta = tf.broadcast_to(tf.gather(beta, where[:, 0])[:, tf.newaxis, tf.newaxis], tf.shape(x))

        def evaluate():
            return exact(*(tf.reshape(v, [-1]) for v in (x, law_alpha, law_beta)))

        def nothing():
            return tuple(tf.zeros([0], _F64) for _ in range(3))

        values = tf.stack(tf.cond(m > 0, evaluate, nothing), axis=-1)
        values = tf.reshape(values, [m, REFINE, REFINE_DEGREE + 1 + len(_CHECK_T), 3])
        n_nodes = REFINE_DEGREE + 1
        fit = _fit(values[:, :, :n_nodes], values[:, :, n_nodes:], REFINE_DEGREE)
        self.refined_valid = tf.reshape(fit.valid, [-1])
        # Slot of each first-level panel among the refined ones (-1: not refined).
        self.refined_slot = tf.reshape(tf.scatter_nd(where, tf.range(m) + 1, tf.shape(self.valid)) - 1, [-1])
        refined_coef = tf.transpose(tf.reshape(fit.coef, [-1, MAX_DEGREE + 1, 3]), [1, 0, 2])
        self.coef = tf.concat([self.coef, refined_coef], axis=1)

    def evaluate(self, x0, law_index):
        """Interpolated log f, log F, log S ([N] each), and where the interpolant may be used."""
        u = x0 - tf.gather(self.centre, law_index)
        side = tf.cast(u < 0, tf.int32)
        a = tf.abs(u)
        a_lo = math.exp(S_LO)
        in_centre = a <= a_lo
        log_a = tf.math.log(tf.where(in_centre, tf.ones_like(a), a))
        pair = tf.stack([law_index, side], axis=1)
        bps = tf.gather_nd(self.bps, pair)  # [N, len(S_PANELS) + 1]
        count = tf.reduce_sum(tf.cast(log_a[:, tf.newaxis] >= bps[:, 1:-1], tf.int32), axis=1)
        panel = tf.where(in_centre, tf.zeros_like(count), count + 1)
        lo = tf.gather(bps, tf.maximum(panel - 1, 0), batch_dims=1)
        hi = tf.gather(bps, tf.minimum(panel, len(S_PANELS)), batch_dims=1)
        t_s = 2.0 * (log_a - lo) / (hi - lo) - 1.0
        t = tf.where(in_centre, 2.0 * a / a_lo - 1.0, t_s)
        in_domain = in_centre | (log_a <= bps[:, -1])
        t = tf.clip_by_value(t, -1.0, 1.0)
        flat = (law_index * 2 + side) * _N_PANELS + panel
        ok = tf.gather(tf.reshape(self.valid, [-1]), flat)
        # Rejected panels that were refined: the part r of REFINE holding t, and t within that part.
        slot = tf.gather(self.refined_slot, flat)
        refined = slot >= 0
        scaled = 0.5 * (t + 1.0) * REFINE
        part = tf.clip_by_value(tf.floor(scaled), 0.0, REFINE - 1.0)
        sub = tf.maximum(slot, 0) * REFINE + tf.cast(part, tf.int32)
        t = tf.where(refined, 2.0 * (scaled - part) - 1.0, t)
        # (one extra False entry, so that the gather stays in range when nothing was refined)
        padded_valid = tf.concat([self.refined_valid, [False]], axis=0)
        no_slot = tf.size(self.refined_valid)
        ok = tf.where(refined, tf.gather(padded_valid, tf.where(refined, sub, no_slot)), ok) & in_domain
        index = tf.where(refined, self._n_first + sub, flat)
        coefs = tf.unstack(tf.gather(self.coef, index, axis=1), axis=0)  # n+1 tensors [N, 3]
        vals = clenshaw(coefs, t[:, tf.newaxis])
        return vals[:, 0], vals[:, 1], vals[:, 2], ok


def log_values(x0, law_index, alpha, beta, *, exact, law_constants):
    """log f, log F, log S of the standardized S0 laws at x0 ([N]) with law_index into alpha, beta ([B]).

    Interpolant where its panel passed the checks, tail series beyond, ``exact`` elsewhere.
    """
    interp = LawInterpolant(alpha, beta, exact=exact, law_constants=law_constants)
    i_pdf, i_cdf, i_sf, i_ok = interp.evaluate(x0, law_index)
    s_pdf, s_cdf, s_sf, s_ok = interp.series.evaluate(x0, interp.zeta, law_index)
    use_series = ~i_ok & s_ok
    outs = [tf.where(use_series, s, i) for s, i in ((s_pdf, i_pdf), (s_cdf, i_cdf), (s_sf, i_sf))]
    finite = tf.reduce_all(tf.math.is_finite(tf.stack(outs, axis=1)), axis=1)
    need_exact = ~((i_ok | s_ok) & finite)
    idx = tf.where(need_exact)[:, 0]
    idx = tf.cast(idx, tf.int32)

    def with_exact():
        sub_law = tf.gather(law_index, idx)
        vals = exact(tf.gather(x0, idx), tf.gather(alpha, sub_law), tf.gather(beta, sub_law))
        rows = idx[:, tf.newaxis]
        return [tf.tensor_scatter_nd_update(o, rows, v) for o, v in zip(outs, vals, strict=True)]

    outs = tf.cond(tf.size(idx) > 0, with_exact, lambda: [tf.identity(o) for o in outs])
    return tuple(outs)
